//! The HTTP API: every route is declared once in `routes!` ([`ROUTES`]), as `openapi.yaml`
//! describes it; errors become responses in [`error`].

mod agent;
mod auth;
pub mod case_request;
mod create_ticket;
pub mod error;
pub mod guard;
mod im_callback;
mod operations;
mod request_id;
pub mod serve;
mod zendesk_webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Method, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
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
pub use operations::Draining;

use crate::bridge::intake::CaseLimits;
use crate::config::CorsOrigins;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::secret::Secret;

/// Largest request body accepted (413 above it).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler can reach. Shared behind one `Arc`: axum clones the state for every
/// layer and route a request passes (over a hundred times per `/createticket`), and a clone
/// of the fields themselves costs a reference count each.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of [`AppState`].
pub struct Shared {
    pub jobs: Jobs,
    pub metrics: Metrics,
    /// `None` = `/metrics` is open.
    pub metrics_token: Option<Secret>,
    /// Set on SIGTERM: `/readyz` answers 503 from then on.
    pub draining: Draining,
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

/// Declares every route once: [`ROUTES`] lists them (the contract test compares it with
/// `openapi.yaml`), `public_routes` and `other_routes` add them to the router. A route added
/// anywhere else would escape that check.
macro_rules! routes {
    (
        public { $($pm:ident $pp:literal => $ph:path,)* }
        other { $($om:ident $op:literal => $oh:path,)* }
    ) => {
        /// Every `(method, path)` the bridge serves, in axum's path syntax.
        pub const ROUTES: &[(&str, &str)] =
            &[$((stringify!($pm), $pp),)* $((stringify!($om), $op),)*];

        /// The routes any client can call.
        fn public_routes(router: Router<AppState>) -> Router<AppState> {
            router$(.route($pp, axum::routing::$pm($ph)))*
        }

        /// Zendesk's and IM's signed deliveries, and the operations routes.
        fn other_routes(router: Router<AppState>) -> Router<AppState> {
            router$(.route($op, axum::routing::$om($oh)))*
        }
    };
}

routes! {
    public {
        post "/createticket" => create_ticket::create_ticket,
        post "/agent/session" => agent::create_session,
        get "/agent/usersig" => agent::usersig,
        get "/agent/tickets/{id}" => agent::ticket,
        get "/agent/tickets/{id}/messages" => agent::messages,
        post "/agent/tickets/{id}/messages" => agent::post_message,
        post "/agent/tickets/{id}/take" => agent::take,
        get "/agent/tickets/{id}/events" => agent::events,
    }
    other {
        post "/webhooks/zendesk" => zendesk_webhook::zendesk_webhook,
        post "/callbacks/im" => im_callback::im_callback,
        get "/healthz" => healthz,
        get "/readyz" => operations::readyz,
        get "/metrics" => operations::metrics,
        get "/openapi.yaml" => openapi,
    }
}

/// The API contract, as built into the binary.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// All routes and the layers around them.
pub fn router(state: AppState, cors: &CorsOrigins) -> Router {
    // The routes any client can call are limited per client address (the layer covers only
    // the routes added before it); Zendesk's and IM's signed deliveries are not (an unsigned
    // one is refused before anything is written), nor the operations routes.
    let public = public_routes(Router::new())
        .route_layer(from_fn_with_state(state.clone(), guard::per_client_ip));
    let router = other_routes(public)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(state.clone(), guard::body_deadline))
        .layer(from_fn_with_state(
            state.metrics.clone(),
            operations::count_requests,
        ))
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

/// `GET /openapi.yaml`: the contract this binary was built with.
async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML)
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
