//! What operators and load balancers ask: `GET /readyz` (should this process get traffic?) and
//! `GET /metrics` (Prometheus), and the middleware that counts every request by route.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::AppState;
use crate::metrics::{Metrics, CONTENT_TYPE};

/// How long `/readyz` waits for the database before calling it unavailable.
const DATABASE_CHECK: Duration = Duration::from_secs(2);

/// Whether the process is shutting down (set once, on SIGTERM).
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// `200 {"status":"ready"}` when the database answers with every migration applied and the
/// process is not shutting down; otherwise `503 {"status":"not_ready","reason":…}`.
pub async fn readyz(State(app): State<AppState>) -> Response {
    let reason = if app.draining.is_on() {
        Some("draining: the process is shutting down")
    } else {
        match tokio::time::timeout(DATABASE_CHECK, app.jobs.store().migrations_current()).await {
            Ok(Ok(true)) => None,
            Ok(Ok(false)) => Some("database migrations are not current"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: the database failed");
                Some("the database does not answer")
            }
            Err(_) => Some("the database does not answer in time"),
        }
    };
    match reason {
        None => Json(json!({"status": "ready"})).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": reason})),
        )
            .into_response(),
    }
}

/// The metrics in the OpenMetrics text format; with `METRICS_TOKEN` set, only for
/// `Authorization: Bearer <token>`.
pub async fn metrics(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = &app.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !token.matches(presented) {
            return Err(ApiError::Unauthorized(
                "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>".into(),
            ));
        }
    }
    let body = app.metrics.render(app.jobs.store()).await;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}

/// Counts each answered request by method, matched route template (`unmatched` for unknown
/// paths: never the raw path, which would make a series per id) and status.
pub async fn count_requests(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let method = match *req.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::DELETE
        | Method::PATCH
        | Method::HEAD
        | Method::OPTIONS => req.method().as_str().to_owned(),
        _ => "other".to_owned(),
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let resp = next.run(req).await;
    metrics.request(&method, &route, resp.status().as_u16());
    if let Some(limit) = resp.extensions().get::<crate::limits::Limit>() {
        metrics.refused(*limit);
    }
    resp
}
