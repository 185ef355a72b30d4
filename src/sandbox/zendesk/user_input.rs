//! The writable fields of a new user (OAS `UserCreateInput`, spec §2.7), read from the request
//! with their JSON types checked by the ticket input's [`Reader`]. Unknown fields are ignored,
//! as Zendesk does.

use serde_json::{Map, Value};

use super::errors::FieldError;
use super::state::Role;
use super::ticket_input::Reader;

#[derive(Debug, Default)]
pub(super) struct UserInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub role: Option<Role>,
    pub verified: Option<bool>,
}

/// Reads the user object; type errors (and an unknown `role`) are pushed to `errors`.
pub(super) fn parse(root: &Map<String, Value>, errors: &mut Vec<FieldError>) -> UserInput {
    let mut r = Reader::new(root, errors);
    let name = r.string("name").flatten();
    let email = r.string("email").flatten();
    let external_id = r.string("external_id").flatten();
    // UNCONFIRMED: an unknown role is refused rather than ignored.
    let role = match r.string("role").flatten() {
        None => None,
        Some(s) => {
            let role = Role::parse(&s);
            if role.is_none() {
                r.invalid("role");
            }
            role
        }
    };
    let verified = r.flag("verified");
    // Only its type is checked: the emulator sends no verification mail anyway.
    let _ = r.flag("skip_verify_email");
    UserInput {
        name,
        email,
        external_id,
        role,
        verified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> (UserInput, Vec<FieldError>) {
        let mut errors = Vec::new();
        let input = match v {
            Value::Object(m) => parse(&m, &mut errors),
            _ => UserInput::default(),
        };
        (input, errors)
    }

    #[test]
    fn reads_documented_fields_and_ignores_unknown_ones() {
        let (u, errors) = read(json!({
            "name": "Wei", "email": "wei@example.com", "external_id": "im:wei", "role": "agent",
            "verified": true, "skip_verify_email": true, "organization": {"name": "VIP"}
        }));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(u.name.as_deref(), Some("Wei"));
        assert_eq!(u.email.as_deref(), Some("wei@example.com"));
        assert_eq!(u.external_id.as_deref(), Some("im:wei"));
        assert_eq!(u.role, Some(Role::Agent));
        assert_eq!(u.verified, Some(true));

        let (u, errors) = read(json!({"name": "Wei", "email": null, "role": null}));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((u.email, u.role, u.verified), (None, None, None));
    }

    #[test]
    fn wrong_types_and_roles_are_field_errors() {
        let (_, errors) = read(json!({
            "name": 5, "email": ["a@example.com"], "external_id": 42, "role": "owner",
            "verified": "yes", "skip_verify_email": 1
        }));
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        for f in [
            "name",
            "email",
            "external_id",
            "role",
            "verified",
            "skip_verify_email",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }
}
