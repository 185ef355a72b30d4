//! The writable fields of a ticket (OAS `TicketCreateInput` ⊃ `TicketUpdateInput`), read from
//! the request with their JSON types checked. Unknown fields are ignored, as Zendesk does.
//!
//! JSON types are checked strictly (a string where an integer is documented is refused), which
//! is stricter than Zendesk's Rails coercion: a client that passes here passes there.

use serde_json::{Map, Value};

use super::errors::FieldError;
use super::state::Status;

const PRIORITIES: [&str; 4] = ["urgent", "high", "normal", "low"];
const TYPES: [&str; 4] = ["problem", "incident", "question", "task"];

#[derive(Debug, Default)]
pub(super) struct CommentInput {
    pub body: Option<String>,
    pub html_body: Option<String>,
    pub public: Option<bool>,
    pub author_id: Option<u64>,
}

#[derive(Debug, Default)]
pub(super) struct RequesterInput {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A field that can be left alone, cleared (JSON `null`) or set.
pub(super) type Patch<T> = Option<Option<T>>;

#[derive(Debug, Default)]
pub(super) struct TicketInput {
    pub subject: Option<String>,
    pub comment: Option<CommentInput>,
    pub requester: Option<RequesterInput>,
    pub requester_id: Option<u64>,
    pub submitter_id: Option<u64>,
    pub assignee_id: Patch<u64>,
    pub assignee_email: Option<String>,
    pub tags: Option<Vec<String>>,
    pub external_id: Patch<String>,
    pub status: Option<Status>,
    pub priority: Patch<String>,
    pub kind: Patch<String>,
    /// Write-only audit metadata; the audit shows it as `metadata.custom`.
    pub metadata: Option<Map<String, Value>>,
}

/// Reads the ticket object; type errors are pushed to `errors`.
pub(super) fn parse(root: &Map<String, Value>, errors: &mut Vec<FieldError>) -> TicketInput {
    let mut r = Reader::new(root, errors);
    TicketInput {
        subject: r.string("subject").flatten(),
        comment: r.comment(),
        requester: r.requester(),
        requester_id: r.id("requester_id").flatten(),
        submitter_id: r.id("submitter_id").flatten(),
        assignee_id: r.id("assignee_id"),
        assignee_email: r.string("assignee_email").flatten(),
        tags: r.tags(),
        external_id: r.string("external_id"),
        status: r.status(),
        priority: r.one_of("priority", &PRIORITIES),
        kind: r.one_of("type", &TYPES),
        metadata: r.metadata(),
    }
}

/// Reads typed fields of one JSON object, pushing an `InvalidValue` error for a value of the
/// wrong type; absent fields are `None`. Shared with the user input (`user_input`).
pub(super) struct Reader<'a> {
    root: &'a Map<String, Value>,
    errors: &'a mut Vec<FieldError>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(root: &'a Map<String, Value>, errors: &'a mut Vec<FieldError>) -> Self {
        Self { root, errors }
    }

    pub(super) fn invalid(&mut self, field: &'static str) {
        self.errors.push(FieldError::invalid(
            field,
            format!("{}: is invalid", label(field)),
        ));
    }

    pub(super) fn string(&mut self, field: &'static str) -> Patch<String> {
        match self.root.get(field)? {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s.clone())),
            _ => {
                self.invalid(field);
                None
            }
        }
    }

    fn id(&mut self, field: &'static str) -> Patch<u64> {
        match self.root.get(field)? {
            Value::Null => Some(None),
            Value::Number(n) if n.as_u64().is_some_and(|v| v > 0) => Some(n.as_u64()),
            _ => {
                self.invalid(field);
                None
            }
        }
    }

    /// A boolean; JSON `null` reads as absent.
    pub(super) fn flag(&mut self, field: &'static str) -> Option<bool> {
        match self.root.get(field)? {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            _ => {
                self.invalid(field);
                None
            }
        }
    }

    fn one_of(&mut self, field: &'static str, allowed: &[&str]) -> Patch<String> {
        match self.string(field)? {
            None => Some(None),
            Some(v) if allowed.contains(&v.as_str()) => Some(Some(v)),
            Some(_) => {
                self.invalid(field);
                None
            }
        }
    }

    fn status(&mut self) -> Option<Status> {
        match self.root.get("status")? {
            Value::String(s) if Status::parse(s).is_some() => Status::parse(s),
            _ => {
                self.invalid("status");
                None
            }
        }
    }

    fn tags(&mut self) -> Option<Vec<String>> {
        match self.root.get("tags")? {
            Value::Null => Some(Vec::new()),
            Value::Array(items) => {
                let mut raw = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => raw.push(s.as_str()),
                        _ => {
                            self.invalid("tags");
                            return None;
                        }
                    }
                }
                Some(normalize_tags(raw))
            }
            _ => {
                self.invalid("tags");
                None
            }
        }
    }

    /// `metadata` (OAS `TicketObject.metadata`: "Write only. Metadata for the audit. In the
    /// `audit` object, the data is specified in the `custom` property of the `metadata`
    /// object"): any JSON object, kept whole as the audit's custom metadata. The OAS declares
    /// an object without listed properties, so every key is allowed; it doesn't declare it
    /// nullable, so `null` is refused like any other non-object.
    fn metadata(&mut self) -> Option<Map<String, Value>> {
        match self.root.get("metadata")? {
            Value::Object(obj) => Some(obj.clone()),
            _ => {
                self.invalid("metadata");
                None
            }
        }
    }

    fn comment(&mut self) -> Option<CommentInput> {
        let obj = match self.root.get("comment")? {
            Value::Null => return None,
            Value::Object(obj) => obj,
            _ => {
                self.invalid("comment");
                return None;
            }
        };
        let mut sub = Reader {
            root: obj,
            errors: &mut *self.errors,
        };
        let public = sub.flag("public");
        Some(CommentInput {
            body: sub.string("body").flatten(),
            html_body: sub.string("html_body").flatten(),
            public,
            author_id: sub.id("author_id").flatten(),
        })
    }

    fn requester(&mut self) -> Option<RequesterInput> {
        let obj = match self.root.get("requester")? {
            Value::Null => return None,
            Value::Object(obj) => obj,
            _ => {
                self.invalid("requester");
                return None;
            }
        };
        let mut sub = Reader {
            root: obj,
            errors: &mut *self.errors,
        };
        let name = sub.string("name").flatten();
        let email = sub.string("email").flatten();
        // Nested type errors are reported on `requester`, where Zendesk puts requester errors.
        for e in self.errors.iter_mut() {
            if e.field == "name" || e.field == "email" {
                e.field = "requester";
            }
        }
        Some(RequesterInput { name, email })
    }
}

