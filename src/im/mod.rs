//! Tencent Cloud IM: the REST client the bridge calls IM with.

pub mod client;
pub mod region;
pub mod types;

pub use client::{ImClient, ImError};
