//! Builds the service from a [`Config`]: store, clients, router, listener.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::bridge::{Bridge, Greeting};
use crate::config::{ClientAuth, Config};
use crate::http::{self, AppState, ClientAuthCheck};
use crate::im::ImClient;
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
    HttpClient(#[from] reqwest::Error),
}

/// The service, bound to its port and ready to run.
pub struct Application {
    listener: TcpListener,
    port: u16,
    router: axum::Router,
}

impl Application {
    /// Connects and migrates the store, builds the clients and binds `HOST:PORT`
    /// (port 0 = a free port; see [`Application::port`]).
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let store = Store::connect(&config.database_url).await?;
        // One pooled client for both upstreams.
        let http = reqwest::Client::builder()
            .user_agent(concat!("ticket-bridge/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        let signer = UserSigner::new(config.im.sdkappid, config.im.secret_key.clone());
        let im = ImClient::new(
            http.clone(),
            config.im.base_url.clone(),
            config.im.sdkappid,
            AdminSig::new(
                signer.clone(),
                config.im.admin_userid.as_str(),
                ADMIN_SIG_VALIDITY,
            ),
            config.im.timeout,
        );
        let zendesk = ZendeskClient::new(
            http,
            config.zendesk.base_url.clone(),
            config.zendesk.auth.clone(),
            config.zendesk.timeout,
        );
        let auth = match config.client_auth {
            ClientAuth::UserSig => ClientAuthCheck::UserSig(signer),
            ClientAuth::None => {
                tracing::warn!("CLIENT_AUTH=none: anyone can open cases in any user's name; use only for development");
                ClientAuthCheck::Open
            }
        };
        let bridge = Bridge {
            zendesk,
            im,
            store,
            greeting: Greeting {
                text: config.greeting_text.clone(),
                via: config.greeting_via,
            },
        };
        let router = http::router(
            AppState {
                bridge: Arc::new(bridge),
                auth,
            },
            &config.cors_allowed_origins,
        );
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
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then stops accepting and finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
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
