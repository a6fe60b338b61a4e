//! Sandbox endpoints.

use std::sync::Arc;

use std::time::Duration;

use amika_api::{CreateSandbox, StopSandbox};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::reply::{failure, json, no_content, Reply};
use super::{blocking, read_json};
use crate::service::Service;

/// `GET /v1/sandboxes`.
pub async fn list(service: Arc<Service>) -> Reply {
    match blocking(move || service.list_sandboxes()).await {
        Ok(list) => json(StatusCode::OK, &list),
        Err(e) => failure(&e),
    }
}

/// `POST /v1/sandboxes`.
pub async fn create(service: Arc<Service>, request: Request<Incoming>) -> Reply {
    let body: CreateSandbox = match read_json(request).await {
        Ok(body) => body,
        Err(e) => return failure(&e),
    };
    match blocking(move || service.create_sandbox(&body)).await {
        Ok(sandbox) => json(StatusCode::CREATED, &sandbox),
        Err(e) => failure(&e),
    }
}

/// `GET /v1/sandboxes/{ref}`.
pub async fn show(service: Arc<Service>, reference: &str) -> Reply {
    let reference = reference.to_owned();
    match blocking(move || service.sandbox(&reference)).await {
        Ok(sandbox) => json(StatusCode::OK, &sandbox),
        Err(e) => failure(&e),
    }
}

/// `DELETE /v1/sandboxes/{ref}?force=true`.
pub async fn delete(service: Arc<Service>, reference: &str, force: bool) -> Reply {
    let reference = reference.to_owned();
    match blocking(move || service.delete_sandbox(&reference, force)).await {
        Ok(()) => no_content(),
        Err(e) => failure(&e),
    }
}

/// `POST /v1/sandboxes/{ref}/start`.
pub async fn start(service: Arc<Service>, reference: &str) -> Reply {
    let reference = reference.to_owned();
    match blocking(move || service.start_sandbox(&reference)).await {
        Ok(sandbox) => json(StatusCode::OK, &sandbox),
        Err(e) => failure(&e),
    }
}

/// `POST /v1/sandboxes/{ref}/stop`.
pub async fn stop(service: Arc<Service>, reference: &str, request: Request<Incoming>) -> Reply {
    let body: StopSandbox = match read_json(request).await {
        Ok(body) => body,
        Err(e) => return failure(&e),
    };
    let timeout = body
        .timeout_secs
        .map(Duration::from_secs)
        .unwrap_or(crate::service::DEFAULT_STOP_TIMEOUT);
    let reference = reference.to_owned();
    match blocking(move || service.stop_sandbox(&reference, timeout)).await {
        Ok(sandbox) => json(StatusCode::OK, &sandbox),
        Err(e) => failure(&e),
    }
}
