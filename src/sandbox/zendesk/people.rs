//! Who a ticket is about: resolving `requester`, `requester_id`, `submitter_id`,
//! `assignee_id` / `assignee_email` and `comment.author_id` to users, with Zendesk's 422s.
//!
//! The `details[].description` texts are UNCONFIRMED: Zendesk documents the error shape
//! (spec §2.9), not each message.

use super::errors::FieldError;
use super::state::Store;
use super::ticket_input::{self, Patch, TicketInput};
use super::users::is_valid_email;

/// Who the requester of a new ticket will be.
pub(super) enum RequesterPlan {
    Existing(u64),
    New { name: String, email: String },
}

/// The requester: the `requester` object (found by email, case-insensitively, or a new end
/// user), else `requester_id`, else the authenticated user. `None` when invalid (errors pushed).
pub(super) fn resolve_requester(
    store: &Store,
    actor: u64,
    input: &TicketInput,
    errors: &mut Vec<FieldError>,
) -> Option<RequesterPlan> {
    let Some(req) = &input.requester else {
        return match input.requester_id {
            Some(id) if store.users.contains_key(&id) => Some(RequesterPlan::Existing(id)),
            Some(_) => {
                errors.push(FieldError::invalid("requester_id", "Requester: is invalid"));
                None
            }
            None => Some(RequesterPlan::Existing(actor)),
        };
    };
    // UNCONFIRMED: an email is required (Zendesk's matching rules for `requester` are not
    // documented; without an email there is nothing to match on).
    let email = match req.email.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::blank(
                "requester",
                "Requester: Email: cannot be blank",
            ));
            return None;
        }
        Some(e) if !is_valid_email(e) => {
            errors.push(FieldError::invalid(
                "requester",
                format!("Requester: Email: {e} is not properly formatted"),
            ));
            return None;
        }
        Some(e) => e,
    };
    let plan = match store.user_by_email(email) {
        // UNCONFIRMED: an existing user keeps its name.
        Some(u) => RequesterPlan::Existing(u.id),
        None => match req.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => RequesterPlan::New {
                name: name.to_owned(),
                email: email.to_owned(),
            },
            // UNCONFIRMED: a new user needs a name (UserForAdmin requires `name`).
            None => {
                errors.push(FieldError::blank(
                    "requester",
                    "Requester: Name: is too short (minimum is 1 character)",
                ));
                return None;
            }
        },
    };
    // UNCONFIRMED: `requester` and `requester_id` naming different users is refused rather
    // than one silently winning.
    if let Some(id) = input.requester_id {
        if !matches!(plan, RequesterPlan::Existing(found) if found == id) {
            errors.push(FieldError::invalid(
                "requester_id",
                "Requester: requester_id does not match requester",
            ));
            return None;
        }
    }
    Some(plan)
}

/// The assignee from `assignee_id` and/or `assignee_email`; both must name an agent or admin.
pub(super) fn resolve_assignee(
    store: &Store,
    input: &TicketInput,
    errors: &mut Vec<FieldError>,
) -> Patch<u64> {
    let by_email = match input.assignee_email.as_deref() {
        None => None,
        Some(email) => match store.user_by_email(email) {
            Some(u) if u.role.is_staff() => Some(u.id),
            Some(u) => {
                errors.push(FieldError::invalid(
                    "assignee_email",
                    format!("Assignee: {} is not an agent", u.name),
                ));
                return None;
            }
            None => {
                errors.push(FieldError::invalid(
                    "assignee_email",
                    "Assignee: is invalid",
                ));
                return None;
            }
        },
    };
    match (input.assignee_id, by_email) {
        (Some(id), Some(email_id)) if id != Some(email_id) => {
            errors.push(FieldError::invalid(
                "assignee_id",
                "Assignee: assignee_id does not match assignee_email",
            ));
            None
        }
        (Some(Some(id)), _) => match store.users.get(&id) {
            Some(u) if u.role.is_staff() => Some(Some(id)),
            Some(u) => {
                errors.push(FieldError::invalid(
                    "assignee_id",
                    format!("Assignee: {} is not an agent", u.name),
                ));
                None
            }
            None => {
                errors.push(FieldError::invalid("assignee_id", "Assignee: is invalid"));
                None
            }
        },
        (Some(None), _) => Some(None),
        (None, Some(email_id)) => Some(Some(email_id)),
        (None, None) => None,
    }
}

pub(super) fn check_user_exists(
    store: &Store,
    id: u64,
    field: &'static str,
    errors: &mut Vec<FieldError>,
) {
    if !store.users.contains_key(&id) {
        errors.push(FieldError::invalid(
            field,
            format!("{}: is invalid", ticket_input::label(field)),
        ));
    }
}
