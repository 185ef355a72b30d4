//! `POST /api/v2/users`, `GET /api/v2/users/{id}` and `GET /api/v2/users/me` (OAS `CreateUser`,
//! `UserForAdmin`, `CurrentUserResponse`; spec §2.7), and the email check used for new users and
//! requesters.
//!
//! The `details[].description` texts of a refused create are SECONDARY unless noted: the
//! duplicate email/external id ones are quoted in Zendesk's PHP client
//! (`zendesk/zendesk_api_client_php`, `ApiResponseException`), the blank name one in an observed
//! response (node-zendesk issue #3); the email format one reuses the requester's wording
//! (UNCONFIRMED).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::body;
use super::clock::iso8601;
use super::errors::{ApiError, FieldError};
use super::state::{Role, Store, UserRecord};
use super::user_input;
use super::{base_url, show_record, ZendeskEmulator};

/// A fixed stand-in: the emulator has no browser sessions to protect with it.
const AUTHENTICITY_TOKEN: &str = "emulated-authenticity-token";

pub(super) async fn show(
    State(emu): State<ZendeskEmulator>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
) -> Response {
    show_record(
        &emu,
        &caller,
        &headers,
        &raw_id,
        "user",
        |store, base, id| store.users.get(&id).map(|u| render(base, u)),
    )
}

pub(super) async fn create(
    State(emu): State<ZendeskEmulator>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    create_user(&emu, caller, &headers, &bytes).unwrap_or_else(IntoResponse::into_response)
}

/// Any authenticated caller may create users: the gate only admits agents and admins.
/// UNCONFIRMED/not emulated: Zendesk's restrictions on agents creating agents or admins.
fn create_user(
    emu: &ZendeskEmulator,
    caller: Caller,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    caller.user_id()?;
    let body = body::parse(headers, bytes, "user")?;
    let base = base_url(headers);
    let now = emu.now_ms();
    // One lock for the uniqueness checks and the insert: two concurrent requests can't both
    // take one email or external id.
    let mut store = emu.lock();
    let new = validate_create(&store, &body.root)?;
    let id = store.add_user(
        &new.name,
        new.email.as_deref(),
        new.external_id.as_deref(),
        new.role,
        new.verified,
        now,
    );
    let user = store.users.get(&id).ok_or(ApiError::RecordNotFound)?;
    let json = json!({"user": render(&base, user)});
    drop(store);
    tracing::debug!(user_id = id, "emulated user created");
    let location = format!("{base}/api/v2/users/{id}.json");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(json),
    )
        .into_response())
}

/// A create request that passed validation.
struct NewUser {
    name: String,
    email: Option<String>,
    external_id: Option<String>,
    role: Role,
    verified: bool,
}

fn validate_create(store: &Store, root: &Map<String, Value>) -> Result<NewUser, ApiError> {
    let mut errors = Vec::new();
    let input = user_input::parse(root, &mut errors);
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if name.is_none() && !errors.iter().any(|e| e.field == "name") {
        // Observed without an error code (SECONDARY, see the module notes).
        errors.push(FieldError::described(
            "name",
            "Name: is too short (minimum is 1 characters)",
        ));
    }
    // UNCONFIRMED: a blank email string is refused like a malformed one, not read as "none".
    let email = input.email.as_deref().map(str::trim);
    match email {
        Some(e) if !is_valid_email(e) => errors.push(FieldError::invalid(
            "email",
            format!("Email: {e} is not properly formatted"),
        )),
        Some(e) if store.user_by_email(e).is_some() => errors.push(FieldError::duplicate(
            "email",
            format!("Email: {e} is already being used by another user"),
        )),
        _ => {}
    }
    // Compared case-insensitively (spec §2.7). UNCONFIRMED: a blank external id is refused
    // rather than read as "none".
    let external_id = input.external_id.as_deref();
    match external_id {
        Some(x) if x.trim().is_empty() => errors.push(FieldError::invalid(
            "external_id",
            "External id: is invalid",
        )),
        Some(x) if store.user_by_external_id(x).is_some() => errors.push(FieldError::duplicate(
            "external_id",
            "External has already been taken",
        )),
        _ => {}
    }
    match name {
        Some(name) if errors.is_empty() => Ok(NewUser {
            name: name.to_owned(),
            email: email.map(str::to_owned),
            external_id: external_id.map(str::to_owned),
            // "If you don't specify a role parameter, the new user is assigned the role of end
            // user" (OAS Create Or Update User; same default here).
            role: input.role.unwrap_or(Role::EndUser),
            // Users made through the API are unverified unless `verified: true` (the docs'
            // advice for skipping the verification mail implies it).
            verified: input.verified.unwrap_or(false),
        }),
        _ => Err(ApiError::invalid(errors)),
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
        "external_id": u.external_id,
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
