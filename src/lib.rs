//! ticket-bridge: bridges Tencent Cloud IM (Chat) and Zendesk.
//!
//! `main.rs` only parses the command line; everything else is here so the tests can drive it.

pub mod agent;
pub mod bridge;
pub mod config;
pub mod hex;
pub mod http;
pub mod ids;
pub mod im;
pub mod jobs;
pub mod limits;
pub mod metrics;
pub mod operator;
pub mod ratelimit;
pub mod retention;
pub mod sandbox;
pub mod secret;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod upstream;
pub mod usersig;
pub mod zendesk;
pub use startup::Application;
