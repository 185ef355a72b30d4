//! Typed reads of a command's JSON body. Every failure names the field and carries the
//! service's "invalid parameters" code (10004 group, 70402 account, 40001 profile).
//!
//! `null` is a wrong type, not an absent field: the real service's JSON reader has no notion
//! of "optional and null", so a client that serialises `None` as `null` must be caught here.

use serde_json::{Map, Value};

use super::errors::ImError;

/// The body of one request, read with one service's error code.
pub(super) struct Fields<'a> {
    obj: &'a Map<String, Value>,
    bad: u32,
}

impl<'a> Fields<'a> {
    pub fn new(obj: &'a Map<String, Value>, bad: u32) -> Self {
        Self { obj, bad }
    }

    /// The "invalid parameters" error of this service.
    pub fn invalid(&self, info: impl Into<String>) -> ImError {
        ImError::new(self.bad, info)
    }

    fn missing(&self, key: &str) -> ImError {
        self.invalid(format!("{key} is required"))
    }

    pub fn str_req(&self, key: &str) -> Result<&'a str, ImError> {
        self.str_opt(key)?.ok_or_else(|| self.missing(key))
    }

    pub fn str_opt(&self, key: &str) -> Result<Option<&'a str>, ImError> {
        match self.obj.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.invalid(format!("{key} must be a string"))),
        }
    }

    /// An optional string of at most `max` bytes (UTF-8).
    pub fn str_max(&self, key: &str, max: usize) -> Result<Option<&'a str>, ImError> {
        let value = self.str_opt(key)?;
        if let Some(s) = value {
            check_len(s, key, max).map_err(|info| self.invalid(info))?;
        }
        Ok(value)
    }

    /// A required unsigned 32-bit integer (`Random`: 0..=4294967295).
    pub fn u32_req(&self, key: &str) -> Result<u32, ImError> {
        self.u32_opt(key)?.ok_or_else(|| self.missing(key))
    }

    pub fn u32_opt(&self, key: &str) -> Result<Option<u32>, ImError> {
        match self.obj.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.invalid(format!("{key} must be an integer in 0..=4294967295"))),
        }
    }

    pub fn u64_opt(&self, key: &str) -> Result<Option<u64>, ImError> {
        match self.obj.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.invalid(format!("{key} must be a non-negative integer"))),
        }
    }

    /// An optional 0/1 integer flag (`Silence`, `OnlineOnlyFlag`, …); absent = false.
    pub fn flag(&self, key: &str) -> Result<bool, ImError> {
        match self.obj.get(key) {
            None => Ok(false),
            Some(v) => match v.as_u64() {
                Some(0) => Ok(false),
                Some(1) => Ok(true),
                _ => Err(self.invalid(format!("{key} must be 0 or 1"))),
            },
        }
    }

    pub fn array_req(&self, key: &str) -> Result<&'a Vec<Value>, ImError> {
        self.array_opt(key)?.ok_or_else(|| self.missing(key))
    }

    pub fn array_opt(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ImError> {
        match self.obj.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(self.invalid(format!("{key} must be an array"))),
        }
    }

    pub fn object_opt(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, ImError> {
        match self.obj.get(key) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(_) => Err(self.invalid(format!("{key} must be an object"))),
        }
    }

    /// An optional array whose items are all strings.
    pub fn strings_opt(&self, key: &str) -> Result<Option<Vec<&'a str>>, ImError> {
        let Some(items) = self.array_opt(key)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| self.invalid(format!("{key} must hold only strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    pub fn strings_req(&self, key: &str) -> Result<Vec<&'a str>, ImError> {
        self.strings_opt(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional string that must be one of `allowed`.
    pub fn one_of(&self, key: &str, allowed: &[&'static str]) -> Result<Option<&'a str>, ImError> {
        let value = self.str_opt(key)?;
        match value {
            Some(s) if !allowed.contains(&s) => {
                Err(self.invalid(format!("{key} must be one of {}", allowed.join(", "))))
            }
            _ => Ok(value),
        }
    }

    /// `Member_Account` of each `{Member_Account, …}` object in the array `key`.
    pub fn member_accounts(&self, key: &str, items: &'a [Value]) -> Result<Vec<&'a str>, ImError> {
        items
            .iter()
            .map(|item| {
                item.get("Member_Account")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        self.invalid(format!(
                            "every {key} item must be an object with a string Member_Account"
                        ))
                    })
            })
            .collect()
    }
}

/// `Err(info)` when `s` is longer than `max` bytes.
pub(super) fn check_len(s: &str, key: &str, max: usize) -> Result<(), String> {
    if s.len() > max {
        Err(format!("{key} is {} bytes, at most {max} allowed", s.len()))
    } else {
        Ok(())
    }
}

/// Printable ASCII (0x20–0x7e) only.
pub(super) fn is_printable_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// A valid IM UserID: 1–32 bytes of printable ASCII (specs/tencent-im.md §1.1).
pub(super) fn is_valid_user_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && is_printable_ascii(s)
}
