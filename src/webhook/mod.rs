pub mod handler;
pub mod handshake;
