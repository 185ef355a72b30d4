//! The HTTP client of both upstreams: hyper's pooled client over rustls (webpki roots), fed
//! requests whose URI is already final text.
//!
//! Not reqwest, which the sandbox and the tests use: it parses every request's URL three more
//! times (its own `Url`, the `Uri` for hyper, and again in its redirect layer, on the way out
//! and on the way back). IM's URLs carry the admin UserSig, a few hundred characters, so that
//! parsing cost more than the rest of the call. Here a URI is parsed once, by `http`.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// Largest response body read (Zendesk's biggest, a page of 100 comments, is far below).
const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A failed exchange. Never carries the request's URI (IM's holds the admin UserSig).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("the request URI is invalid")]
    Uri,
    #[error("timed out")]
    Timeout,
    /// No connection was made: the request was not sent.
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Transport(String),
    #[error("could not set up TLS: {0}")]
    Tls(String),
}

/// A response, read whole.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One pooled client, shared by both upstreams; cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    pub fn new() -> Result<Self, HttpError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| HttpError::Tls(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Self { inner })
    }

    /// Sends `method uri` with `headers` and, when given, a JSON `body`; reads the whole
    /// response within `timeout`.
    pub async fn send(
        &self,
        method: Method,
        uri: String,
        headers: HeaderMap,
        json: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        let uri = http::Uri::try_from(uri).map_err(|_| HttpError::Uri)?;
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(h) = req.headers_mut() {
            *h = headers;
            h.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
            if json.is_some() {
                h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
        }
        let req = req
            .body(Full::new(Bytes::from(json.unwrap_or_default())))
            .map_err(|_| HttpError::Uri)?;
        let exchange = async {
            let resp = self.inner.request(req).await.map_err(|e| {
                if e.is_connect() {
                    HttpError::Connect(chain(&e))
                } else {
                    HttpError::Transport(chain(&e))
                }
            })?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| HttpError::Transport(format!("reading the response: {e}")))?
                .to_bytes();
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        // Boxed, so that the futures of the clients' calls (and of the jobs holding them) stay
        // small: a future is moved whole as it is nested, and hyper's exchange is large.
        Box::pin(tokio::time::timeout(timeout, exchange))
            .await
            .unwrap_or(Err(HttpError::Timeout))
    }
}

const USER_AGENT_VALUE: &str = concat!("ticket-bridge/", env!("CARGO_PKG_VERSION"));

/// An error with its causes ("client error (Connect): tcp connect error: Connection refused").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// `value` as it goes in a query string: as it is when every byte is unreserved (UserIDs and
/// UserSigs normally are: a UserSig's base64 uses `*`, `-` and `_`), percent-encoded otherwise.
pub(crate) fn query_value(value: &str) -> std::borrow::Cow<'_, str> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_');
    if value.bytes().all(unreserved) {
        return value.into();
    }
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::query_value;

    #[test]
    fn query_values_are_encoded_only_when_they_need_it() {
        assert!(matches!(
            query_value("eJw*-_.9"),
            std::borrow::Cow::Borrowed("eJw*-_.9")
        ));
        assert_eq!(query_value("a b&c=d+é"), "a%20b%26c%3Dd%2B%C3%A9");
    }
}
