//! Opening an exec session: `POST .../exec` upgraded to a raw byte stream.
//!
//! The pooled client in [`crate::client`] cannot give its connection away, so a session dials
//! the socket itself and speaks HTTP/1.1 on that one connection until the daemon answers
//! `101 Switching Protocols`; from then on the connection carries [`amika_api::stream`]
//! frames. Any other answer is the daemon's ordinary JSON error.

use amika_api::exec::UPGRADE_PROTOCOL;
use amika_api::{paths, ExecRequest};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, UPGRADE, USER_AGENT};
use hyper::upgrade::Upgraded;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

use crate::client::{failure, Client, HINT_DROPPED, USER_AGENT_VALUE};
use crate::error::CtlError;

/// The connection of a running session.
pub type SessionStream = TokioIo<Upgraded>;

/// Asks the daemon to run `request` in the sandbox `reference` and returns the upgraded
/// connection.
pub async fn open_exec(
    client: &Client,
    reference: &str,
    request: &ExecRequest,
) -> Result<SessionStream, CtlError> {
    let http_request = upgrade_request(reference, request)?;
    let socket = UnixStream::connect(client.socket())
        .await
        .map_err(|e| client.connect_failed(&e))?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(socket))
        .await
        .map_err(|e| lost(client, &e))?;
    // The connection task ends when the upgrade hands the socket over; a failure before
    // that surfaces through `send_request` below.
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });

    let response = sender
        .send_request(http_request)
        .await
        .map_err(|e| lost(client, &e))?;
    let status = response.status();
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|e| lost(client, &e))?;
        return Ok(TokioIo::new(upgraded));
    }

    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| lost(client, &e))?
        .to_bytes();
    if status.is_success() {
        return Err(CtlError::BadResponse(format!(
            "exec answered {status} instead of switching to the {UPGRADE_PROTOCOL} protocol"
        )));
    }
    Err(failure(status, &body))
}

/// The `POST .../exec` request asking for the upgrade.
fn upgrade_request(
    reference: &str,
    request: &ExecRequest,
) -> Result<Request<Full<Bytes>>, CtlError> {
    let json = serde_json::to_vec(request)
        .map_err(|e| CtlError::Local(format!("cannot encode the request: {e}")))?;
    Request::builder()
        .method(Method::POST)
        .uri(paths::sandbox_exec(reference))
        // HTTP/1.1 requires a Host; a Unix socket has no name, so any fixed one does.
        .header(HOST, "localhost")
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(CONTENT_TYPE, "application/json")
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, UPGRADE_PROTOCOL)
        .body(Full::new(Bytes::from(json)))
        .map_err(|e| CtlError::Local(format!("cannot build the exec request: {e}")))
}

/// Sorts an HTTP failure on the exec connection: gibberish from the daemon, or a hang-up.
fn lost(client: &Client, err: &hyper::Error) -> CtlError {
    if err.is_parse() {
        return CtlError::BadResponse(err.to_string());
    }
    client.unreachable(format!("the exec request failed ({err})"), HINT_DROPPED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_asks_for_the_amika_stream_upgrade() {
        let exec = ExecRequest {
            command: vec!["id".into()],
            ..ExecRequest::default()
        };
        let request = upgrade_request("box", &exec).unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), "/v1/sandboxes/box/exec");
        let headers = request.headers();
        assert_eq!(headers[CONNECTION], "Upgrade");
        assert_eq!(headers[UPGRADE], "amika-stream");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert!(headers.contains_key(HOST));
    }
}
