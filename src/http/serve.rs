//! The accept loop of a listener, in place of `axum::serve`, for what hostile clients need
//! bounded: open connections (`server.max_connections`: beyond it connections wait in the
//! kernel's backlog, never accepted, so the process never runs out of file descriptors) and
//! the time a client has to send a request's headers (`server.header_timeout`, also the
//! longest an idle keep-alive connection is kept). On shutdown it stops accepting and lets
//! the open connections finish their requests.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Largest read buffer of a connection, and so the largest request head (start line and
/// headers) a client can make the process hold.
const MAX_BUF_BYTES: usize = 64 * 1024;

/// Pause after an accept error that is not the client's (out of file descriptors), so the
/// loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// How one listener treats its connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// How long shutdown waits for open connections to finish.
    pub drain_timeout: Duration,
}

/// Serve `app` on `listener` until `stop` is cancelled, then stop accepting and wait (up to
/// `drain_timeout`) for the open connections to finish. `name` names the listener in logs.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_BUF_BYTES);
    let graceful = GracefulShutdown::new();
    loop {
        // A free slot first: a connection is accepted only when it can be served.
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            permit = Arc::clone(&permits).acquire_owned() => {
                permit.expect("the connection semaphore is never closed")
            }
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                tracing::error!(listener = name, %error, "accept error; pausing");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        // Every log line of this connection's requests names the remote address.
        let span = tracing::info_span!("conn", %peer);
        let connection = tracing::Instrument::instrument(connection, span);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(listener = name, %peer, %error, "connection closed on an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            open,
            "connections still open after the shutdown timeout; no longer waiting for them"
        );
    }
}

/// Errors of one connection (the client went away before it was accepted): not the
/// listener's, nothing to wait for.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}
