//! One integration binary (faster to link), one module per area.

mod config;
mod helpers;
mod operations;
mod processing;
mod proxy;
mod receiver;
mod resilience;
