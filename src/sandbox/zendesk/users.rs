//! `GET /api/v2/users/{id}` and `GET /api/v2/users/me` (OAS `UserForAdmin`, `CurrentUserResponse`),
//! and the email check used for new requesters.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::auth::Caller;
use super::clock::iso8601;
use super::errors::ApiError;
use super::state::{Role, UserRecord};
use super::{base_url, parse_id, ZendeskEmulator};

/// A fixed stand-in: the emulator has no browser sessions to protect with it.
const AUTHENTICITY_TOKEN: &str = "emulated-authenticity-token";

pub(super) async fn show(
    State(emu): State<ZendeskEmulator>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Response {
    let result = caller.user_id().and_then(|_| {
        let id = parse_id(&raw_id)?;
        let store = emu.lock();
        let user = store.users.get(&id).ok_or(ApiError::RecordNotFound)?;
        Ok(json!({"user": render(&base_url(&headers), user)}))
    });
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn me(
    State(emu): State<ZendeskEmulator>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Response {
    let mut user = match caller {
        Caller::User(id) => match emu.lock().users.get(&id) {
            Some(u) => render(&base_url(&headers), u),
            None => return ApiError::Unauthenticated.into_response(),
        },
        // UNCONFIRMED: the exact anonymous-user object (shape recalled from Zendesk, not documented).
        Caller::Anonymous => json!({
            "id": null, "url": null, "name": "Anonymous user", "email": "invalid@example.com",
            "created_at": null, "updated_at": null, "role": "end-user", "role_type": null,
            "active": true, "verified": false, "locale": "en-US", "locale_id": 1,
            "time_zone": "UTC", "iana_time_zone": "Etc/UTC", "tags": [], "user_fields": {}
        }),
    };
    if let Value::Object(map) = &mut user {
        map.insert("authenticity_token".into(), AUTHENTICITY_TOKEN.into());
    }
    Json(json!({"user": user})).into_response()
}

/// The OAS `UserForAdmin` view of a user.
pub(super) fn render(base: &str, u: &UserRecord) -> Value {
    let role_type = match u.role {
        Role::Admin => json!(4),
        Role::Agent | Role::EndUser => Value::Null,
    };
    json!({
        "id": u.id,
        "url": format!("{base}/api/v2/users/{}.json", u.id),
        "name": u.name,
        "email": u.email,
        "created_at": iso8601(u.created_ms),
        "updated_at": iso8601(u.updated_ms),
        "time_zone": "UTC",
        "iana_time_zone": "Etc/UTC",
        "phone": null,
        "shared_phone_number": null,
        "photo": null,
        "locale_id": 1,
        "locale": "en-US",
        "organization_id": null,
        "role": u.role.as_str(),
        "verified": u.verified,
        "external_id": null,
        "tags": [],
        "alias": "",
        "active": true,
        "shared": false,
        "shared_agent": false,
        "last_login_at": null,
        "two_factor_auth_enabled": false,
        "signature": "",
        "details": "",
        "notes": "",
        "role_type": role_type,
        "custom_role_id": null,
        "moderator": u.role.is_staff(),
        "ticket_restriction": if u.role.is_staff() { Value::Null } else { json!("requested") },
        "only_private_comments": false,
        "restricted_agent": !u.role.is_staff(),
        "suspended": false,
        "default_group_id": null,
        "report_csv": false,
        "user_fields": {}
    })
}

/// A deliberately plain email check: one `@`, a non-empty local part, a dotted domain, no
/// whitespace or control characters. Zendesk's own rule is UNCONFIRMED; this refuses what it
/// would surely refuse.
pub(super) fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let clean = |s: &str| {
        !s.is_empty()
            && !s.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '@' | '<' | '>' | ',' | ';')
            })
    };
    clean(local)
        && clean(domain)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_check() {
        assert!(is_valid_email("alice@example.com"));
        assert!(is_valid_email("a.b+tag@sub.example.co"));
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "alice@@example.com",
            "alice@example..com",
            "alice@.example.com",
            "alice@example.com.",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
