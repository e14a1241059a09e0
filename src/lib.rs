pub mod event;
pub mod webhook;
