//! The Tencent IM REST client.
//!
//! Every call is `POST {base}/v4/{service}/{command}?sdkappid&identifier&usersig&random&contenttype=json`
//! as the app admin (specs/tencent-im.md §2.1). IM answers HTTP 200 for every API-level result
//! and puts the outcome in the body's `ErrorCode`, so errors are classified from the code:
//! [`ImError::is_retryable`] says whether trying again later can help.
//!
//! Error policy: the admin UserSig travels in the query string, so transport errors are stripped
//! of their URL before they are kept or logged.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::types::*;
use crate::metrics::{Metrics, Service};
use crate::ratelimit::KeyedPacer;
use crate::secret::Secret;
use crate::upstream::{observed, query_value, HttpClient, HttpError};
use crate::usersig::AdminSig;

/// Codes whose descriptions say "retry" (internal errors, timeouts, frequency limits),
/// specs/tencent-im.md §2.5.
const RETRYABLE_CODES: &[i64] = &[
    10002, 10006, 10023, 20004, 20005, 30006, 30007, 40006, 50004, 50005, 60007, 60008, 60011,
    60018, 60019, 70169, 70500, 90992, 90994, 90995, 91000,
];
/// The admin UserSig expired or was invalidated: a fresh sig fixes it.
const RENEW_SIG_CODES: &[i64] = &[70001, 70052];
/// IM says the app calls too often: everyone backs off for a second.
const FREQUENCY_CODES: &[i64] = &[10006, 10023, 60007, 60011, 60018, 60019];
const FREQUENCY_PAUSE: Duration = Duration::from_secs(1);

/// An IM call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ImError {
    #[error("IM {command} failed with code {code}: {info}")]
    Api {
        command: &'static str,
        code: i64,
        info: String,
    },
    #[error("IM {command} answered HTTP {status}")]
    Http { command: &'static str, status: u16 },
    #[error("IM {command} did not answer in time")]
    Timeout { command: &'static str },
    /// The bridge's own pacing could not fit the call in before its deadline.
    #[error("IM {command} is over the bridge's rate budget; retry in {}ms", retry_after.as_millis())]
    RateLimited {
        command: &'static str,
        retry_after: Duration,
    },
    #[error("could not reach IM for {command}: {detail}")]
    Transport {
        command: &'static str,
        detail: String,
    },
    /// `add_group_member` answered OK but did not add this account (result 0 or 3).
    #[error("IM did not add {account} to the group")]
    NotAdded { account: String },
    #[error("unexpected answer from IM {command}: {detail}")]
    Decode {
        command: &'static str,
        detail: String,
    },
}

impl ImError {
    /// Whether the same call may succeed later (timeouts, transport, 5xx, internal and
    /// frequency-limit codes); otherwise the request itself is wrong and retrying won't help.
    pub fn is_retryable(&self) -> bool {
        match self {
            ImError::Api { code, .. } => {
                RETRYABLE_CODES.contains(code) || RENEW_SIG_CODES.contains(code)
            }
            ImError::Http { status, .. } => *status >= 500 || *status == 429,
            ImError::Timeout { .. } | ImError::Transport { .. } | ImError::RateLimited { .. } => {
                true
            }
            ImError::Decode { .. } | ImError::NotAdded { .. } => false,
        }
    }

    /// The error's class, as the `outcome` of the call in the metrics.
    pub fn class(&self) -> &'static str {
        match self {
            ImError::Api { .. } => "api_error",
            ImError::Http { .. } => "http_error",
            ImError::Timeout { .. } => "timeout",
            ImError::RateLimited { .. } => "rate_limited",
            ImError::Transport { .. } => "transport",
            ImError::NotAdded { .. } => "not_added",
            ImError::Decode { .. } => "decode",
        }
    }

    /// IM's error code, for API-level failures.
    pub fn code(&self) -> Option<i64> {
        match self {
            ImError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T, E = ImError> = std::result::Result<T, E>;

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "ErrorCode", default)]
    error_code: i64,
    #[serde(rename = "ErrorInfo", default)]
    error_info: String,
}

#[derive(Deserialize)]
struct Empty {}

/// Calls the IM REST API as the app admin.
pub struct ImClient {
    http: HttpClient,
    base_url: String,
    sdkappid: u64,
    admin: AdminSig,
    timeout: Duration,
    pacers: Option<KeyedPacer>,
    metrics: Option<Metrics>,
    /// The request URL's query up to `random=`, written for the UserSig it carries (again
    /// only when the sig changes).
    url_query: std::sync::Mutex<Option<(Secret, Arc<str>)>>,
}

impl std::fmt::Debug for ImClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImClient")
            .field("base_url", &self.base_url)
            .field("sdkappid", &self.sdkappid)
            .field("admin", &self.admin.admin())
            .finish_non_exhaustive()
    }
}

