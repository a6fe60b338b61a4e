//! The HTTP/1.1 + JSON API on a Unix socket.
//!
//! Handlers decode the request, call one service function on a blocking thread, and encode
//! the result; the rules live in [`crate::service`]. Every request is logged once, with its
//! method, path, status and duration. Each connection's peer is checked first ([`access`]);
//! a refused peer gets a 403 for every request it sends, and one log line.

pub mod access;
mod events;
mod exec;
mod images;
mod logs;
pub mod reply;
mod repositories;
mod routes;
mod sandboxes;
mod secrets;
mod session;
mod snapshots;
mod status;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use amika_api::ErrorCode;

use crate::error::{Error, Result};
use crate::service::Service;

/// The largest JSON request body accepted: room for a setup script of the largest size
/// allowed, escaped.
const MAX_JSON_BODY: usize = 4 << 20;

/// How long in-flight requests may run after a shutdown signal.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish, up to a deadline.
pub async fn serve(listener: UnixListener, service: Arc<Service>, shutdown: impl Future) {
    // Connections may be upgraded (interactive sessions), which hyper's own graceful helper
    // does not cover, so each connection task watches this flag and drains itself.
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, _)) => {
                        let task = connection(stream, service.clone(), stopping_rx.clone());
                        connections.spawn(task);
                    }
                    Err(e) => tracing::warn!(error = %e, "accept failed"),
                }
                while connections.try_join_next().is_some() {}
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(
        connections = connections.len(),
        "stopped accepting; draining"
    );
    let _ = stopping_tx.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_DEADLINE, drained).await.is_err() {
        tracing::warn!(deadline = ?DRAIN_DEADLINE, "requests still running at the deadline");
        connections.abort_all();
    }
}

async fn connection(
    stream: UnixStream,
    service: Arc<Service>,
    mut stopping: watch::Receiver<bool>,
) {
    let refusal = match access::check(&stream).await {
        Ok(()) => None,
        Err(refusal) => {
            tracing::warn!(
                user = %refusal.user,
                uid = refusal.uid,
                pid = refusal.pid,
                "refused a caller outside group {}",
                access::GROUP
            );
            Some(Arc::new(refusal))
        }
    };
    let handler = service_fn(move |request| {
        let service = service.clone();
        let refusal = refusal.clone();
        async move {
            let reply = match refusal {
                Some(refusal) => refused(&refusal, &request),
                None => logged(service, request).await,
            };
            Ok::<_, std::convert::Infallible>(reply)
        }
    });
    let connection = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), handler)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = async { drop(stopping.wait_for(|s| *s).await) } => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

async fn logged(service: Arc<Service>, request: Request<Incoming>) -> reply::Reply {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let reply = routes::route(service, request).await;
    tracing::info!(
        %method,
        %path,
        status = reply.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    reply
}

/// The answer to every request from a refused caller; the refusal was logged once already.
fn refused(refusal: &access::Refusal, request: &Request<Incoming>) -> reply::Reply {
    tracing::debug!(method = %request.method(), path = request.uri().path(), "refused");
    reply::api_failure(ErrorCode::Forbidden, refusal.message.clone())
}

/// Runs a synchronous service call on the blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Error::Internal(format!("service task failed: {e}"))))
}

/// The percent-decoded value of `name` in a query string, if present and not empty.
pub fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name && !value.is_empty()).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads and decodes a JSON request body, with a size limit.
pub async fn read_json<T: DeserializeOwned>(request: Request<Incoming>) -> Result<T> {
    let body = Limited::new(request.into_body(), MAX_JSON_BODY)
        .collect()
        .await
        .map_err(|e| Error::InvalidRequest(format!("reading the request body: {e}")))?
        .to_bytes();
    // An empty body means "all defaults", so `curl -X POST` works without `-d '{}'`.
    let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
    serde_json::from_slice(body)
        .map_err(|e| Error::InvalidRequest(format!("invalid JSON request: {e}")))
}
