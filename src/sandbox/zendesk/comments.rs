//! Ticket comments: turning `body`/`html_body` input into stored text (spec §2.3 "Bodies"), the
//! OAS `TicketCommentObject` view, and `GET /api/v2/tickets/{id}/comments` (spec §2.6, §3.4).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::auth::Caller;
use super::clock::iso8601;
use super::errors::ApiError;
use super::state::CommentRecord;
use super::{base_url, parse_id, ZendeskEmulator};

/// Bodies over 64 kB are truncated silently [CMT].
const MAX_BODY_BYTES: usize = 65_536;
/// "Returns a maximum of 100 records per page" (OAS List Comments).
const MAX_PAGE: usize = 100;

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
        if query.contains_key("page[size]") {
            cursor_page(&ticket.comments, &query, &path)
        } else {
            offset_page(&ticket.comments, &query, &path)
        }
    });
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

fn page_size(raw: Option<&String>, name: &str) -> Result<usize, ApiError> {
    match raw {
        None => Ok(MAX_PAGE),
        Some(v) => match v.parse::<usize>() {
            // UNCONFIRMED: sizes over 100 are clamped, not refused.
            Ok(n) if n >= 1 => Ok(n.min(MAX_PAGE)),
            // UNCONFIRMED: the error for a non-numeric or zero page size.
            _ => Err(ApiError::bad_request(
                "InvalidPaginationParameter",
                format!("{name} must be a positive integer"),
            )),
        },
    }
}

fn offset_page(
    comments: &[CommentRecord],
    query: &HashMap<String, String>,
    path: &str,
) -> Result<Value, ApiError> {
    let per_page = page_size(query.get("per_page"), "per_page")?;
    let page = match query.get("page") {
        None => 1,
        Some(v) => v.parse::<usize>().ok().filter(|&p| p >= 1).ok_or_else(|| {
            ApiError::bad_request(
                "InvalidPaginationParameter",
                "page must be a positive integer",
            )
        })?,
    };
    let desc = query.get("sort_order").is_some_and(|s| s == "desc");
    let ordered = ordered(comments, desc);
    let start = (page - 1).saturating_mul(per_page);
    let items: Vec<Value> = ordered
        .iter()
        .skip(start)
        .take(per_page)
        .map(|c| render(c))
        .collect();
    let link = |p: usize| {
        let order = if desc { "&sort_order=desc" } else { "" };
        json!(format!("{path}?page={p}&per_page={per_page}{order}"))
    };
    let next = if start.saturating_add(per_page) < ordered.len() {
        link(page + 1)
    } else {
        Value::Null
    };
    let prev = if page > 1 {
        link(page - 1)
    } else {
        Value::Null
    };
    Ok(json!({
        "comments": items,
        "next_page": next,
        "previous_page": prev,
        "count": comments.len()
    }))
}

fn cursor_page(
    comments: &[CommentRecord],
    query: &HashMap<String, String>,
    path: &str,
) -> Result<Value, ApiError> {
    let size = page_size(query.get("page[size]"), "page[size]")?;
    let desc = match query.get("sort").map(String::as_str) {
        None | Some("created_at") => false,
        Some("-created_at") => true,
        // UNCONFIRMED: the error for another sort value.
        Some(_) => {
            return Err(ApiError::bad_request(
                "InvalidPaginationParameter",
                "sort must be created_at or -created_at",
            ))
        }
    };
    let ordered = ordered(comments, desc);
    // Cursors are opaque to clients; here they are the comment id to continue after.
    let start = match query.get("page[after]") {
        None => 0,
        Some(cursor) => {
            let after: u64 = cursor.parse().map_err(|_| {
                ApiError::bad_request(
                    "InvalidPaginationParameter",
                    "page[after] is not a valid cursor",
                )
            })?;
            ordered
                .iter()
                .position(|c| c.id == after)
                .map(|i| i + 1)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "InvalidPaginationParameter",
                        "page[after] is not a valid cursor",
                    )
                })?
        }
    };
    let page: Vec<&CommentRecord> = ordered.iter().skip(start).take(size).copied().collect();
    let has_more = start + page.len() < ordered.len();
    let after = page.last().map(|c| c.id.to_string());
    let before = page.first().map(|c| c.id.to_string());
    let sort = if desc { "&sort=-created_at" } else { "" };
    let next = match (&after, has_more) {
        (Some(a), true) => json!(format!("{path}?page[after]={a}&page[size]={size}{sort}")),
        _ => Value::Null,
    };
    Ok(json!({
        "comments": page.iter().map(|c| render(c)).collect::<Vec<_>>(),
        "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
        "links": {"next": next, "prev": null}
    }))
}

fn ordered(comments: &[CommentRecord], desc: bool) -> Vec<&CommentRecord> {
    let mut v: Vec<&CommentRecord> = comments.iter().collect();
    if desc {
        v.reverse();
    }
    v
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
