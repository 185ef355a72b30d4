//! Tencent Cloud IM: the REST client the bridge calls IM with, the callbacks IM calls the
//! bridge with, and the readable form of message elements.

pub mod callback;
pub mod client;
pub mod elements;
pub mod region;
pub mod types;

pub use client::{ImClient, ImError};
