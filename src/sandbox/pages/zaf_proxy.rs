//! The emulated agent workspace's stand-in for Zendesk's app proxy: what `client.request`
//! does for an app (specs/zendesk.md §6.3) — `{{setting.<name>}}` substituted (secure settings
//! included, with `secure: true`, for the whitelisted domain only), a `jwt` option signed HS256
//! with its `secret_key` and put where `{{jwt.token}}` stands, headers with underscores refused
//! — then the request made server-side, so secure settings never reach the browser.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::agent::jwt;
use crate::secret::Secret;

/// How long a proxied JWT lasts when the app gives no `expiry`.
const DEFAULT_EXPIRY_SECS: i64 = 300;

/// Why the proxy refused a request (answered as the request's failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("url is required and must be absolute (http:// or https://)")]
    BadUrl,
    #[error("{0} is not in the app's domainWhitelist: secure settings are not sent there")]
    NotWhitelisted(String),
    #[error("header names may not contain underscores: {0}")]
    Underscore(String),
    #[error("the proxy signs JWTs with HS256 only, not {0}")]
    Algorithm(String),
    #[error("unknown setting {0}")]
    UnknownSetting(String),
    #[error("could not reach {0}")]
    Unreachable(String),
}

/// `client.request` options, as the app sends them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptions {
    #[serde(default)]
    pub url: String,
    #[serde(default, rename = "type")]
    pub method: Option<String>,
    #[serde(default)]
    pub data: Option<Value>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub secure: bool,
    #[serde(default)]
    pub jwt: Option<JwtOption>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct JwtOption {
    #[serde(default)]
    pub algorithm: Option<String>,
    #[serde(default)]
    pub secret_key: String,
    #[serde(default)]
    pub expiry: Option<i64>,
    #[serde(default)]
    pub claims: Map<String, Value>,
}

