//! provisiond: signed HRIS webhooks → RabbitMQ → worker pool → provisioning targets.

pub mod admin;
pub mod bench;
pub mod cli;
pub mod config;
pub mod console;
pub mod domain;
pub mod enrich;
pub mod http;
pub mod normalize;
pub mod openapi;
pub mod provision;
pub mod queue;
pub mod reconcile;
pub mod services;
pub mod signing;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod webhook;
pub mod worker;

pub use config::Config;
pub use startup::{Application, Role};
