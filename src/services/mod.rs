//! What operators do and read, in one place for the admin API, the CLI (and a future
//! console): dead-letter replay and discard, hold decisions, an employee's view, and the
//! operator's time bounds. Built on `store` (rows) and `queue` (republishing).

pub mod audit;
pub mod dead_letters;
pub mod employees;
pub mod holds;
pub mod since;