/// An installation of the app: its settings (secure ones included) and whitelisted domain.
#[derive(Debug, Clone)]
pub struct Installation {
    pub settings: BTreeMap<String, Secret>,
    /// Hosts (`127.0.0.1:15000`) secure settings may be sent to.
    pub domain_whitelist: Vec<String>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Proxied {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Installation {
    /// `options` with settings substituted and the JWT signed, ready to send.
    pub fn prepare(
        &self,
        mut options: RequestOptions,
        now: i64,
    ) -> Result<RequestOptions, ProxyError> {
        if !(options.url.starts_with("http://") || options.url.starts_with("https://")) {
            return Err(ProxyError::BadUrl);
        }
        if let Some(name) = options.headers.keys().find(|h| h.contains('_')) {
            return Err(ProxyError::Underscore(name.clone()));
        }
        if options.secure {
            let host = options
                .url
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default()
                .to_owned();
            if !self.domain_whitelist.contains(&host) {
                return Err(ProxyError::NotWhitelisted(host));
            }
            options.url = self.substitute(&options.url)?;
            for value in options.headers.values_mut() {
                *value = self.substitute(value)?;
            }
            if let Some(Value::String(data)) = &options.data {
                options.data = Some(Value::String(self.substitute(data)?));
            }
        }
        if let Some(j) = options.jwt.take() {
            let algorithm = j.algorithm.as_deref().unwrap_or("HS256");
            if algorithm != "HS256" {
                return Err(ProxyError::Algorithm(algorithm.to_owned()));
            }
            let key = self.substitute(&j.secret_key)?;
            let mut claims = j.claims.clone();
            claims.insert("iat".into(), json!(now));
            claims.insert(
                "exp".into(),
                json!(now + j.expiry.unwrap_or(DEFAULT_EXPIRY_SECS)),
            );
            let token = jwt::sign(&Value::Object(claims), &Secret::new(key));
            options.url = options.url.replace("{{jwt.token}}", &token);
            for value in options.headers.values_mut() {
                *value = value.replace("{{jwt.token}}", &token);
            }
        }
        Ok(options)
    }

    /// Replaces every `{{setting.<name>}}`.
    fn substitute(&self, text: &str) -> Result<String, ProxyError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{{setting.") {
            out.push_str(&rest[..start]);
            let after = &rest[start + "{{setting.".len()..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let name = &after[..end];
            let value = self
                .settings
                .get(name)
                .ok_or_else(|| ProxyError::UnknownSetting(name.to_owned()))?;
            out.push_str(value.expose());
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Makes the prepared request.
pub async fn send(http: &reqwest::Client, options: &RequestOptions) -> Result<Proxied, ProxyError> {
    let method = options
        .method
        .as_deref()
        .unwrap_or("GET")
        .parse::<reqwest::Method>()
        .unwrap_or(reqwest::Method::GET);
    let mut req = http
        .request(method, &options.url)
        .timeout(Duration::from_secs(30));
    for (name, value) in &options.headers {
        req = req.header(name, value);
    }
    if let Some(ct) = &options.content_type {
        req = req.header(reqwest::header::CONTENT_TYPE, ct);
    }
    match &options.data {
        Some(Value::String(s)) => req = req.body(s.clone()),
        Some(other) if !other.is_null() => req = req.body(other.to_string()),
        _ => {}
    }
    let resp = req.send().await.map_err(|e| {
        ProxyError::Unreachable(
            e.url()
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default(),
        )
    })?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.text().await.unwrap_or_default();
    Ok(Proxied {
        status,
        content_type,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installation() -> Installation {
        Installation {
            settings: BTreeMap::from([
                ("bridge_url".into(), Secret::new("http://127.0.0.1:15000")),
                ("shared_secret".into(), Secret::new("s3cret")),
            ]),
            domain_whitelist: vec!["127.0.0.1:15000".into()],
        }
    }

    #[test]
    fn settings_are_substituted_and_the_jwt_signed_with_the_secure_one() {
        let options: RequestOptions = serde_json::from_value(json!({
            "url": "http://127.0.0.1:15000/agent/session", "type": "POST", "secure": true,
            "headers": {"Authorization": "Bearer {{jwt.token}}"},
            "jwt": {"algorithm": "HS256", "secret_key": "{{setting.shared_secret}}", "expiry": 60,
                    "claims": {"ticket_id": 1, "agent_id": 7, "agent_name": "Sam"}}
        }))
        .unwrap();
        let ready = installation().prepare(options, 1_800_000_000).unwrap();
        let token = ready.headers["Authorization"]
            .strip_prefix("Bearer ")
            .unwrap();
        let claims = jwt::verify(token, &Secret::new("s3cret"), 1_800_000_000).unwrap();
        assert_eq!(claims.agent_id, 7);
        assert!(!format!("{ready:?}").contains("{{"));
    }

    #[test]
    fn the_proxy_refuses_what_zendesks_does() {
        let base = |v: Value| -> RequestOptions { serde_json::from_value(v).unwrap() };
        let cases = [
            (base(json!({"url": "/relative"})), ProxyError::BadUrl),
            (
                base(json!({"url": "http://evil.test/x", "secure": true})),
                ProxyError::NotWhitelisted("evil.test".into()),
            ),
            (
                base(json!({"url": "http://127.0.0.1:15000/x", "headers": {"x_token": "1"}})),
                ProxyError::Underscore("x_token".into()),
            ),
            (
                base(
                    json!({"url": "http://127.0.0.1:15000/x", "jwt": {"algorithm": "RS256", "secret_key": "k"}}),
                ),
                ProxyError::Algorithm("RS256".into()),
            ),
            (
                base(json!({"url": "http://127.0.0.1:15000/{{setting.nope}}", "secure": true})),
                ProxyError::UnknownSetting("nope".into()),
            ),
        ];
        for (options, want) in cases {
            assert_eq!(installation().prepare(options, 0).unwrap_err(), want);
        }
        // Without `secure`, nothing is substituted.
        let plain = installation()
            .prepare(
                base(json!({"url": "http://x.test/{{setting.shared_secret}}"})),
                0,
            )
            .unwrap();
        assert!(plain.url.contains("{{setting.shared_secret}}"));
    }
}
