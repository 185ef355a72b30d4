//! The flows of the bridge (DESIGN §1) as plain async functions over the clients and the store.

pub mod assignment;
pub mod conversation;
pub mod intake;
pub(crate) mod open_case;
mod ready;

pub use open_case::{case_marker, CaseDone, NewCase};
pub use ready::{CaseWaiters, Waiting};

use crate::config::GreetingVia;
use crate::ids::TicketId;
use crate::im::{ImClient, ImError};
use crate::store::{Store, StoreError};
use crate::zendesk::{ZendeskClient, ZendeskError};

/// Why a flow could not finish.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("Zendesk: {0}")]
    Zendesk(#[source] ZendeskError),
    /// The ticket exists; its IM group or greeting could not be made.
    #[error("Tencent IM (ticket {ticket}): {source}")]
    Im {
        ticket: TicketId,
        #[source]
        source: ImError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something this step needs is not there yet (the case is still being opened).
    #[error("not ready: {0}")]
    NotReady(String),
}

/// A message `Random` derived from `label`: the same on every attempt to post the same
/// message, so IM drops a resend within its five-minute duplicate window.
pub(crate) fn stable_random(label: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(label);
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

impl BridgeError {
    /// Whether running the flow again later may succeed (upstream outages, rate limits,
    /// timeouts, a busy database); otherwise the request itself is wrong or the state broken.
    pub fn is_retryable(&self) -> bool {
        match self {
            BridgeError::Zendesk(e) => e.is_retryable(),
            BridgeError::Im { source, .. } => source.is_retryable(),
            BridgeError::Store(StoreError::Corrupt { .. }) => false,
            BridgeError::Store(_) | BridgeError::NotReady(_) => true,
        }
    }

    /// How long Zendesk asked to wait, when it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            BridgeError::Zendesk(ZendeskError::RateLimited { retry_after })
            | BridgeError::Im {
                source: ImError::RateLimited { retry_after, .. },
                ..
            } => Some(*retry_after),
            _ => None,
        }
    }
}

/// How a new group is greeted.
#[derive(Debug, Clone)]
pub struct Greeting {
    /// `{ticket_id}` is replaced with the ticket's id.
    pub text: String,
    pub via: GreetingVia,
}

/// The upstream clients and the store, shared by every request.
#[derive(Debug)]
pub struct Bridge {
    pub zendesk: ZendeskClient,
    pub im: ImClient,
    pub store: Store,
    pub greeting: Greeting,
    pub assignment: assignment::AssignmentRules,
    pub conversation: conversation::ConversationRules,
    /// Requests of this process waiting for their case's chat to open.
    pub case_waiters: CaseWaiters,
    pub metrics: crate::metrics::Metrics,
}
