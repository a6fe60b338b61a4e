//! `POST /v1/sandboxes/{ref}/exec`: a command's streams carried over an upgraded connection.
//!
//! The command is planned and spawned before the `101` goes out, so that every failure to
//! start is an ordinary JSON error. After the upgrade, [`crate::api::session`] pumps frames
//! until the command exits; if the client goes away first the helper is killed, and with it
//! (by its parent-death signal) the command.

use std::sync::Arc;

use amika_api::exec::UPGRADE_PROTOCOL;
use amika_api::ExecRequest;
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::reply::{failure, Reply};
use super::session::Session;
use super::{blocking, read_json};
use crate::error::Error;
use crate::service::Service;

/// Handles an exec request.
pub async fn exec(service: Arc<Service>, reference: &str, mut request: Request<Incoming>) -> Reply {
    if !wants_upgrade(&request) {
        return failure(&Error::InvalidRequest(format!(
            "exec needs 'Connection: Upgrade' and 'Upgrade: {UPGRADE_PROTOCOL}'"
        )));
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    let body: ExecRequest = match read_json(request).await {
        Ok(body) => body,
        Err(e) => return failure(&e),
    };
    let reference = reference.to_owned();
    let plan = match blocking(move || service.plan_exec(&reference, &body)).await {
        Ok(plan) => plan,
        Err(e) => return failure(&e),
    };
    let session = match Session::spawn(plan) {
        Ok(session) => session,
        Err(e) => return failure(&e),
    };
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => session.run(TokioIo::new(upgraded)).await,
            Err(e) => {
                tracing::warn!(error = %e, "exec upgrade failed; ending the command");
                session.abort().await;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, UPGRADE_PROTOCOL)
        .body(super::reply::empty())
        .unwrap_or_else(|e| failure(&Error::Internal(e.to_string())))
}

fn wants_upgrade(request: &Request<Incoming>) -> bool {
    let has = |name: header::HeaderName, value: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case(value)))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, UPGRADE_PROTOCOL)
}
