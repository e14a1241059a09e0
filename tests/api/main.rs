//! One integration binary (faster to link), one module per area.

mod helpers;
mod operations;
mod processing;
mod proxy;
mod receiver;
mod resilience;
