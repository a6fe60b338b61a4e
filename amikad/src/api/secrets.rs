//! Secret endpoints. Values come in with `PUT` and never go out.

use std::sync::Arc;

use amika_api::SetSecret;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::reply::{failure, json, no_content, Reply};
use super::{blocking, read_json};
use crate::service::Service;

/// `GET /v1/secrets`.
pub async fn list(service: Arc<Service>) -> Reply {
    match blocking(move || service.list_secrets()).await {
        Ok(secrets) => json(StatusCode::OK, &secrets),
        Err(e) => failure(&e),
    }
}

/// `PUT /v1/secrets/{name}` with a [`SetSecret`] body.
pub async fn set(service: Arc<Service>, name: &str, request: Request<Incoming>) -> Reply {
    let body: SetSecret = match read_json(request).await {
        Ok(body) => body,
        Err(e) => return failure(&e),
    };
    let name = name.to_owned();
    match blocking(move || service.set_secret(&name, &body)).await {
        Ok(secret) => json(StatusCode::OK, &secret),
        Err(e) => failure(&e),
    }
}

/// `DELETE /v1/secrets/{name}`.
pub async fn delete(service: Arc<Service>, name: &str) -> Reply {
    let name = name.to_owned();
    match blocking(move || service.delete_secret(&name)).await {
        Ok(()) => no_content(),
        Err(e) => failure(&e),
    }
}
