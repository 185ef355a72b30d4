//! The HTTP API: every route is listed in [`router`]; errors become responses in [`error`].

mod agent;
mod auth;
pub mod case_request;
mod create_ticket;
pub mod error;
pub mod guard;
mod im_callback;
mod request_id;
pub mod serve;
mod zendesk_webhook;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Method, Uri};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use agent::AgentApi;
pub use auth::ClientAuthCheck;
use error::ApiError;
pub use guard::Guard;
pub use im_callback::ImCallbackAuth;

use crate::bridge::intake::CaseLimits;
use crate::config::CorsOrigins;
use crate::jobs::Jobs;
use crate::secret::Secret;

/// Largest request body accepted (413 above it).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub jobs: Jobs,
    pub auth: ClientAuthCheck,
    /// How long a request works on a case before answering and finishing it in the background.
    pub deadline: Duration,
    /// Verifies Zendesk's webhook deliveries; `None` = webhooks are refused.
    pub webhook_secret: Option<Secret>,
    /// Verifies Tencent IM's callbacks.
    pub im_callback: ImCallbackAuth,
    /// The agents' sidebar API.
    pub agent: AgentApi,
    /// Body deadline and requests per client address.
    pub guard: Guard,
    /// Cases and open tickets per user.
    pub case_limits: CaseLimits,
}

/// All routes and the layers around them.
pub fn router(state: AppState, cors: &CorsOrigins) -> Router {
    // The routes any client can call are limited per client address; Zendesk's and IM's
    // signed deliveries are not (an unsigned one is refused before anything is written).
    let public = Router::new()
        .route("/createticket", post(create_ticket::create_ticket))
        .route("/agent/session", post(agent::create_session))
        .route("/agent/usersig", get(agent::usersig))
        .route("/agent/tickets/{id}", get(agent::ticket))
        .route(
            "/agent/tickets/{id}/messages",
            get(agent::messages).post(agent::post_message),
        )
        .route("/agent/tickets/{id}/take", post(agent::take))
        .route("/agent/tickets/{id}/events", get(agent::events))
        .route_layer(from_fn_with_state(state.clone(), guard::per_client_ip));
    let router = Router::new()
        .merge(public)
        .route("/webhooks/zendesk", post(zendesk_webhook::zendesk_webhook))
        .route("/callbacks/im", post(im_callback::im_callback))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(state.clone(), guard::body_deadline))
        .with_state(state);
    let router = match cors_layer(cors) {
        Some(layer) => router.layer(layer),
        None => router,
    };
    router
        .layer(TraceLayer::new_for_http().make_span_with(request_id::span))
        .layer(PropagateRequestIdLayer::new(
            request_id::X_REQUEST_ID.clone(),
        ))
        .layer(SetRequestIdLayer::new(
            request_id::X_REQUEST_ID.clone(),
            request_id::RandomRequestId,
        ))
}

/// Liveness: the process is up and serving.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("{method} {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn cors_layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow_origin = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().filter_map(|o| o.parse().ok())),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("last-event-id"),
                request_id::X_REQUEST_ID.clone(),
            ])
            .expose_headers([request_id::X_REQUEST_ID.clone(), header::RETRY_AFTER]),
    )
}
