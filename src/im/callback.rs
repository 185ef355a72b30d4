//! Tencent IM's third-party callbacks as they arrive (specs/tencent-im.md §5): the query's
//! `SdkAppid`, `Sign` and `RequestTime` are checked before the body is read, then the body is
//! read as the one command the bridge acts on, `Group.CallbackAfterSendMsg`.
//!
//! Authentication (§5.2): `Sign` = lower-hex SHA-256 of the callback token followed by the
//! decimal `RequestTime`; a `RequestTime` more than 60 s from now is refused as stale or
//! replayed. The comparison is constant-time.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The command the bridge acts on; every other one is acknowledged and ignored.
pub const AFTER_SEND_MSG: &str = "Group.CallbackAfterSendMsg";
/// How far `RequestTime` may be from now, either way (§5.2).
pub const MAX_SKEW_SECS: i64 = 60;

/// Why a callback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("missing query parameter {0}")]
    Missing(&'static str),
    #[error("the callback is for another IM application (SdkAppid {0})")]
    OtherApp(String),
    #[error("RequestTime is not a Unix time in seconds")]
    BadTime,
    #[error("RequestTime is {0} s away from now (more than 60 s): stale or replayed")]
    Stale(i64),
    #[error("the Sign does not match (wrong callback token)")]
    BadSign,
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the body is not a {AFTER_SEND_MSG} event: {0}")]
    NotAnEvent(String),
}

/// The query parameters IM appends to the callback URL (§5.1, §5.2).
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    #[serde(rename = "SdkAppid")]
    pub sdkappid: Option<String>,
    #[serde(rename = "CallbackCommand")]
    pub command: Option<String>,
    #[serde(rename = "Sign")]
    pub sign: Option<String>,
    #[serde(rename = "RequestTime")]
    pub request_time: Option<String>,
    #[serde(rename = "OptPlatform")]
    pub platform: Option<String>,
}

/// `Sign` for a token and request time: lower-hex SHA-256 of `token ‖ request_time`.
pub fn sign(token: &str, request_time: &str) -> String {
    let digest = Sha256::new()
        .chain_update(token.as_bytes())
        .chain_update(request_time.as_bytes())
        .finalize();
    crate::hex::lower(&digest)
}

/// Checks that a callback comes from our IM application, signed with `token`, at Unix second
/// `now`.
pub fn verify(
    token: &Secret,
    sdkappid: u64,
    query: &CallbackQuery,
    now: i64,
) -> Result<(), CallbackError> {
    let app = query
        .sdkappid
        .as_deref()
        .ok_or(CallbackError::Missing("SdkAppid"))?;
    if app.trim() != sdkappid.to_string() {
        return Err(CallbackError::OtherApp(app.chars().take(20).collect()));
    }
    let time = query
        .request_time
        .as_deref()
        .ok_or(CallbackError::Missing("RequestTime"))?;
    let signed = query
        .sign
        .as_deref()
        .ok_or(CallbackError::Missing("Sign"))?;
    let at: i64 = time.trim().parse().map_err(|_| CallbackError::BadTime)?;
    if (now - at).abs() > MAX_SKEW_SECS {
        return Err(CallbackError::Stale(now - at));
    }
    let expected = sign(token.expose(), time);
    if crate::secret::constant_time_eq(
        expected.as_bytes(),
        signed.trim().to_ascii_lowercase().as_bytes(),
    ) {
        Ok(())
    } else {
        Err(CallbackError::BadSign)
    }
}

/// A group message IM reports as sent (`Group.CallbackAfterSendMsg`, §5.5).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SentGroupMessage {
    #[serde(rename = "GroupId")]
    pub group_id: String,
    #[serde(rename = "From_Account")]
    pub from: String,
    #[serde(rename = "Operator_Account", default)]
    pub operator: String,
    #[serde(rename = "Random", default, deserialize_with = "whole")]
    pub random: u64,
    #[serde(rename = "MsgSeq", deserialize_with = "whole")]
    pub seq: u64,
    /// Unix seconds.
    #[serde(rename = "MsgTime", default, deserialize_with = "whole")]
    pub time: u64,
    #[serde(rename = "OnlineOnlyFlag", default, deserialize_with = "whole")]
    pub online_only: u8,
    #[serde(rename = "MsgBody")]
    pub body: Vec<Value>,
}

/// An integer field, also when written `7.0`.
fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let n = serde_json::Number::deserialize(d)?;
    crate::upstream::whole_number(&n)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| D::Error::custom(format!("{n} is not an integer in range")))
}

/// A verified callback's body.
#[derive(Debug, Clone, PartialEq)]
pub enum CallbackBody {
    /// A `Group.CallbackAfterSendMsg` body (its `CallbackCommand` says so, or it has none).
    Sent(SentGroupMessage),
    /// The body of another command, which the bridge acknowledges and ignores.
    Other { command: String },
}

