//! The route table: the only place that maps a method and path onto a handler.

use std::sync::Arc;

use amika_api::ErrorCode;
use hyper::body::Incoming;
use hyper::{Method, Request};

use super::reply::{api_failure, Reply};
use super::{events, exec, images, logs, repositories, sandboxes, secrets, snapshots, status};
use crate::service::Service;

/// Dispatches one request.
pub async fn route(service: Arc<Service>, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = request.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["v1", "status"]) => status::get(service).await,
        (&Method::GET, ["v1", "events"]) => events::stream(service).await,

        (&Method::GET, ["v1", "images"]) => images::list(service).await,
        (&Method::GET, ["v1", "images", name]) => images::show(service, name).await,
        (&Method::POST, ["v1", "images", "build"]) => images::build(service, request).await,
        (&Method::PUT, ["v1", "images", name]) => images::import(service, name, request).await,
        (&Method::DELETE, ["v1", "images", name]) => images::delete(service, name).await,

        (&Method::GET, ["v1", "sandboxes"]) => sandboxes::list(service).await,
        (&Method::POST, ["v1", "sandboxes"]) => sandboxes::create(service, request).await,
        (&Method::GET, ["v1", "sandboxes", r]) => sandboxes::show(service, r).await,
        (&Method::POST, ["v1", "sandboxes", r, "start"]) => sandboxes::start(service, r).await,
        (&Method::POST, ["v1", "sandboxes", r, "stop"]) => {
            sandboxes::stop(service, r, request).await
        }
        (&Method::POST, ["v1", "sandboxes", r, "exec"]) => exec::exec(service, r, request).await,
        (&Method::GET, ["v1", "sandboxes", r, "scrub-preview"]) => {
            snapshots::scrub_preview(service, r).await
        }
        (&Method::GET, ["v1", "snapshots"]) => {
            let query = request.uri().query().map(str::to_owned);
            snapshots::list(service, query.as_deref()).await
        }
        (&Method::POST, ["v1", "snapshots"]) => snapshots::create(service, request).await,
        (&Method::GET, ["v1", "snapshots", r]) => snapshots::show(service, r).await,
        (&Method::DELETE, ["v1", "snapshots", r]) => snapshots::delete(service, r).await,
        (&Method::DELETE, ["v1", "sandboxes", r]) => {
            let force = query_flag(request.uri().query(), "force");
            sandboxes::delete(service, r, force).await
        }

        (&Method::GET, ["v1", "sandboxes", r, "logs", "setup"]) => {
            let follow = query_flag(request.uri().query(), "follow");
            logs::setup(service, r, follow).await
        }

        (&Method::GET, ["v1", "repositories"]) => repositories::list(service).await,
        (&Method::GET, ["v1", "repositories", r]) => repositories::show(service, r).await,
        (&Method::PUT, ["v1", "repositories", r, "default-snapshot"]) => {
            repositories::set_default(service, r, request).await
        }
        (&Method::DELETE, ["v1", "repositories", r, "default-snapshot"]) => {
            repositories::clear_default(service, r).await
        }
        (&Method::GET, ["v1", "repositories", r, "snapshots"]) => {
            repositories::snapshots(service, r).await
        }

        (&Method::GET, ["v1", "secrets"]) => secrets::list(service).await,
        (&Method::PUT, ["v1", "secrets", name]) => secrets::set(service, name, request).await,
        (&Method::DELETE, ["v1", "secrets", name]) => secrets::delete(service, name).await,

        (
            _,
            ["v1", "status" | "events" | "images" | "sandboxes" | "snapshots" | "secrets" | "repositories", ..],
        ) => api_failure(
            ErrorCode::InvalidRequest,
            format!("{method} is not supported on {path}"),
        ),
        _ => api_failure(
            ErrorCode::NotFound,
            format!("no API route {path}; this daemon serves /v1"),
        ),
    }
}

/// True when `name=true` (or a bare `name`) appears in the query string.
pub fn query_flag(query: Option<&str>, name: &str) -> bool {
    query.unwrap_or("").split('&').any(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
        key == name && matches!(value, "true" | "1" | "yes")
    })
}

#[cfg(test)]
mod tests {
    use super::query_flag;

    #[test]
    fn query_flags() {
        assert!(query_flag(Some("force=true"), "force"));
        assert!(query_flag(Some("a=1&force"), "force"));
        assert!(!query_flag(Some("force=false"), "force"));
        assert!(!query_flag(None, "force"));
    }
}
