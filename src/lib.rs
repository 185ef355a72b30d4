//! ticket-bridge: bridges Tencent Cloud IM (Chat) and Zendesk.

pub mod sandbox;
pub mod secret;
pub mod usersig;