/// Reads a verified body: a JSON object, and when it is (or does not say it is not) a
/// `Group.CallbackAfterSendMsg`, every field the bridge reads, of its type. IM writes the
/// command in the body as in the query; the body's decides how it is read.
pub fn parse_body(body: &[u8]) -> Result<CallbackBody, CallbackError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| CallbackError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(CallbackError::NotAnEvent(
            "the body is not a JSON object".into(),
        ));
    }
    match value.get("CallbackCommand") {
        Some(Value::String(c)) if c != AFTER_SEND_MSG => {
            return Ok(CallbackBody::Other { command: c.clone() })
        }
        None | Some(Value::String(_)) => {}
        Some(other) => {
            return Err(CallbackError::NotAnEvent(format!(
                "CallbackCommand must be a string, got {other}"
            )))
        }
    }
    let msg: SentGroupMessage =
        serde_json::from_value(value).map_err(|e| CallbackError::NotAnEvent(e.to_string()))?;
    // Element contents are kept as IM sent them, but each element is one: a type and content.
    if let Some(bad) = msg.body.iter().position(|e| {
        !e.get("MsgType").is_some_and(Value::is_string) || e.get("MsgContent").is_none()
    }) {
        return Err(CallbackError::NotAnEvent(format!(
            "MsgBody[{bad}] is not an element with MsgType and MsgContent"
        )));
    }
    Ok(CallbackBody::Sent(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(app: &str, time: &str, sign: &str) -> CallbackQuery {
        CallbackQuery {
            sdkappid: Some(app.into()),
            command: Some(AFTER_SEND_MSG.into()),
            sign: Some(sign.into()),
            request_time: Some(time.into()),
            platform: Some("Web".into()),
        }
    }

    #[test]
    fn the_documented_vectors_sign() {
        assert_eq!(
            sign("xxxxyyyy", "1669872112"),
            "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
        );
        assert_eq!(
            sign("my-callback-token", "1700000000"),
            "b145a99441cf7737a44b911519aaf59b34cad5cfe5b58c39ff8d5138b81c269a"
        );
    }

    #[test]
    fn forged_stale_and_other_app_callbacks_are_refused() {
        let token = Secret::new("xxxxyyyy");
        let good = sign("xxxxyyyy", "1669872112");
        let now = 1_669_872_112;
        assert_eq!(
            verify(&token, 1400, &query("1400", "1669872112", &good), now + 60),
            Ok(())
        );
        let upper = good.to_ascii_uppercase();
        assert_eq!(
            verify(&token, 1400, &query("1400", "1669872112", &upper), now),
            Ok(())
        );
        let cases = [
            (
                query("1401", "1669872112", &good),
                now,
                CallbackError::OtherApp("1401".into()),
            ),
            (
                query("1400", "1669872112", &good),
                now + 61,
                CallbackError::Stale(61),
            ),
            (
                query("1400", "1669872112", &good),
                now - 61,
                CallbackError::Stale(-61),
            ),
            (query("1400", "soon", &good), now, CallbackError::BadTime),
            (
                query("1400", "1669872113", &good),
                now,
                CallbackError::BadSign,
            ),
            (
                query("1400", "1669872112", "00"),
                now,
                CallbackError::BadSign,
            ),
        ];
        for (q, at, want) in cases {
            assert_eq!(verify(&token, 1400, &q, at), Err(want));
        }
        assert_eq!(
            verify(
                &Secret::new("other"),
                1400,
                &query("1400", "1669872112", &good),
                now
            ),
            Err(CallbackError::BadSign)
        );
        let unsigned = CallbackQuery {
            sign: None,
            ..query("1400", "1669872112", "")
        };
        assert_eq!(
            verify(&token, 1400, &unsigned, now),
            Err(CallbackError::Missing("Sign"))
        );
        assert_eq!(
            verify(&token, 1400, &CallbackQuery::default(), now),
            Err(CallbackError::Missing("SdkAppid"))
        );
    }

    #[test]
    fn after_send_msg_bodies_are_read() {
        let body = br#"{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"ZENDESK#7","Type":"Public","From_Account":"alice","Operator_Account":"alice","Random":42,"MsgSeq":3,"MsgTime":1700000000,"OnlineOnlyFlag":0,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}],"EventTime":1700000000123}"#;
        let Ok(CallbackBody::Sent(m)) = parse_body(body) else {
            panic!("a message")
        };
        assert_eq!(
            (m.group_id.as_str(), m.from.as_str(), m.seq),
            ("ZENDESK#7", "alice", 3)
        );
        assert_eq!(m.body.len(), 1);
        assert!(matches!(
            parse_body(b"{nope"),
            Err(CallbackError::NotJson(_))
        ));
        for bad in [
            &br#"{"GroupId":"x"}"#[..],
            b"[]",
            br#"{"CallbackCommand":7}"#,
        ] {
            assert!(matches!(parse_body(bad), Err(CallbackError::NotAnEvent(_))));
        }
        assert_eq!(
            parse_body(br#"{"CallbackCommand":"Group.CallbackAfterNewMemberJoin"}"#),
            Ok(CallbackBody::Other {
                command: "Group.CallbackAfterNewMemberJoin".into()
            })
        );
    }

    #[test]
    fn integers_written_as_decimals_are_integers_and_elements_are_elements() {
        let body = |seq: &str, element: &str| {
            format!(
                r#"{{"GroupId":"g","From_Account":"a","MsgSeq":{seq},"OnlineOnlyFlag":0.0,"MsgBody":[{element}]}}"#
            )
        };
        let text = r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}"#;
        let Ok(CallbackBody::Sent(m)) = parse_body(body("3.0", text).as_bytes()) else {
            panic!("a message")
        };
        assert_eq!(m.seq, 3);
        for (seq, element) in [
            ("3.5", text),
            ("-1", text),
            ("3", r#"{"MsgType":{},"MsgContent":{}}"#),
            ("3", r#"{"MsgType":"TIMTextElem"}"#),
            ("3", "7"),
        ] {
            assert!(
                matches!(
                    parse_body(body(seq, element).as_bytes()),
                    Err(CallbackError::NotAnEvent(_))
                ),
                "{seq} {element}"
            );
        }
    }
}
