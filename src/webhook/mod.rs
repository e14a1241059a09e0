pub mod budget;
pub mod handler;
pub mod handshake;
