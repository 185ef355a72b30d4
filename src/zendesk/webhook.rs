//! Zendesk webhooks as they arrive: the signature checked on the raw bytes first, then the
//! body read as an event-subscribed ticket event or the documented trigger body.
//!
//! Signature (specs/zendesk.md §4.3): `X-Zendesk-Webhook-Signature` =
//! base64(HMAC-SHA256(key = signing secret, message = timestamp + raw body)), with the
//! timestamp from `X-Zendesk-Webhook-Signature-Timestamp` (`2021-03-25T05:09:27Z`). Zendesk
//! documents no replay window; the bridge refuses timestamps more than five minutes off.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use crate::bridge::assignment::AgentHint;
use crate::ids::TicketId;
use crate::secret::Secret;

pub const SIGNATURE_HEADER: &str = "x-zendesk-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-zendesk-webhook-signature-timestamp";
pub const INVOCATION_HEADER: &str = "x-zendesk-webhook-invocation-id";
/// How far a signature's timestamp may be from now, either way.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// The event types the bridge subscribes to.
pub const ASSIGNMENT_CHANGED: &str = "zen:event-type:ticket.agent_assignment_changed";
pub const STATUS_CHANGED: &str = "zen:event-type:ticket.status_changed";
pub const COMMENT_ADDED: &str = "zen:event-type:ticket.comment_added";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("the signature timestamp is not an ISO-8601 UTC time")]
    BadTimestamp,
    #[error(
        "the signature timestamp is {0} s away from now (more than 5 minutes): stale or replayed"
    )]
    Stale(i64),
    #[error("the signature does not match the body (wrong secret, or the body was altered)")]
    BadSignature,
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the body is not a Zendesk ticket event nor the bridge's trigger body: {0}")]
    NotAnEvent(String),
}

/// Checks a delivery's signature over the raw body, and that it is fresh, at Unix second `now`.
pub fn verify(
    secret: &Secret,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), WebhookError> {
    let signature = signature.ok_or(WebhookError::MissingHeader(SIGNATURE_HEADER))?;
    let timestamp = timestamp.ok_or(WebhookError::MissingHeader(TIMESTAMP_HEADER))?;
    let at = parse_utc(timestamp).ok_or(WebhookError::BadTimestamp)?;
    if (now - at).abs() > MAX_SKEW_SECS {
        return Err(WebhookError::Stale(now - at));
    }
    let expected = STANDARD
        .decode(signature.trim())
        .map_err(|_| WebhookError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(body);
    mac.verify_slice(&expected) // constant-time
        .map_err(|_| WebhookError::BadSignature)
}

/// What a verified delivery asks of the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// The ticket's assignee or status changed (or a trigger fired): sync its group.
    TicketChanged {
        ticket: TicketId,
        event_type: String,
        event_id: Option<String>,
        agent: Option<AgentHint>,
    },
    /// A comment was added: the ticket's new comments are to be mirrored to the chat.
    CommentAdded {
        ticket: TicketId,
        event_id: Option<String>,
        /// `event.comment.id`, when the event carries it.
        comment: Option<u64>,
    },
    /// An event the bridge does not act on: acknowledged and ignored.
    Ignored { event_type: String },
}

/// Reads a verified body.
pub fn parse(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::NotJson(e.to_string()))?;
    if let Some(event_type) = value.get("type").and_then(Value::as_str) {
        check_envelope(&value)?;
        let event_id = value.get("id").and_then(Value::as_str).map(str::to_owned);
        let ticket = || {
            ticket_of_event(&value).ok_or_else(|| {
                WebhookError::NotAnEvent("a ticket event without its ticket id".into())
            })
        };
        return Ok(match event_type {
            ASSIGNMENT_CHANGED | STATUS_CHANGED => WebhookEvent::TicketChanged {
                ticket: ticket()?,
                event_type: event_type.to_owned(),
                event_id,
                agent: None,
            },
            COMMENT_ADDED => WebhookEvent::CommentAdded {
                ticket: ticket()?,
                event_id,
                comment: value.pointer("/event/comment/id").and_then(id_of),
            },
            other => WebhookEvent::Ignored {
                event_type: other.to_owned(),
            },
        });
    }
    if value.get("ticket_id").is_some() {
        return trigger_body(&value);
    }
    Err(WebhookError::NotAnEvent(
        "expected `type` (an event) or `ticket_id` (the trigger body)".into(),
    ))
}

/// The envelope every event has (WHEVT): checked for every type, also those the bridge
/// ignores, so a body of another shape is refused whatever its type says.
fn check_envelope(value: &Value) -> Result<(), WebhookError> {
    for (field, object) in [
        ("id", false),
        ("subject", false),
        ("detail", true),
        ("event", true),
    ] {
        let ok = |v: &Value| if object { v.is_object() } else { v.is_string() };
        if value.get(field).is_some_and(|v| !ok(v)) {
            let what = if object { "an object" } else { "a string" };
            return Err(WebhookError::NotAnEvent(format!(
                "`{field}` must be {what}"
            )));
        }
    }
    Ok(())
}

