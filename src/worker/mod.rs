//! The worker pool: consumes the work queue with manual acks and processes messages.

pub mod pool;
pub mod process;

pub use pool::{WorkerPool, WorkerSettings};
pub use process::{Outcome, Processor};
