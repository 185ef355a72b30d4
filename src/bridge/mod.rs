//! The flows of the bridge (DESIGN §1) as plain async functions over the clients and the store.

mod open_case;

pub use open_case::{CaseOutcome, NewCase};

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
}