impl ImClient {
    /// `http` is the process's shared, pooled client; `timeout` bounds each call.
    pub fn new(
        http: HttpClient,
        base_url: impl Into<String>,
        sdkappid: u64,
        admin: AdminSig,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            base_url: base_url.into(),
            sdkappid,
            admin,
            timeout,
            pacers: None,
            metrics: None,
            url_query: std::sync::Mutex::default(),
        }
    }

    /// Reports every request sent to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Keeps each REST command under `per_second` calls a second (IM limits most commands
    /// to 200/s per app).
    pub fn with_rate_limit(mut self, per_second: u32) -> Self {
        let per_second = per_second.max(1);
        self.pacers = Some(KeyedPacer::new(
            f64::from(per_second),
            per_second.div_ceil(10),
        ));
        self
    }

    /// The admin account the bridge acts as.
    pub fn admin(&self) -> &str {
        self.admin.admin()
    }

    /// Creates the account (idempotent). Without `nick` an existing profile is left as it is.
    pub async fn account_import(&self, user_id: &str, nick: Option<&str>) -> Result<()> {
        self.call::<Empty>(
            "im_open_login_svc/account_import",
            &AccountImport { user_id, nick },
        )
        .await
        .map(drop)
    }

    /// Creates the group; returns its id.
    pub async fn create_group(&self, group: &NewGroup) -> Result<String> {
        let body = CreateGroup {
            group_type: &group.group_type,
            name: &group.name,
            group_id: &group.group_id,
            apply_join_option: &group.apply_join_option,
            introduction: group.introduction.as_deref(),
            member_list: group
                .members
                .iter()
                .map(|m| Member { member_account: m })
                .collect(),
        };
        self.call::<CreateGroupResponse>("group_open_http_svc/create_group", &body)
            .await
            .map(|r| r.group_id.unwrap_or_else(|| group.group_id.clone()))
    }

    pub async fn add_group_member(
        &self,
        group_id: &str,
        members: &[&str],
        silence: bool,
    ) -> Result<Vec<MemberResult>> {
        let body = AddGroupMember {
            group_id,
            silence: u8::from(silence),
            member_list: members
                .iter()
                .map(|m| Member { member_account: m })
                .collect(),
        };
        self.call::<AddGroupMemberResponse>("group_open_http_svc/add_group_member", &body)
            .await
            .map(|r| r.member_list)
    }

    /// Removes members; removing someone who is not a member succeeds.
    pub async fn delete_group_member(
        &self,
        group_id: &str,
        members: &[&str],
        reason: Option<&str>,
        silence: bool,
    ) -> Result<()> {
        let body = DeleteGroupMember {
            group_id,
            silence: u8::from(silence),
            reason,
            members,
        };
        self.call::<Empty>("group_open_http_svc/delete_group_member", &body)
            .await
            .map(drop)
    }

    pub async fn send_group_msg(&self, msg: &TextMessage) -> Result<SentMessage> {
        let body = SendGroupMsg {
            group_id: &msg.group_id,
            from_account: msg.from.as_deref(),
            random: msg.random,
            msg_body: [TextElem {
                msg_type: "TIMTextElem",
                msg_content: TextContent { text: &msg.text },
            }],
            cloud_custom_data: msg.cloud_custom_data.as_deref(),
            forbid_callback_control: FORBID_CALLBACKS,
        };
        self.call("group_open_http_svc/send_group_msg", &body).await
    }

    /// A system notice to every member (closed to IM customers who started after 2024).
    pub async fn send_group_system_notification(
        &self,
        group_id: &str,
        content: &str,
    ) -> Result<()> {
        self.call::<Empty>(
            "group_open_http_svc/send_group_system_notification",
            &SystemNotification { group_id, content },
        )
        .await
        .map(drop)
    }

    /// Up to 50 groups; each entry carries its own error code (non-zero = no such group).
    pub async fn get_group_info(&self, group_ids: &[&str]) -> Result<Vec<GroupInfo>> {
        self.call::<GetGroupInfoResponse>(
            "group_open_http_svc/get_group_info",
            &GetGroupInfo {
                group_id_list: group_ids,
            },
        )
        .await
        .map(|r| r.group_info)
    }

    /// Mutes (or unmutes) every member but the owner and admins.
    pub async fn mute_all(&self, group_id: &str, mute: bool) -> Result<()> {
        self.call::<Empty>(
            "group_open_http_svc/modify_group_base_info",
            &MuteAll {
                group_id,
                mute_all_member: if mute { "On" } else { "Off" },
            },
        )
        .await
        .map(drop)
    }

    pub async fn destroy_group(&self, group_id: &str) -> Result<()> {
        self.call::<Empty>(
            "group_open_http_svc/destroy_group",
            &GroupIdOnly { group_id },
        )
        .await
        .map(drop)
    }

    /// Up to `count` (≤ 20) messages, newest first, with seq ≤ `before_seq` when given.
    pub async fn group_msg_get_simple(
        &self,
        group_id: &str,
        count: u32,
        before_seq: Option<u64>,
    ) -> Result<History> {
        self.call(
            "group_open_http_svc/group_msg_get_simple",
            &GroupMsgGetSimple {
                group_id,
                req_msg_number: count,
                req_msg_seq: before_seq,
            },
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip(self, body), err(level = "debug"))]
    async fn call<T: DeserializeOwned>(
        &self,
        command: &'static str,
        body: &impl Serialize,
    ) -> Result<T> {
        if let Some(pacers) = &self.pacers {
            pacers
                .get(command)
                .acquire(tokio::time::Instant::now() + self.timeout)
                .await
                .map_err(|retry_after| ImError::RateLimited {
                    command,
                    retry_after,
                })?;
        }
        observed(
            self.metrics.as_ref(),
            Service::Im,
            command,
            ImError::class,
            self.send(command, body),
        )
        .await
    }

    /// `<base>/v4/<command>?sdkappid=…&identifier=…&usersig=…&contenttype=json&random=…`.
    fn url(&self, command: &'static str) -> String {
        let usersig = self.admin.get();
        let mut cache = self
            .url_query
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let query = match &*cache {
            Some((sig, query)) if sig.expose() == usersig.expose() => query.clone(),
            _ => {
                let query: Arc<str> = format!(
                    "?sdkappid={}&identifier={}&usersig={}&contenttype=json&random=",
                    self.sdkappid,
                    query_value(self.admin.admin()),
                    query_value(usersig.expose()),
                )
                .into();
                *cache = Some((usersig, query.clone()));
                query
            }
        };
        drop(cache);
        format!(
            "{}/v4/{command}{query}{}",
            self.base_url.trim_end_matches('/'),
            rand::random::<u32>()
        )
    }

    /// Sends one request as the admin and reads IM's envelope.
    async fn send<T: DeserializeOwned>(
        &self,
        command: &'static str,
        body: &impl Serialize,
    ) -> Result<T> {
        let json = serde_json::to_vec(body).map_err(|e| ImError::Decode {
            command,
            detail: e.to_string(),
        })?;
        let response = self
            .http
            .send(
                Method::POST,
                self.url(command),
                HeaderMap::new(),
                Some(json),
                self.timeout,
            )
            .await
            .map_err(|e| transport_error(command, e))?;
        if !response.status.is_success() {
            return Err(ImError::Http {
                command,
                status: response.status.as_u16(),
            });
        }
        let bytes = response.body;
        let decode = |e: serde_json::Error| ImError::Decode {
            command,
            detail: e.to_string(),
        };
        let envelope: Envelope = serde_json::from_slice(&bytes).map_err(decode)?;
        if envelope.error_code != 0 {
            if RENEW_SIG_CODES.contains(&envelope.error_code) {
                self.admin.renew();
            }
            if let (Some(pacers), true) =
                (&self.pacers, FREQUENCY_CODES.contains(&envelope.error_code))
            {
                pacers.get(command).pause(FREQUENCY_PAUSE);
            }
            return Err(ImError::Api {
                command,
                code: envelope.error_code,
                info: envelope.error_info,
            });
        }
        serde_json::from_slice(&bytes).map_err(decode)
    }
}

fn transport_error(command: &'static str, e: HttpError) -> ImError {
    match e {
        HttpError::Timeout => ImError::Timeout { command },
        e => ImError::Transport {
            command,
            detail: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::usersig::UserSigner;

    #[test]
    fn debug_output_hides_the_key_and_the_admin_sig() {
        let admin = AdminSig::new(
            UserSigner::new(1, Secret::new("im-secret-key")),
            "administrator",
            Duration::from_secs(3600),
        );
        let sig = admin.get();
        let c = ImClient::new(
            HttpClient::new().unwrap(),
            "https://x",
            1,
            admin,
            Duration::from_secs(1),
        );
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("im-secret-key") && !dbg.contains(sig.expose()),
            "{dbg}"
        );
    }

    #[test]
    fn codes_are_classified() {
        let api = |code| ImError::Api {
            command: "c",
            code,
            info: String::new(),
        };
        for code in [10002, 60007, 70169, 90994, 70001] {
            assert!(api(code).is_retryable(), "{code}");
        }
        for code in [10004, 10019, 10021, 70009, 60010] {
            assert!(!api(code).is_retryable(), "{code}");
        }
    }
}
