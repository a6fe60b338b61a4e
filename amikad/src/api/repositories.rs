//! Repository endpoints. A reference is an id, a URL or a name, percent-encoded into one
//! path segment.

use std::sync::Arc;

use amika_api::paths::decode_segment;
use amika_api::SetDefaultSnapshot;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::reply::{failure, json, Reply};
use super::{blocking, read_json};
use crate::error::{Error, Result};
use crate::service::Service;

fn decode(segment: &str) -> Result<String> {
    decode_segment(segment).ok_or_else(|| {
        Error::InvalidRequest(format!("repository reference '{segment}' is badly encoded"))
    })
}

/// `GET /v1/repositories`.
pub async fn list(service: Arc<Service>) -> Reply {
    match blocking(move || service.list_repositories()).await {
        Ok(list) => json(StatusCode::OK, &list),
        Err(e) => failure(&e),
    }
}

/// `GET /v1/repositories/{ref}`.
pub async fn show(service: Arc<Service>, segment: &str) -> Reply {
    let reference = match decode(segment) {
        Ok(r) => r,
        Err(e) => return failure(&e),
    };
    match blocking(move || service.repository(&reference)).await {
        Ok(repository) => json(StatusCode::OK, &repository),
        Err(e) => failure(&e),
    }
}

/// `PUT /v1/repositories/{ref}/default-snapshot`.
pub async fn set_default(
    service: Arc<Service>,
    segment: &str,
    request: Request<Incoming>,
) -> Reply {
    let reference = match decode(segment) {
        Ok(r) => r,
        Err(e) => return failure(&e),
    };
    let body: SetDefaultSnapshot = match read_json(request).await {
        Ok(body) => body,
        Err(e) => return failure(&e),
    };
    match blocking(move || service.set_default_snapshot(&reference, &body.snapshot)).await {
        Ok(repository) => json(StatusCode::OK, &repository),
        Err(e) => failure(&e),
    }
}

/// `DELETE /v1/repositories/{ref}/default-snapshot`.
pub async fn clear_default(service: Arc<Service>, segment: &str) -> Reply {
    let reference = match decode(segment) {
        Ok(r) => r,
        Err(e) => return failure(&e),
    };
    match blocking(move || service.clear_default_snapshot(&reference)).await {
        Ok(repository) => json(StatusCode::OK, &repository),
        Err(e) => failure(&e),
    }
}

/// `GET /v1/repositories/{ref}/snapshots`.
pub async fn snapshots(service: Arc<Service>, segment: &str) -> Reply {
    let reference = match decode(segment) {
        Ok(r) => r,
        Err(e) => return failure(&e),
    };
    match blocking(move || service.repository_snapshots(&reference)).await {
        Ok(list) => json(StatusCode::OK, &list),
        Err(e) => failure(&e),
    }
}
