//! The worker pool: consumes the work queue with manual acks and processes messages.

pub mod acks;
pub mod failure;
pub mod guard;
pub mod handler;
pub mod ordering;
pub mod pool;
pub mod process;
pub mod schedule;
pub mod scheduler;
pub mod watchdog;

pub use failure::ProcessError;
pub use handler::Context;
pub use pool::{WorkerPool, WorkerSettings};
pub use process::{Outcome, Processor};
