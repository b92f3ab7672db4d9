//! Stopping on a signal: SIGTERM (what service managers and `kill` send) or Ctrl-C. The first
//! asks the node loop to stop gracefully (a leader hands off leadership first, see
//! [`crate::handoff`]); a second stops at once. Storage is closed by the caller once the loop has
//! returned: the storage thread finishes the writes it was handed and exits.

use crate::node::{LoopError, Request};
use std::future::Future;
use tokio::sync::mpsc;

/// Waits for SIGTERM or Ctrl-C; names the one that came.
pub(crate) async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "interrupt",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops gracefully");
                let _ = tokio::signal::ctrl_c().await;
                "interrupt"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}

/// Runs the node loop until it returns, asking it to stop on the first signal and giving up on
/// it at the second.
pub(crate) async fn run_until_signal(
    node_loop: impl Future<Output = Result<(), LoopError>>,
    requests: mpsc::Sender<Request>,
) -> Result<(), LoopError> {
    tokio::pin!(node_loop);
    tokio::select! {
        result = &mut node_loop => return result,
        signal = signal() => tracing::info!(signal, "stopping gracefully"),
    }
    if requests.send(Request::Shutdown).await.is_err() {
        return Ok(());
    }
    tokio::select! {
        result = &mut node_loop => result,
        signal = signal() => {
            tracing::info!(signal, "asked again: stopping now");
            Ok(())
        }
    }
}
