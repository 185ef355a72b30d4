//! Identifier newtypes, validated when built.

use std::fmt;

/// A Zendesk ticket id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct TicketId(pub u64);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a string is not a valid IM UserID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImUserIdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 32 bytes (IM's limit), got {0}")]
    TooLong(usize),
    #[error("must be printable ASCII (0x20-0x7e)")]
    NotPrintableAscii,
}

/// A Tencent IM UserID: 1–32 bytes of printable ASCII (IM's own rule, specs/tencent-im.md §1.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImUserId(String);

impl TryFrom<String> for ImUserId {
    type Error = ImUserIdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ImUserId> for String {
    fn from(id: ImUserId) -> Self {
        id.0
    }
}

impl ImUserId {
    pub fn parse(s: &str) -> Result<Self, ImUserIdError> {
        if s.is_empty() {
            return Err(ImUserIdError::Empty);
        }
        if s.len() > 32 {
            return Err(ImUserIdError::TooLong(s.len()));
        }
        if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(ImUserIdError::NotPrintableAscii);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The IM group of a ticket: `ZENDESK#<ticket id>`, the id the reference backend's clients expect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupId(String);

impl GroupId {
    pub const PREFIX: &'static str = "ZENDESK#";

    pub fn for_ticket(ticket: TicketId) -> Self {
        Self(format!("{}{}", Self::PREFIX, ticket.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ticket of a `ZENDESK#<id>` group id; `None` for any other group.
    pub fn ticket_of(group_id: &str) -> Option<TicketId> {
        let digits = group_id.strip_prefix(Self::PREFIX)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(TicketId)
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn im_user_ids_follow_ims_rule() {
        assert!(ImUserId::parse("alice_01-x@example.com").is_ok());
        assert!(ImUserId::parse(&"a".repeat(32)).is_ok());
        assert_eq!(ImUserId::parse(""), Err(ImUserIdError::Empty));
        assert_eq!(
            ImUserId::parse(&"a".repeat(33)),
            Err(ImUserIdError::TooLong(33))
        );
        assert_eq!(
            ImUserId::parse("tab\there"),
            Err(ImUserIdError::NotPrintableAscii)
        );
        assert_eq!(ImUserId::parse("é"), Err(ImUserIdError::NotPrintableAscii));
    }

    #[test]
    fn group_id_is_derived_from_the_ticket() {
        assert_eq!(GroupId::for_ticket(TicketId(123)).as_str(), "ZENDESK#123");
        assert_eq!(GroupId::ticket_of("ZENDESK#123"), Some(TicketId(123)));
        for other in [
            "ZENDESK#",
            "ZENDESK#12a",
            "ZENDESK#+1",
            "@TGS#123",
            "zendesk#1",
        ] {
            assert_eq!(GroupId::ticket_of(other), None, "{other}");
        }
    }
}
