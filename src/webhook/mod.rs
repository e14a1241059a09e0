pub mod handler;
pub mod normalize;
pub mod signature;
