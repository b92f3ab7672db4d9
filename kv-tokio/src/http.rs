//! The client port: HTTP/1.1 connections served with hyper, each bounded in time and in number.
//!
//! A client has [`HttpLimits::header_timeout`] to send a request's headers (hyper closes the
//! connection otherwise, also between requests on a kept-alive connection), and a request has
//! [`HttpLimits::request_timeout`] from its headers to its answer (else `408`). At most
//! [`HttpLimits::max_connections`] connections are served at once; one more is closed as soon as
//! it is accepted, with a log line at most once a second.

use crate::throttle::Throttle;
use axum::http::StatusCode;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::timeout::TimeoutLayer;

/// How the client port bounds its clients.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HttpLimits {
    pub(crate) header_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_connections: usize,
}

/// Serves `app` on `listener` until the process stops.
pub(crate) async fn serve(listener: TcpListener, app: Router, limits: HttpLimits) {
    let app = app
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        // Outermost, so that the timeout's empty 408 gets the one error shape too.
        .layer(axum::middleware::map_response(
            crate::http_error::json_errors,
        ));
    let service = TowerToHyperService::new(app);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut refusals = Throttle::new(Duration::from_secs(1));
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to be closed.
                tracing::warn!(error = %e, "accepting a client connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if let Some(held_back) = refusals.allow() {
                tracing::warn!(
                    %addr,
                    limit = limits.max_connections,
                    held_back,
                    "client port at its connection limit (--max-http-connections); refusing a connection"
                );
            }
            continue;
        };
        let service = service.clone();
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%addr, error = %e, "client connection ended with an error");
            }
            drop(slot);
        });
    }
}
