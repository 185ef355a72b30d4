//! The accept loop: at most `MAX_CONNECTIONS` connections served at once (one more is told
//! `503` and closed, without reading it), `HEADER_TIMEOUT_SECS` to send a request's headers
//! (which also closes idle keep-alive connections), the peer address for the handlers, and a
//! graceful stop. `axum::serve` offers none of these limits.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::error::ApiError;
use crate::limits::{refused, Limit, Refusal};
use crate::metrics::Metrics;

/// How long a turned-away connection may take to receive its 503.
const TURN_AWAY_TIME: Duration = Duration::from_secs(1);
/// What a turned-away client is told to wait.
const TURN_AWAY_RETRY: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting and waits for
/// the connections' requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    max_connections: usize,
    header_timeout: Duration,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    let busy = turn_away_response();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or the peer gave up before accept: go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused(Limit::Connections);
            metrics.refused(Limit::Connections);
            tokio::spawn(turn_away(stream, busy.clone()));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                if e.is_timeout() {
                    refused(Limit::HeaderTimeout);
                    metrics.refused(Limit::HeaderTimeout);
                } else {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The raw HTTP/1.1 answer to a connection over the limit: a 503 with `Retry-After` and the
/// JSON error body.
fn turn_away_response() -> Arc<[u8]> {
    let err = ApiError::Limited(Refusal {
        limit: Limit::Connections,
        retry_after: TURN_AWAY_RETRY,
    });
    let body = err.body().to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        err.retry_after_secs().unwrap_or(1),
        body.len()
    )
    .into_bytes()
    .into()
}

/// Answers 503 and closes, within [`TURN_AWAY_TIME`]. The request's head is read first (a
/// client may not expect an answer before it has sent its request), and the rest drained
/// rather than left unread, as closing on unread data resets the connection and the client
/// may lose the answer.
async fn turn_away(mut stream: TcpStream, answer: Arc<[u8]>) {
    let _ = tokio::time::timeout(TURN_AWAY_TIME, async {
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            head.extend_from_slice(&buf[..n]);
        }
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        while stream.read(&mut buf).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
