pub mod budget;
pub mod handler;
pub mod handshake;
pub mod normalize;
pub mod signature;
