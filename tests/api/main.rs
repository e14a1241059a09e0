//! One integration binary (faster to link), one module per area.

mod audit;
mod batching;
mod bench;
mod config;
mod dead_letters;
mod helpers;
mod hostile;
mod leavers;
mod not_revoked;
mod operations;
mod prehires;
mod processing;
mod provisioning;
mod proxy;
mod receiver;
mod reconcile;
mod resilience;
mod retries;
mod rules;
mod scheduling;
mod scim;
mod sender_api;
mod sender_lists;
mod senders;
mod target_server;