/// Zendesk tags: lower case, no whitespace (a tag with spaces becomes several tags), no
/// duplicates, in first-seen order. UNCONFIRMED: the splitting of tags with spaces.
pub(super) fn normalize_tags<'a>(raw: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in raw.into_iter().flat_map(str::split_whitespace) {
        let tag = tag.to_lowercase();
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// `assignee_id` → `Assignee`, as Zendesk words its validation messages.
pub(super) fn label(field: &str) -> String {
    let base = match field {
        "assignee_id" | "requester_id" | "submitter_id" | "author_id" => {
            field.trim_end_matches("_id")
        }
        other => other,
    }
    .replace('_', " ");
    let mut chars = base.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> (TicketInput, Vec<FieldError>) {
        let mut errors = Vec::new();
        let input = match v {
            Value::Object(m) => parse(&m, &mut errors),
            _ => TicketInput::default(),
        };
        (input, errors)
    }

    #[test]
    fn reads_documented_fields_and_ignores_unknown_ones() {
        let (t, errors) = read(json!({
            "subject": "Hi", "comment": {"body": "b", "public": false, "author_id": 5},
            "requester": {"name": "A", "email": "a@example.com"}, "assignee_id": null,
            "tags": ["One", "two three", "one"], "external_id": "x", "status": "pending",
            "priority": "high", "type": "task", "no_such_field": {"x": 1},
            "metadata": {"batch": "b-1", "custom": {"nested": true}}
        }));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(t.subject.as_deref(), Some("Hi"));
        assert_eq!(t.comment.as_ref().and_then(|c| c.public), Some(false));
        assert_eq!(t.comment.as_ref().and_then(|c| c.author_id), Some(5));
        assert_eq!(t.assignee_id, Some(None));
        assert_eq!(
            t.tags,
            Some(vec!["one".into(), "two".into(), "three".into()])
        );
        assert_eq!(t.status, Some(Status::Pending));
        assert_eq!(t.priority, Some(Some("high".into())));
        assert_eq!(t.kind, Some(Some("task".into())));
        let metadata = t.metadata.map(Value::Object);
        assert_eq!(
            metadata,
            Some(json!({"batch": "b-1", "custom": {"nested": true}}))
        );
    }

    #[test]
    fn wrong_types_and_values_are_field_errors() {
        let (_, errors) = read(json!({
            "assignee_id": "12", "status": "closed-ish", "priority": "meh", "tags": "a b",
            "comment": {"public": "yes"}, "requester": {"email": 5}, "metadata": "b-1"
        }));
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        for f in [
            "assignee_id",
            "status",
            "priority",
            "tags",
            "public",
            "requester",
            "metadata",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn labels_read_like_zendesk() {
        assert_eq!(label("assignee_id"), "Assignee");
        assert_eq!(label("external_id"), "External id");
        assert_eq!(label("status"), "Status");
    }
}
