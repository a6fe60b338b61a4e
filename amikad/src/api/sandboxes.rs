//! Sandbox endpoints.

use std::sync::Arc;

use std::time::Duration;

use amika_api::sandbox::CREATE_ARCHIVE_CONTENT_TYPE;
use amika_api::{CreateSandbox, StopSandbox};
use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{header, Request, StatusCode};
use tokio_util::io::{StreamReader, SyncIoBridge};

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

/// `POST /v1/sandboxes`: a JSON [`CreateSandbox`], or a create archive that carries a local
/// repository (`application/x-tar`).
pub async fn create(service: Arc<Service>, request: Request<Incoming>) -> Reply {
    let is_archive = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(CREATE_ARCHIVE_CONTENT_TYPE));
    if is_archive {
        let stream = request
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other);
        // The archive is read on a blocking thread that pulls the body through the bridge.
        let mut reader = SyncIoBridge::new(StreamReader::new(stream));
        let created = blocking(move || {
            let upload = service.read_create_upload(&mut reader)?;
            service.create_sandbox_with_upload(&upload)
        });
        return match created.await {
            Ok(sandbox) => json(StatusCode::CREATED, &sandbox),
            Err(e) => failure(&e),
        };
    }
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
