//! `GET /v1/status`.

use std::sync::Arc;

use hyper::StatusCode;

use super::blocking;
use super::reply::{json, Reply};
use crate::service::Service;

/// The daemon's status.
pub async fn get(service: Arc<Service>) -> Reply {
    match blocking(move || service.status()).await {
        Ok(status) => json(StatusCode::OK, &status),
        Err(e) => super::reply::failure(&e),
    }
}
