//! Snapshot endpoints.

use std::sync::Arc;

use amika_api::CreateSnapshot;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::reply::{failure, json, no_content, Reply};
use super::{blocking, query_value, read_json};
use crate::service::Service;

/// `GET /v1/snapshots?sandbox=S&repo=R`.
pub async fn list(service: Arc<Service>, query: Option<&str>) -> Reply {
    let sandbox = query_value(query, "sandbox");
    let repo = query_value(query, "repo");
    match blocking(move || service.list_snapshots(sandbox.as_deref(), repo.as_deref())).await {
        Ok(list) => json(StatusCode::OK, &list),
        Err(e) => failure(&e),
    }
}

/// `POST /v1/snapshots`: 202 with the snapshot in `capturing`.
pub async fn create(service: Arc<Service>, request: Request<Incoming>) -> Reply {
    let body: CreateSnapshot = match read_json(request).await {
        Ok(body) => body,
        Err(e) => return failure(&e),
    };
    match blocking(move || service.create_snapshot(&body)).await {
        Ok(snapshot) => json(StatusCode::ACCEPTED, &snapshot),
        Err(e) => failure(&e),
    }
}

/// `GET /v1/snapshots/{ref}`.
pub async fn show(service: Arc<Service>, reference: &str) -> Reply {
    let reference = reference.to_owned();
    match blocking(move || service.snapshot(&reference)).await {
        Ok(snapshot) => json(StatusCode::OK, &snapshot),
        Err(e) => failure(&e),
    }
}

/// `DELETE /v1/snapshots/{ref}`: 204 whether or not it existed.
pub async fn delete(service: Arc<Service>, reference: &str) -> Reply {
    let reference = reference.to_owned();
    match blocking(move || service.delete_snapshot(&reference)).await {
        Ok(()) => no_content(),
        Err(e) => failure(&e),
    }
}

/// `GET /v1/sandboxes/{ref}/scrub-preview`.
pub async fn scrub_preview(service: Arc<Service>, reference: &str) -> Reply {
    let reference = reference.to_owned();
    match blocking(move || service.scrub_preview(&reference)).await {
        Ok(preview) => json(StatusCode::OK, &preview),
        Err(e) => failure(&e),
    }
}
