//! The `/createticket` body: parsed from JSON and validated into a [`NewCase`], with an error
//! that names the field for every bad input.
//!
//! Contract (compatible with the reference Node backend):
//! `{"userId": "...", "caseInfo": {"subject"?, "desc", "name"?, "email"?}, "reuse"?: bool}`.
//! Unknown fields are ignored, as the reference backend did.

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::bridge::NewCase;
use crate::ids::ImUserId;

pub const MAX_SUBJECT_CHARS: usize = 255;
pub const MAX_DESC_BYTES: usize = 64 * 1024;
pub const MAX_NAME_CHARS: usize = 255;
pub const DEFAULT_NAME: &str = "Anonymous customer";

/// Parses and validates a request body (already known to be JSON by content type).
pub fn parse(body: &[u8]) -> Result<NewCase, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidJson(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(root) = value else {
        return Err(ApiError::InvalidJson(
            "the body must be a JSON object".into(),
        ));
    };

    let user_id = required_str(&root, "userId", "userId")?;
    let user = ImUserId::parse(user_id).map_err(|e| invalid(format!("userId {e}")))?;

    let case_info = match root.get("caseInfo") {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => return Err(invalid("caseInfo is required")),
        Some(_) => return Err(invalid("caseInfo must be an object")),
    };
    let description = required_str(case_info, "desc", "caseInfo.desc")?;
    if description.trim().is_empty() {
        return Err(invalid("caseInfo.desc must not be empty"));
    }
    if description.len() > MAX_DESC_BYTES {
        return Err(invalid(format!(
            "caseInfo.desc must be at most {MAX_DESC_BYTES} bytes, got {}",
            description.len()
        )));
    }

    let subject = match optional_str(case_info, "subject", "caseInfo.subject")? {
        Some(s) if !s.trim().is_empty() => {
            let s = s.trim();
            if s.chars().count() > MAX_SUBJECT_CHARS {
                return Err(invalid(format!(
                    "caseInfo.subject must be at most {MAX_SUBJECT_CHARS} characters"
                )));
            }
            s.to_owned()
        }
        _ => default_subject(description),
    };

    let name = match optional_str(case_info, "name", "caseInfo.name")? {
        Some(n) if !n.trim().is_empty() => {
            let n = n.trim();
            if n.chars().count() > MAX_NAME_CHARS {
                return Err(invalid(format!(
                    "caseInfo.name must be at most {MAX_NAME_CHARS} characters"
                )));
            }
            n.to_owned()
        }
        _ => DEFAULT_NAME.to_owned(),
    };

    let email = match optional_str(case_info, "email", "caseInfo.email")? {
        Some(e) if !e.trim().is_empty() => {
            let e = e.trim();
            if !is_valid_email(e) {
                return Err(invalid(format!(
                    "caseInfo.email is not a valid email address: `{e}`"
                )));
            }
            Some(e.to_owned())
        }
        _ => None,
    };

    let reuse = match root.get("reuse") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("reuse must be true or false")),
    };

    Ok(NewCase {
        user,
        subject,
        description: description.to_owned(),
        name,
        email,
        reuse,
    })
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::InvalidField(msg.into())
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, ApiError> {
    optional_str(obj, key, path)?.ok_or_else(|| invalid(format!("{path} is required")))
}

fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{path} must be a string"))),
    }
}

/// The first non-blank line of the description, cut to the subject limit.
fn default_subject(description: &str) -> String {
    let line = description
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    line.chars().take(MAX_SUBJECT_CHARS).collect()
}

/// A pragmatic check: one `@`, a non-empty local part, a dotted domain, no spaces or
/// characters that need quoting. Zendesk makes the final call.
fn is_valid_email(e: &str) -> bool {
    if e.len() > 254
        || e.chars()
            .any(|c| c.is_whitespace() || "<>()[]\\,;:\"".contains(c))
    {
        return false;
    }
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        parse(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn a_full_request_is_accepted() {
        let c = parse(br#"{"userId":"alice","caseInfo":{"subject":" Refund ","desc":"Order 42","name":"Alice","email":"a@example.com"},"reuse":true,"extra":1}"#).unwrap();
        assert_eq!(c.user.as_str(), "alice");
        assert_eq!(c.subject, "Refund");
        assert_eq!(c.name, "Alice");
        assert_eq!(c.email.as_deref(), Some("a@example.com"));
        assert!(c.reuse);
    }

    #[test]
    fn defaults_fill_optional_fields() {
        let c =
            parse(br#"{"userId":"bob","caseInfo":{"desc":"\n  My order is late  \nsecond line"}}"#)
                .unwrap();
        assert_eq!(c.subject, "My order is late");
        assert_eq!(c.name, DEFAULT_NAME);
        assert_eq!(c.email, None);
        assert!(!c.reuse);
    }

    #[test]
    fn every_bad_field_is_named() {
        assert!(err("not json").contains("not valid JSON"));
        assert!(err("[1]").contains("JSON object"));
        assert!(err(r#"{"caseInfo":{"desc":"x"}}"#).contains("userId is required"));
        assert!(err(r#"{"userId":5,"caseInfo":{"desc":"x"}}"#).contains("userId must be a string"));
        assert!(
            err(r#"{"userId":"","caseInfo":{"desc":"x"}}"#).contains("userId must not be empty")
        );
        assert!(err(&format!(
            r#"{{"userId":"{}","caseInfo":{{"desc":"x"}}}}"#,
            "a".repeat(33)
        ))
        .contains("32 bytes"));
        assert!(err(r#"{"userId":"a\u0001","caseInfo":{"desc":"x"}}"#).contains("printable ASCII"));
        assert!(err(r#"{"userId":"a"}"#).contains("caseInfo is required"));
        assert!(err(r#"{"userId":"a","caseInfo":"x"}"#).contains("caseInfo must be an object"));
        assert!(err(r#"{"userId":"a","caseInfo":{}}"#).contains("caseInfo.desc is required"));
        assert!(err(r#"{"userId":"a","caseInfo":{"desc":"  "}}"#)
            .contains("caseInfo.desc must not be empty"));
        assert!(err(r#"{"userId":"a","caseInfo":{"desc":"x","subject":7}}"#)
            .contains("caseInfo.subject must be a string"));
        assert!(
            err(r#"{"userId":"a","caseInfo":{"desc":"x","email":"nope"}}"#)
                .contains("caseInfo.email")
        );
        assert!(err(r#"{"userId":"a","caseInfo":{"desc":"x"},"reuse":"yes"}"#).contains("reuse"));
        let long_subject = format!(
            r#"{{"userId":"a","caseInfo":{{"desc":"x","subject":"{}"}}}}"#,
            "s".repeat(256)
        );
        assert!(err(&long_subject).contains("255"));
        let long_desc = format!(
            r#"{{"userId":"a","caseInfo":{{"desc":"{}"}}}}"#,
            "d".repeat(MAX_DESC_BYTES + 1)
        );
        assert!(err(&long_desc).contains("65536 bytes"));
    }

    #[test]
    fn emails_are_checked() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a b@c.d", "a@@b.co", "a@b..co", "<a@b.co>",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
