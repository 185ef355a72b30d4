//! Ticket comments: turning `body`/`html_body` input into stored text (spec §2.3 "Bodies"), the
//! OAS `TicketCommentObject` view, and `GET /api/v2/tickets/{id}/comments` (spec §2.6, §3.4;
//! the paging itself is in `pagination`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::Value;

use super::auth::Caller;
use super::clock::iso8601;
use super::errors::ApiError;
use super::pagination::{self, Listing};
use super::state::{AttachmentRecord, CommentRecord};
use super::ticket_view::{comment_event, metadata, via};
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

/// A file a comment made in the agent UI carries (the emulator's helpers only).
#[derive(Debug, Clone)]
pub(super) struct NewAttachment {
    pub file_name: String,
    pub content_url: String,
    pub size: u64,
}

impl NewAttachment {
    /// The stored attachment, its content type taken from the file name's extension.
    pub(super) fn record(self, id: u64) -> AttachmentRecord {
        let content_type = content_type(&self.file_name).to_owned();
        AttachmentRecord {
            id,
            file_name: self.file_name,
            content_url: self.content_url,
            content_type,
            size: self.size,
        }
    }
}

/// UNCONFIRMED: how Zendesk derives `content_type` (from the upload's `Content-Type`, spec
/// §2.8); the emulator's helpers have none, so common extensions are mapped.
fn content_type(file_name: &str) -> &'static str {
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The OAS `TicketCommentObject` view: the audit's `Comment` event plus `via`, `metadata` (the
/// audit's custom and system data) and `created_at`.
///
/// UNCONFIRMED: the OAS comment examples show `via` inside `metadata`, its schema lists `via`
/// as a property of the comment; the schema is followed and `via` is not repeated in
/// `metadata`.
pub(super) fn render(base: &str, c: &CommentRecord) -> Value {
    let mut view = comment_event(base, c);
    if let Value::Object(m) = &mut view {
        m.insert("via".into(), via(&c.via));
        m.insert("metadata".into(), metadata(&c.metadata_custom));
        m.insert("created_at".into(), iso8601(c.created_ms).into());
    }
    view
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
        pagination::page(
            &listing,
            &ticket.comments,
            &query,
            |c| c.id,
            |c| render(&base, c),
        )
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
    fn attachment_content_types_follow_the_extension() {
        assert_eq!(content_type("crash.log"), "text/plain");
        assert_eq!(content_type("Photo.JPG"), "image/jpeg");
        assert_eq!(content_type("archive"), "application/octet-stream");
    }

    #[test]
    fn long_bodies_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(40_000);
        let (plain, _) = bodies(Some(&long), None).unwrap_or_default();
        assert!(plain.len() <= MAX_BODY_BYTES);
        assert!(plain.chars().all(|c| c == 'é'));
    }
}
