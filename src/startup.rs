//! Builds the service from a [`Config`]: store, clients, router, listener.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::bridge::assignment::AssignmentRules;
use crate::bridge::conversation::ConversationRules;
use crate::bridge::intake::CaseLimits;
use crate::bridge::{Bridge, CaseWaiters, Greeting};
use crate::config::{ClientAuth, Config, LimitsConfig};
use crate::http::{
    self, AgentApi, AppState, ClientAuthCheck, Draining, Guard, ImCallbackAuth, Shared,
};
use crate::im::ImClient;
use crate::jobs::Jobs;
use crate::limits::StreamSlots;
use crate::metrics::Metrics;
use crate::retention::{self, RetentionPolicy};
use crate::store::{Store, StoreError};
use crate::usersig::{AdminSig, UserSigner};
use crate::zendesk::ZendeskClient;

/// Validity of the admin UserSig used for IM REST calls; renewed when a quarter is left.
const ADMIN_SIG_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not open the database: {0}")]
    Store(#[from] StoreError),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("could not build the HTTP client: {0}")]
    HttpClient(#[from] crate::upstream::HttpError),
}

/// The parts every command shares: the store, the bridge over both upstream clients, and the
/// job runner.
pub struct Components {
    pub store: Store,
    pub bridge: Arc<Bridge>,
    pub jobs: Jobs,
    /// What `/metrics` reports; the clients and the bridge count into it.
    pub metrics: Metrics,
}

impl Components {
    /// Connects and migrates the store and builds the clients.
    pub async fn build(config: &Config) -> Result<Self, StartupError> {
        let store = Store::connect_with(config.database_url.expose(), &config.database).await?;
        let metrics = Metrics::new();
        if plaintext_remote(&config.im.base_url) {
            tracing::warn!(im = %config.im.base_url, "IM_BASE_URL is plain http to another host: the admin UserSig travels unencrypted");
        }
        // One pooled client for both upstreams.
        let http = crate::upstream::HttpClient::new()?;
        let signer = UserSigner::new(config.im.sdkappid, config.im.secret_key.clone());
        let im = ImClient::new(
            http.clone(),
            config.im.base_url.clone(),
            config.im.sdkappid,
            AdminSig::new(signer, config.im.admin_userid.as_str(), ADMIN_SIG_VALIDITY),
            config.im.timeout,
        )
        .with_rate_limit(config.im.rate_limit_per_sec)
        .with_metrics(metrics.clone());
        let zendesk = ZendeskClient::new(
            http,
            config.zendesk.base_url.clone(),
            config.zendesk.auth.clone(),
            config.zendesk.timeout,
        )
        .with_rate_limit(config.zendesk.rate_limit_rpm)
        .with_metrics(metrics.clone());
        let bridge = Arc::new(Bridge {
            zendesk,
            im,
            store: store.clone(),
            greeting: Greeting {
                text: config.greeting_text.clone(),
                via: config.greeting_via,
            },
            assignment: AssignmentRules {
                agent_prefix: config.assignment.agent_prefix.clone(),
                remove_previous_assignee: config.assignment.remove_previous_assignee,
                mute_closed_groups: config.assignment.mute_closed_groups,
                join_notice: config.assignment.join_notice.clone(),
                solved_notice: config.assignment.solved_notice.clone(),
                closed_notice: config.assignment.closed_notice.clone(),
            },
            conversation: ConversationRules {
                batch_window_ms: config.conversation.batch_window.as_millis() as i64,
                ticket_updates_per_10min: config.conversation.ticket_updates_per_10min,
                account_updates_per_min: config.conversation.account_updates_per_min,
                command_prefix: config.conversation.command_prefix.clone(),
            },
            case_waiters: CaseWaiters::default(),
            metrics: metrics.clone(),
        });
        let jobs = Jobs::new(store.clone(), bridge.clone(), config.job_lease);
        Ok(Self {
            store,
            bridge,
            jobs,
            metrics,
        })
    }
}

/// The service, bound to its port and ready to run.
pub struct Application {
    listener: TcpListener,
    port: u16,
    router: axum::Router,
    limits: LimitsConfig,
    metrics: Metrics,
    jobs: Jobs,
    job_workers: usize,
    shutdown_grace: Duration,
    sweep_interval: Duration,
    shutdown_drain: Duration,
    draining: Draining,
    retention: RetentionPolicy,
}

impl Application {
    /// Builds the [`Components`] and binds `HOST:PORT` (port 0 = a free port; see
    /// [`Application::port`]).
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let parts = Components::build(&config).await?;
        // Before the port opens: work other replicas record from now on wakes this one.
        parts.store.listen(config.database_url.expose()).await;
        let auth = match config.client_auth {
            ClientAuth::UserSig => ClientAuthCheck::UserSig(UserSigner::new(
                config.im.sdkappid,
                config.im.secret_key.clone(),
            )),
            ClientAuth::None => {
                tracing::warn!("CLIENT_AUTH=none: anyone can open cases in any user's name; use only for development");
                ClientAuthCheck::Open
            }
        };
        let draining = Draining::default();
        let router = http::router(
            AppState::new(Shared {
                jobs: parts.jobs.clone(),
                metrics: parts.metrics.clone(),
                metrics_token: config.metrics_token.clone(),
                draining: draining.clone(),
                auth,
                deadline: config.request_deadline,
                webhook_secret: config.assignment.webhook_secret.clone(),
                im_callback: ImCallbackAuth {
                    sdkappid: config.im.sdkappid,
                    token: config.conversation.callback_token.clone(),
                },
                agent: AgentApi::new(
                    config.zaf_shared_secret.clone(),
                    config.agent_session,
                    UserSigner::new(config.im.sdkappid, config.im.secret_key.clone()),
                    config.im.sdkappid,
                    StreamSlots::new(config.limits.streams_per_agent),
                ),
                guard: Guard::new(&config.limits),
                case_limits: CaseLimits::new(
                    config.limits.cases_per_user_per_hour,
                    config.limits.open_tickets_per_user,
                ),
            }),
            &config.cors_allowed_origins,
        );
        if config.conversation.callback_token.is_none() {
            tracing::warn!("IM_CALLBACK_TOKEN is not set: Tencent IM's callbacks are refused and chat messages reach tickets only through the periodic sweep");
        }
        if config.assignment.webhook_secret.is_none() {
            tracing::warn!("ZENDESK_WEBHOOK_SECRET is not set: Zendesk's webhooks are refused and agents are not invited (run `ticket-bridge setup-zendesk`)");
        }
        let addr = format!("{}:{}", config.host, config.port);
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();
        tracing::info!(
            port,
            zendesk = %config.zendesk.base_url,
            im = %config.im.base_url,
            "ticket-bridge listening"
        );
        Ok(Self {
            listener,
            port,
            router,
            limits: config.limits,
            metrics: parts.metrics,
            jobs: parts.jobs,
            job_workers: config.job_workers,
            shutdown_grace: config.shutdown_grace,
            sweep_interval: config.conversation.sweep_interval,
            shutdown_drain: config.shutdown_drain,
            draining,
            retention: config.retention.clone(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves and runs the job workers (and the retention task) until `shutdown` resolves;
    /// then drains (`/readyz` answers 503 while the process goes on serving for
    /// `SHUTDOWN_DRAIN_SECS`), stops accepting, finishes the requests in flight, gives running
    /// jobs `SHUTDOWN_GRACE_SECS` and hands back whatever is unfinished for the next start.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let sweep = tokio::spawn(
            self.jobs
                .clone()
                .sweep(self.sweep_interval, stopped.clone()),
        );
        let pruning = tokio::spawn(retention::run(
            self.jobs.store().clone(),
            self.retention.clone(),
            stopped.clone(),
        ));
        let workers = tokio::spawn(self.jobs.clone().run_workers(
            self.job_workers,
            stopped,
            self.shutdown_grace,
        ));
        let (draining, drain) = (self.draining.clone(), self.shutdown_drain);
        let drained = async move {
            shutdown.await;
            draining.start();
            if !drain.is_zero() {
                tracing::info!(
                    drain_secs = drain.as_secs(),
                    "draining: /readyz answers 503; still serving"
                );
                tokio::time::sleep(drain).await;
            }
        };
        http::serve::serve(
            self.listener,
            self.router,
            self.limits.max_connections,
            self.limits.header_timeout,
            self.metrics,
            drained,
        )
        .await;
        let _ = stop.send(true);
        sweep.abort();
        pruning.abort();
        if let Err(e) = workers.await {
            tracing::error!(error = %e, "job workers stopped abnormally");
        }
        // Jobs that requests were still running in the background finish or go back too.
        self.jobs.stop(self.shutdown_grace).await;
        Ok(())
    }
}

/// An `http://` URL to anything but this machine.
fn plaintext_remote(url: &str) -> bool {
    url.strip_prefix("http://").is_some_and(|rest| {
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        !matches!(host, "127.0.0.1" | "localhost" | "[") && !host.starts_with("127.")
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_remote_plain_http_is_flagged() {
        assert!(super::plaintext_remote("http://im.example.com/v4"));
        assert!(!super::plaintext_remote("https://im.example.com"));
        assert!(!super::plaintext_remote("http://127.0.0.1:9000"));
        assert!(!super::plaintext_remote("http://localhost:9000"));
    }
}
