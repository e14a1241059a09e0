//! Evidence for security teams: the deprovision latency report (per termination, as
//! exact percentiles, SLA breaches, what is still pending and where it is stuck, every
//! termination that did not revoke all access and why), the sealer of the
//! tamper-evident audit log, and the metrics to alert on.

pub mod log_check;
pub mod metrics;
pub mod not_revoked;
pub mod pdf;
pub mod percentile;
pub mod render;
pub mod report;
pub mod sealer;

pub use percentile::Percentiles;
pub use report::{Params, Report};
