//! Zendesk: the Support API client the bridge calls Zendesk with.

pub mod client;
pub mod types;
pub mod webhook;

pub use client::{ZendeskAuth, ZendeskClient, ZendeskError};