/// `zen:ticket:<id>` in `subject`, or `detail.id`, which real payloads send as a string.
fn ticket_of_event(value: &Value) -> Option<TicketId> {
    let from_detail = value.pointer("/detail/id").and_then(id_of);
    let from_subject = value
        .get("subject")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix("zen:ticket:"))
        .and_then(digits);
    from_detail.or(from_subject).map(TicketId)
}

/// A number written in decimal digits only (`str::parse` would also take a `+`).
fn digits(s: &str) -> Option<u64> {
    Some(s)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
}

/// An id sent as a number or a string of digits.
fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => crate::upstream::whole_number(n),
        Value::String(s) => digits(s.trim_matches(|c: char| c.is_ascii_whitespace())),
        _ => None,
    }
}

/// The trigger body of DESIGN §1.2: placeholders render as strings, an unassigned ticket as "".
fn trigger_body(value: &Value) -> Result<WebhookEvent, WebhookError> {
    #[derive(Deserialize)]
    struct Trigger {
        ticket_id: Value,
        #[serde(default)]
        assignee_id: Value,
        #[serde(default)]
        assignee_name: Option<String>,
    }
    let t: Trigger = serde_json::from_value(value.clone())
        .map_err(|e| WebhookError::NotAnEvent(e.to_string()))?;
    let ticket = id_of(&t.ticket_id)
        .map(TicketId)
        .ok_or_else(|| WebhookError::NotAnEvent("ticket_id must be a ticket id".into()))?;
    let agent = id_of(&t.assignee_id)
        .zip(t.assignee_name.filter(|n| !n.trim().is_empty()))
        .map(|(id, name)| AgentHint { id, name });
    Ok(WebhookEvent::TicketChanged {
        ticket,
        event_type: "trigger".into(),
        event_id: None,
        agent,
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|+00:00)` to Unix seconds.
pub fn parse_utc(s: &str) -> Option<i64> {
    let s = s.trim();
    let rest = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = rest.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    // Four-digit years only: a huge one would overflow the day arithmetic below.
    if !(1970..=9999).contains(&y) {
        return None;
    }
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if d.next().is_some() || t.next().is_some() {
        return None;
    }
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(ts.as_bytes());
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }

    const TS: &str = "2021-07-25T10:00:00Z";
    const NOW: i64 = 1_627_207_200; // 2021-07-25T10:00:00Z

    #[test]
    fn timestamps_parse() {
        assert_eq!(parse_utc(TS), Some(NOW));
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2021-07-25T10:00:00.123Z"), Some(NOW));
        assert_eq!(parse_utc("2021-07-25T10:00:00+00:00"), Some(NOW));
        for bad in [
            "",
            "2021-07-25",
            "2021-13-01T00:00:00Z",
            "2021-07-25T10:00:00",
            "yesterday",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_signature_over_timestamp_and_body_verifies() {
        let secret = Secret::new("dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==");
        let body = br#"{"say": "hello"}"#;
        let sig = sign(secret.expose(), TS, body);
        assert_eq!(
            verify(&secret, Some(&sig), Some(TS), body, NOW + 10),
            Ok(())
        );
        // Zendesk's old documentation sample (body + timestamp order) is not accepted.
        let old_order = sign(secret.expose(), "", &[&body[..], TS.as_bytes()].concat());
        assert_eq!(
            verify(&secret, Some(&old_order), Some(TS), body, NOW),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn the_old_documentation_vector_is_body_then_timestamp_and_refused() {
        // specs/zendesk.md §4.3: an older revision of Zendesk's page signed body + timestamp.
        let secret = "HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=";
        let body = br#"{"say": "hello"}"#;
        let old = "tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw=";
        assert_eq!(sign(secret, "", &[&body[..], TS.as_bytes()].concat()), old);
        assert_eq!(
            verify(&Secret::new(secret), Some(old), Some(TS), body, NOW),
            Err(WebhookError::BadSignature)
        );
        let current = sign(secret, TS, body);
        assert_eq!(
            verify(&Secret::new(secret), Some(&current), Some(TS), body, NOW),
            Ok(())
        );
    }

    #[test]
    fn forged_unsigned_and_stale_deliveries_are_refused() {
        let secret = Secret::new("s3cret");
        let body = b"{}";
        let sig = sign("s3cret", TS, body);
        let cases = [
            (
                verify(&secret, None, Some(TS), body, NOW),
                WebhookError::MissingHeader(SIGNATURE_HEADER),
            ),
            (
                verify(&secret, Some(&sig), None, body, NOW),
                WebhookError::MissingHeader(TIMESTAMP_HEADER),
            ),
            (
                verify(&secret, Some(&sig), Some("soon"), body, NOW),
                WebhookError::BadTimestamp,
            ),
            (
                verify(&secret, Some(&sig), Some(TS), body, NOW + 301),
                WebhookError::Stale(301),
            ),
            (
                verify(&secret, Some(&sig), Some(TS), body, NOW - 301),
                WebhookError::Stale(-301),
            ),
            (
                verify(&secret, Some(&sig), Some(TS), b"{ }", NOW),
                WebhookError::BadSignature,
            ),
            (
                verify(&Secret::new("other"), Some(&sig), Some(TS), body, NOW),
                WebhookError::BadSignature,
            ),
            (
                verify(&secret, Some("%%%"), Some(TS), body, NOW),
                WebhookError::BadSignature,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, Err(want));
        }
    }

    #[test]
    fn ids_are_digits_or_whole_numbers_and_envelopes_have_their_shape() {
        for (body, ticket) in [
            (&br#"{"ticket_id":12.0}"#[..], Some(12)),
            (br#"{"ticket_id":" 12 "}"#, Some(12)),
            (br#"{"ticket_id":"+12"}"#, None),
            (br#"{"ticket_id":12.5}"#, None),
            (
                br#"{"type":"zen:event-type:ticket.status_changed","subject":"zen:ticket:+9"}"#,
                None,
            ),
        ] {
            match (parse(body), ticket) {
                (Ok(WebhookEvent::TicketChanged { ticket: t, .. }), Some(id)) => {
                    assert_eq!(t, TicketId(id))
                }
                (Err(WebhookError::NotAnEvent(_)), None) => {}
                (other, _) => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        // Also for types the bridge ignores.
        for body in [
            &br#"{"type":"zen:event-type:user.created","event":[1]}"#[..],
            br#"{"type":"zen:event-type:user.created","detail":"x"}"#,
            br#"{"type":"zen:event-type:user.created","id":7}"#,
            br#"{"type":"zen:event-type:user.created","subject":null}"#,
        ] {
            assert!(
                matches!(parse(body), Err(WebhookError::NotAnEvent(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn events_and_trigger_bodies_are_read() {
        let assigned = br#"{"type":"zen:event-type:ticket.agent_assignment_changed","id":"e1","subject":"zen:ticket:42","detail":{"id":"42","assignee_id":"7"},"event":{"current":"7","previous":null}}"#;
        assert_eq!(
            parse(assigned),
            Ok(WebhookEvent::TicketChanged {
                ticket: TicketId(42),
                event_type: ASSIGNMENT_CHANGED.into(),
                event_id: Some("e1".into()),
                agent: None
            })
        );
        let by_subject =
            br#"{"type":"zen:event-type:ticket.status_changed","subject":"zen:ticket:9"}"#;
        assert!(matches!(
            parse(by_subject),
            Ok(WebhookEvent::TicketChanged {
                ticket: TicketId(9),
                ..
            })
        ));
        let comment = br#"{"type":"zen:event-type:ticket.comment_added","detail":{"id":5}}"#;
        assert!(matches!(
            parse(comment),
            Ok(WebhookEvent::CommentAdded {
                ticket: TicketId(5),
                comment: None,
                ..
            })
        ));
        let with_id = br#"{"type":"zen:event-type:ticket.comment_added","detail":{"id":"5"},"event":{"comment":{"id":"77","is_public":true}}}"#;
        assert!(matches!(
            parse(with_id),
            Ok(WebhookEvent::CommentAdded {
                ticket: TicketId(5),
                comment: Some(77),
                ..
            })
        ));
        let other = br#"{"type":"zen:event-type:user.created","detail":{"id":"1"}}"#;
        assert!(matches!(parse(other), Ok(WebhookEvent::Ignored { .. })));
        let trigger = br#"{"ticket_id":"12","assignee_id":"7","assignee_name":"Sam","assignee_email":"s@x.io","status":"open"}"#;
        assert_eq!(
            parse(trigger),
            Ok(WebhookEvent::TicketChanged {
                ticket: TicketId(12),
                event_type: "trigger".into(),
                event_id: None,
                agent: Some(AgentHint {
                    id: 7,
                    name: "Sam".into()
                })
            })
        );
        let unassigned =
            br#"{"ticket_id":"12","assignee_id":"","assignee_name":"","status":"open"}"#;
        assert!(matches!(
            parse(unassigned),
            Ok(WebhookEvent::TicketChanged { agent: None, .. })
        ));
        assert!(matches!(parse(b"{nope"), Err(WebhookError::NotJson(_))));
        assert!(matches!(
            parse(br#"{"ticket_id":"abc"}"#),
            Err(WebhookError::NotAnEvent(_))
        ));
        assert!(matches!(
            parse(br#"{"hello":1}"#),
            Err(WebhookError::NotAnEvent(_))
        ));
        assert!(matches!(
            parse(br#"{"type":"zen:event-type:ticket.status_changed"}"#),
            Err(WebhookError::NotAnEvent(_))
        ));
    }
}
