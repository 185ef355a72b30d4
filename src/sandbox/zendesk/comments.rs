//! Ticket comments: turning `body`/`html_body` input into stored text (spec §2.3 "Bodies"), the
//! OAS `TicketCommentObject` view, and `GET /api/v2/tickets/{id}/comments` (spec §2.6, §3.4;
//! the paging itself is in `pagination`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::auth::Caller;
use super::clock::iso8601;
use super::errors::ApiError;
use super::pagination::{self, Listing};
use super::state::CommentRecord;
use super::{base_url, parse_id, ZendeskEmulator};

/// Bodies over 64 kB are truncated silently [CMT].
const MAX_BODY_BYTES: usize = 65_536;

/// The plain and HTML bodies of a new comment, or `None` when both inputs are blank.
/// `html_body` wins when both are given (it is the richer one).
pub(super) fn bodies(body: Option<&str>, html_body: Option<&str>) -> Option<(String, String)> {
    if let Some(html) = html_body.filter(|h| !strip_tags(h).trim().is_empty()) {
        let html = truncate(html);
        return Some((strip_tags(&html).trim().to_owned(), html));
    }
    let body = body.filter(|b| !b.trim().is_empty())?;
    let plain = truncate(body);
    let html = format!(
        "<div class=\"zd-comment\" dir=\"auto\"><p>{}</p></div>",
        escape_html(&plain).replace('\n', "<br>")
    );
    Some((plain, html))
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_BODY_BYTES {
        return s.to_owned();
    }
    let mut end = MAX_BODY_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text of an HTML fragment: tags dropped, the common entities decoded.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The OAS `TicketCommentObject` view.
pub(super) fn render(c: &CommentRecord) -> Value {
    json!({
        "id": c.id,
        "type": "Comment",
        "author_id": c.author_id,
        "body": c.body,
        "html_body": c.html_body,
        "plain_body": c.body,
        "public": c.public,
        "attachments": [],
        "audit_id": c.audit_id,
        "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": null}},
        "metadata": {"system": {"client": "ticket-bridge zendesk emulator"}, "custom": {}},
        "created_at": iso8601(c.created_ms)
    })
}

/// `GET /api/v2/tickets/{id}/comments`: offset pagination by default (`page`, `per_page`,
/// `sort_order`), cursor pagination with `page[size]` (`page[after]`, `sort`).
pub(super) async fn list(
    State(emu): State<ZendeskEmulator>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let result = caller.user_id().and_then(|_| {
        let id = parse_id(&raw_id)?;
        let store = emu.lock();
        let ticket = store.tickets.get(&id).ok_or(ApiError::RecordNotFound)?;
        let base = base_url(&headers);
        let path = format!("{base}/api/v2/tickets/{id}/comments.json");
        let listing = Listing {
            key: "comments",
            path: &path,
            carry: "",
            cursor_sorts: &[("created_at", false), ("-created_at", true)],
        };
        // Comments are stored in creation order, which is also ascending id order.
        pagination::page(&listing, &ticket.comments, &query, |c| c.id, render)
    });
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_from_plain_and_html() {
        let (plain, html) = bodies(Some("a < b\nc"), None).unwrap_or_default();
        assert_eq!(plain, "a < b\nc");
        assert!(html.contains("a &lt; b<br>c"));
        let (plain, html) = bodies(None, Some("<p>Hi &amp; bye</p>")).unwrap_or_default();
        assert_eq!(plain, "Hi & bye");
        assert_eq!(html, "<p>Hi &amp; bye</p>");
        assert!(bodies(Some("  \n"), Some("<p> </p>")).is_none());
        assert!(bodies(None, None).is_none());
    }

    #[test]
    fn long_bodies_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(40_000);
        let (plain, _) = bodies(Some(&long), None).unwrap_or_default();
        assert!(plain.len() <= MAX_BODY_BYTES);
        assert!(plain.chars().all(|c| c == 'é'));
    }
}
