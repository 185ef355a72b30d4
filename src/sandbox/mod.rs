//! Emulators of Zendesk and Tencent IM, and the `sandbox` command that runs the bridge against
//! them. The tests run against the same emulators over real HTTP.

pub mod faults;
pub mod im;
mod outbound;
pub mod pages;
pub mod run;
pub mod zendesk;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// An emulator (or any router) served on a local port.
#[derive(Debug)]
pub struct Served {
    pub addr: SocketAddr,
    pub base_url: String,
    task: JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on `127.0.0.1:port` (0 = a free port) until the returned handle is dropped.
/// Handlers can read the peer's address (`ConnectInfo<SocketAddr>`).
pub async fn serve(router: Router, port: u16) -> std::io::Result<Served> {
    serve_on(TcpListener::bind(("127.0.0.1", port)).await?, router)
}

/// Serves `router` on a listener bound earlier (its address was needed before the router).
pub fn serve_on(listener: TcpListener, router: Router) -> std::io::Result<Served> {
    let addr = listener.local_addr()?;
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, service).await {
            tracing::error!(error = %e, "emulator server stopped");
        }
    });
    Ok(Served {
        addr,
        base_url: format!("http://{addr}"),
        task,
    })
}
