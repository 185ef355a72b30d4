//! `GET /api/v2/tickets` (OAS `ListTickets`, response `TicketsResponse`): every ticket, or with
//! `?external_id=` only the tickets whose external id is that value ("External ids don't have
//! to be unique for each ticket. As a result, the request may return multiple tickets with the
//! same external id."). Tickets come in ascending id order (Zendesk's default: "tickets are
//! sorted by id from smallest to largest"), in the same JSON as Show Ticket, with the offset
//! and cursor pagination of the other list endpoints (spec §3.4, `pagination`).
//!
//! Not emulated: archived tickets (none are ever archived here), restricted-agent scoping
//! (every emulated agent sees every ticket), sideloads, and the sort orders other than by id
//! or creation time, which are refused rather than silently ignored.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::auth::Caller;
use super::errors::ApiError;
use super::pagination::{self, carry_param, Listing};
use super::state::TicketRecord;
use super::ticket_view::render;
use super::{base_url, ZendeskEmulator};

/// Cursor `sort` values: Zendesk documents `id`, `updated_at`, `status` and their `-` forms;
/// only the id order is emulated.
const CURSOR_SORTS: &[(&str, bool)] = &[("id", false), ("-id", true)];

pub(super) async fn list(
    State(emu): State<ZendeskEmulator>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let result = caller.user_id().and_then(|_| {
        let by_created = offset_sort_by_created(&query)?;
        let external_id = query.get("external_id");
        let store = emu.lock();
        let mut found: Vec<&TicketRecord> = match external_id {
            Some(x) => store.tickets_with_external_id(x).collect(),
            None => store.tickets.values().collect(),
        };
        if by_created {
            found.sort_by_key(|t| (t.created_ms, t.id));
        }
        let base = base_url(&headers);
        let path = format!("{base}/api/v2/tickets.json");
        let mut carry = String::new();
        if let Some(x) = external_id {
            carry.push_str(&carry_param("external_id", x));
        }
        if let Some(sort_by) = query.get("sort_by") {
            carry.push_str(&carry_param("sort_by", sort_by));
        }
        let listing = Listing {
            key: "tickets",
            path: &path,
            carry: &carry,
            cursor_sorts: CURSOR_SORTS,
        };
        pagination::page(&listing, &found, &query, |t| t.id, |t| render(&base, t))
    });
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The offset-pagination `sort_by`: `id` (the default) or `created_at` (`true`). Zendesk also
/// takes assignee, group, requester, status, subject and updated_at orders; those are not
/// emulated and are refused (UNCONFIRMED error shape, as for the other pagination errors).
/// Cursor pagination ignores `sort_by` (it takes `sort`).
fn offset_sort_by_created(query: &HashMap<String, String>) -> Result<bool, ApiError> {
    if query.contains_key("page[size]") {
        return Ok(false);
    }
    match query.get("sort_by").map(String::as_str) {
        None | Some("id") => Ok(false),
        Some("created_at") => Ok(true),
        Some(_) => Err(ApiError::bad_request(
            "InvalidPaginationParameter",
            "sort_by must be id or created_at (the only orders the emulator has)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn sort_by_is_checked_for_offset_pages_only() {
        let by_created = |pairs: &[(&str, &str)]| offset_sort_by_created(&query(pairs)).ok();
        assert_eq!(by_created(&[]), Some(false));
        assert_eq!(by_created(&[("sort_by", "id")]), Some(false));
        assert_eq!(by_created(&[("sort_by", "created_at")]), Some(true));
        assert_eq!(by_created(&[("sort_by", "subject")]), None);
        assert_eq!(
            by_created(&[("sort_by", "subject"), ("page[size]", "5")]),
            Some(false)
        );
    }
}
