//! Fault injection shared by the emulators: latency, canned failures and lost responses.
//!
//! Tests (and the sandbox) arm rules on a [`Faults`] handle; the emulator's router runs every
//! request through [`middleware`], which applies the first matching rule.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What to do to a matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and JSON body without doing the work.
    Respond {
        status: StatusCode,
        body: serde_json::Value,
    },
    /// Answer 429 with `Retry-After`, as a rate-limited upstream does, without doing the work.
    RateLimited { retry_after_secs: u64 },
    /// Do the work (the state changes), then answer 502 as if the response was lost on the way.
    LoseResponse,
    /// Wait this long before handling the request (longer than the client's timeout = a
    /// timeout, and nothing was done).
    Delay(Duration),
    /// Do the work at once, then wait this long before answering (longer than the client's
    /// timeout = a timeout after the upstream did the work, as real servers do).
    SlowResponse(Duration),
}

/// A fault and which requests it applies to.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// Applies to requests whose path contains this string ("" = every request).
    pub path_contains: String,
    pub fault: Fault,
    /// How many requests it applies to; `None` = until cleared.
    pub times: Option<u32>,
}

impl FaultRule {
    /// The next `times` requests (at least one) to paths containing `path_contains` get `fault`.
    pub fn new(path_contains: impl Into<String>, fault: Fault, times: u32) -> Self {
        Self {
            path_contains: path_contains.into(),
            fault,
            times: Some(times.max(1)),
        }
    }

    /// Every request to paths containing `path_contains` gets `fault` until cleared.
    pub fn always(path_contains: impl Into<String>, fault: Fault) -> Self {
        Self {
            path_contains: path_contains.into(),
            fault,
            times: None,
        }
    }
}

#[derive(Debug, Default)]
struct FaultState {
    latency: Duration,
    rules: Vec<FaultRule>,
}

/// The armed faults of one emulator.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

impl Faults {
    /// Every request waits this long before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    pub fn inject(&self, rule: FaultRule) {
        self.lock().rules.push(rule);
    }

    /// Removes every rule and the latency.
    pub fn clear(&self) {
        *self.lock() = FaultState::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        // A panic while holding this lock cannot leave the state half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latency and the fault (if any) for a request to `path`, consuming one use of the rule.
    fn take(&self, path: &str) -> (Duration, Option<Fault>) {
        let mut st = self.lock();
        let latency = st.latency;
        let Some(i) = st
            .rules
            .iter()
            .position(|r| path.contains(&r.path_contains))
        else {
            return (latency, None);
        };
        let fault = st.rules[i].fault.clone();
        if let Some(n) = st.rules[i].times.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.rules.remove(i);
            }
        }
        (latency, Some(fault))
    }
}

/// Axum middleware applying the armed faults; install with
/// `axum::middleware::from_fn_with_state(faults, faults::middleware)`.
pub async fn middleware(State(faults): State<Faults>, req: Request, next: Next) -> Response {
    let (latency, fault) = faults.take(req.uri().path());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        None => next.run(req).await,
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(Fault::Respond { status, body }) => (status, axum::Json(body)).into_response(),
        Some(Fault::RateLimited { retry_after_secs }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "text/plain".to_owned()),
                (header::RETRY_AFTER, retry_after_secs.to_string()),
            ],
            "emulated: rate limit exceeded",
        )
            .into_response(),
        Some(Fault::SlowResponse(d)) => {
            let resp = next.run(req).await;
            tokio::time::sleep(d).await;
            resp
        }
        Some(Fault::LoseResponse) => {
            let _done = next.run(req).await;
            Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from(
                    "emulated: response lost after the work was done",
                ))
                .unwrap_or_default()
        }
    }
}
