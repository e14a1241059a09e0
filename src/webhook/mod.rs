pub mod normalize;
pub mod signature;
