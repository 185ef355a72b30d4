//! Limits every request passes through before its handler: a deadline for the whole body
//! (`BODY_TIMEOUT_SECS`), and requests per second per client address on the public routes
//! (`REQUESTS_PER_IP_PER_SEC`, the client named by a trusted proxy's `X-Forwarded-For`).

use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use tokio::time::Sleep;

use super::error::ApiError;
use super::AppState;
use crate::config::{IpNet, LimitsConfig};
use crate::limits::{Limit, Refusal};
use crate::ratelimit::KeyedPacer;

/// What the request guards need.
#[derive(Clone)]
pub struct Guard {
    /// One pacer per client address; `None` = no per-address limit.
    per_ip: Option<Arc<KeyedPacer<IpAddr>>>,
    trusted_proxies: Arc<[IpNet]>,
    body_timeout: Duration,
}

impl Guard {
    pub fn new(limits: &LimitsConfig) -> Self {
        Self {
            per_ip: limits.requests_per_ip_per_sec.map(|n| {
                // A second's worth at once, then the steady rate.
                Arc::new(KeyedPacer::new(f64::from(n), n))
            }),
            trusted_proxies: limits.trusted_proxies.clone().into(),
            body_timeout: limits.body_timeout,
        }
    }
}

/// The body must arrive in full within `BODY_TIMEOUT_SECS` of the headers; a reader of it
/// gets [`BodyTimedOut`] after that (answered 408 by `ApiError::from(BytesRejection)`).
pub async fn body_deadline(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let timeout = app.guard.body_timeout;
    next.run(req.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        })
    }))
    .await
}

/// The body did not arrive within `BODY_TIMEOUT_SECS`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                crate::limits::refused(Limit::BodyTimeout);
                Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// At most `REQUESTS_PER_IP_PER_SEC` requests per second from one client address.
pub async fn per_client_ip(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(pacers) = &app.guard.per_ip {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(peer) = peer {
            let client = client_ip(peer, req.headers(), &app.guard.trusted_proxies);
            if let Err(wait) = pacers.get(limit_key(client)).try_now() {
                return ApiError::Limited(Refusal::new(Limit::RequestsPerIp, wait)).into_response();
            }
        }
    }
    next.run(req).await
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the last address in
/// `X-Forwarded-For` that is not a trusted proxy (each proxy appends the address it got the
/// request from, so only the entries trusted proxies added can be believed).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => client = ip,
            Ok(ip) => return ip,
            // Not an address: nothing left of it can be believed.
            Err(_) => return client,
        }
    }
    client
}

/// The key one client is limited under: its IPv4 address, or its IPv6 /64 (one subscriber's
/// network: a single host can use all of it).
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = [IpNet::parse("10.0.0.0/8").unwrap()];
        let spoofed = headers(&["6.6.6.6, 1.2.3.4"]);
        // Straight from the client: its header is ignored.
        assert_eq!(client_ip(ip("1.2.3.4"), &spoofed, &trusted), ip("1.2.3.4"));
        assert_eq!(client_ip(ip("10.0.0.1"), &spoofed, &[]), ip("10.0.0.1"));
        // Through the proxy: the entry it added, not what the client wrote before it.
        assert_eq!(client_ip(ip("10.0.0.1"), &spoofed, &trusted), ip("1.2.3.4"));
        // Two trusted proxies, one header each.
        let chained = headers(&["6.6.6.6", "5.5.5.5, 10.0.0.9"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &chained, &trusted), ip("5.5.5.5"));
        // Nothing believable: the last trusted hop.
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers(&["junk, 10.0.0.2"]), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers(&[]), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(limit_key(ip("1.2.3.4")), ip("1.2.3.4"));
    }
}
