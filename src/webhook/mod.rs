mod counters;
pub mod handler;
pub mod handshake;
mod rejected;
