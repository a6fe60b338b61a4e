//! The HTTP/1.1 client that talks to amikad over its Unix socket.
//!
//! Every call ends in one of three ways: the decoded success body, the daemon's own error
//! ([`CtlError::Api`] or [`CtlError::Status`]), or [`CtlError::Unreachable`] when no answer
//! came back at all.

use std::error::Error as StdError;
use std::io;
use std::path::{Path, PathBuf};

use amika_api::sandbox::CREATE_ARCHIVE_CONTENT_TYPE;
use amika_api::ApiError;
use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::{self, Client as HttpClient};
use hyper_util::rt::TokioExecutor;
use hyperlocal::UnixConnector;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::body::{UploadBody, UploadError};
use crate::compression::Compression;
use crate::error::CtlError;

/// Longest stretch of an unintelligible error body quoted in a message.
const MAX_QUOTED_BODY: usize = 300;

const HINT_NOT_RUNNING: &str =
    "is the daemon running? Start it, or point --socket / AMIKA_SOCKET at its socket";
const HINT_PERMISSION: &str = "the socket is open to root and the amika group only; \
     run as root, or add your user to the amika group and log in again";
/// The hint for a daemon that hung up in the middle of a conversation.
pub const HINT_DROPPED: &str = "it may have stopped or crashed; see its log";

type RequestBody = Either<Full<Bytes>, UploadBody>;

/// A client for one daemon socket.
#[derive(Debug)]
pub struct Client {
    socket: PathBuf,
    http: HttpClient<UnixConnector, RequestBody>,
}

impl Client {
    /// A client for the daemon listening on `socket`; nothing is connected until a call.
    pub fn new(socket: PathBuf) -> Self {
        let http = HttpClient::builder(TokioExecutor::new())
            .retry_canceled_requests(false)
            .build(UnixConnector);
        Self { socket, http }
    }

    /// `GET path`, decoding the JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, CtlError> {
        let body = self.send(Method::GET, path, empty(), &[]).await?;
        decode(path, &body)
    }

    /// `POST path` with a JSON body, decoding the JSON answer.
    pub async fn post_json<B, T>(&self, path: &str, request: &B) -> Result<T, CtlError>
    where
        B: Serialize,
        T: DeserializeOwned,
    {
        self.send_json(Method::POST, path, request).await
    }

    /// `PUT path` with a JSON body, decoding the JSON answer.
    pub async fn put_json<B, T>(&self, path: &str, request: &B) -> Result<T, CtlError>
    where
        B: Serialize,
        T: DeserializeOwned,
    {
        self.send_json(Method::PUT, path, request).await
    }

    async fn send_json<B, T>(&self, method: Method, path: &str, request: &B) -> Result<T, CtlError>
    where
        B: Serialize,
        T: DeserializeOwned,
    {
        let body = json_body(request)?;
        let headers = [(CONTENT_TYPE, "application/json")];
        let answer = self.send(method, path, body, &headers).await?;
        decode(path, &answer)
    }

    /// `POST path` without a body, decoding the JSON answer.
    pub async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, CtlError> {
        let body = self.send(Method::POST, path, empty(), &[]).await?;
        decode(path, &body)
    }

    /// `GET path` for an answer that streams: the body of a 2xx answer, to be read as it
    /// arrives.
    pub async fn get_stream(&self, path: &str) -> Result<Incoming, CtlError> {
        let response = self.respond(Method::GET, path, empty(), &[]).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.into_body());
        }
        let body = self.collect(response.into_body()).await?;
        Err(failure(status, &body))
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `DELETE path`; the daemon's answer body, if any, is ignored.
    pub async fn delete(&self, path: &str) -> Result<(), CtlError> {
        self.send(Method::DELETE, path, empty(), &[])
            .await
            .map(drop)
    }

    /// `PUT path` with a JSON body; the daemon's answer body, if any, is ignored.
    pub async fn put<B: Serialize>(&self, path: &str, request: &B) -> Result<(), CtlError> {
        let body = json_body(request)?;
        let headers = [(CONTENT_TYPE, "application/json")];
        self.send(Method::PUT, path, body, &headers).await.map(drop)
    }

    /// `PUT path` with a tar stream as a chunked body, decoding the JSON answer.
    pub async fn put_stream<T: DeserializeOwned>(
        &self,
        path: &str,
        body: UploadBody,
        compression: Compression,
    ) -> Result<T, CtlError> {
        let mut headers = vec![(CONTENT_TYPE, "application/x-tar")];
        if let Some(encoding) = compression.content_encoding() {
            headers.push((CONTENT_ENCODING, encoding));
        }
        let answer = self
            .send(Method::PUT, path, Either::Right(body), &headers)
            .await?;
        decode(path, &answer)
    }

    /// `POST path` with a create archive (see `repo_upload`) as a chunked body, decoding the
    /// JSON answer.
    pub async fn post_archive<T: DeserializeOwned>(
        &self,
        path: &str,
        body: UploadBody,
    ) -> Result<T, CtlError> {
        let headers = [(CONTENT_TYPE, CREATE_ARCHIVE_CONTENT_TYPE)];
        let answer = self
            .send(Method::POST, path, Either::Right(body), &headers)
            .await?;
        decode(path, &answer)
    }

    /// Sends one request and returns the body of a 2xx answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        headers: &[(hyper::header::HeaderName, &'static str)],
    ) -> Result<Bytes, CtlError> {
        let response = self.respond(method, path, body, headers).await?;
        let status = response.status();
        let body = self.collect(response.into_body()).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(failure(status, &body))
        }
    }

    /// Sends one request and returns the answer, whatever its status, with its body unread.
    async fn respond(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        headers: &[(hyper::header::HeaderName, &'static str)],
    ) -> Result<Response<Incoming>, CtlError> {
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = hyperlocal::Uri::new(&self.socket, path).into();
        let request_headers = request.headers_mut();
        request_headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        request_headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        for (name, value) in headers {
            request_headers.insert(name, HeaderValue::from_static(value));
        }
        self.http
            .request(request)
            .await
            .map_err(|e| self.classify(&e))
    }

    /// Reads a whole answer body.
    async fn collect(&self, body: Incoming) -> Result<Bytes, CtlError> {
        let collected = body
            .collect()
            .await
            .map_err(|e| self.unreachable(format!("the answer was cut off ({e})"), HINT_DROPPED))?;
        Ok(collected.to_bytes())
    }

    /// Sorts a transport failure: our upload failed, the daemon spoke something other than
    /// HTTP, or the daemon is not there.
    fn classify(&self, err: &legacy::Error) -> CtlError {
        if let Some(upload) = find_cause::<UploadError>(err) {
            return CtlError::Local(upload.to_string());
        }
        if err.is_connect() {
            return match find_cause::<io::Error>(err) {
                Some(io) => self.connect_failed(io),
                None => self.unreachable(describe(err), HINT_NOT_RUNNING),
            };
        }
        if find_cause::<hyper::Error>(err).is_some_and(hyper::Error::is_parse) {
            return CtlError::BadResponse(describe(err));
        }
        self.unreachable(describe(err), HINT_DROPPED)
    }

    /// The error for a socket that could not be connected to, with a hint fitting the cause.
    pub fn connect_failed(&self, err: &io::Error) -> CtlError {
        let hint = match err.kind() {
            io::ErrorKind::PermissionDenied => HINT_PERMISSION,
            _ => HINT_NOT_RUNNING,
        };
        self.unreachable(err.to_string(), hint)
    }

    /// The error for a daemon that cannot be reached or stopped answering.
    pub fn unreachable(&self, reason: String, hint: &'static str) -> CtlError {
        CtlError::Unreachable {
            socket: self.socket.display().to_string(),
            reason,
            hint,
        }
    }
}

/// How amika-ctl introduces itself to the daemon.
pub const USER_AGENT_VALUE: &str = concat!("amika-ctl/", env!("CARGO_PKG_VERSION"));

fn json_body<B: Serialize>(request: &B) -> Result<RequestBody, CtlError> {
    let json = serde_json::to_vec(request)
        .map_err(|e| CtlError::Local(format!("cannot encode the request: {e}")))?;
    Ok(Either::Left(Full::new(Bytes::from(json))))
}

fn empty() -> RequestBody {
    Either::Left(Full::new(Bytes::new()))
}

fn decode<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, CtlError> {
    serde_json::from_slice(body).map_err(|e| CtlError::BadResponse(format!("{path}: {e}")))
}

/// The innermost cause's message: the outer layers only say "client error (SendRequest)".
fn describe(err: &legacy::Error) -> String {
    causes(err)
        .last()
        .map_or_else(|| err.to_string(), |cause| cause.to_string())
}

type Cause<'a> = &'a (dyn StdError + 'static);

fn causes<'a>(err: Cause<'a>) -> impl Iterator<Item = Cause<'a>> {
    std::iter::successors(Some(err), |&e: &Cause<'a>| e.source())
}

fn find_cause<'a, T: StdError + 'static>(err: Cause<'a>) -> Option<&'a T> {
    causes(err).find_map(|e| e.downcast_ref::<T>())
}

/// The loose shape of an error body, for codes this client does not know yet.
#[derive(Deserialize)]
struct LooseError {
    code: String,
    message: String,
}

/// Turns a non-2xx answer into an error, however little of its body makes sense.
pub fn failure(status: StatusCode, body: &[u8]) -> CtlError {
    if let Ok(api) = serde_json::from_slice::<ApiError>(body) {
        return CtlError::Api(api);
    }
    let status_text = status.to_string();
    if let Ok(loose) = serde_json::from_slice::<LooseError>(body) {
        return CtlError::Status {
            status: status_text,
            code: Some(loose.code),
            message: loose.message,
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = match text.char_indices().nth(MAX_QUOTED_BODY) {
        _ if text.is_empty() => "no error details were given".to_string(),
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    };
    CtlError::Status {
        status: status_text,
        code: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use amika_api::ErrorCode;

    use super::*;

    #[test]
    fn known_error_bodies_become_api_errors() {
        let body = br#"{"code":"conflict","message":"image 'base' already exists"}"#;
        let CtlError::Api(err) = failure(StatusCode::CONFLICT, body) else {
            panic!("not decoded as an ApiError");
        };
        assert_eq!(err.code, ErrorCode::Conflict);
        assert_eq!(err.message, "image 'base' already exists");
    }

    #[test]
    fn unknown_codes_keep_their_message() {
        let body = br#"{"code":"quota","message":"over quota"}"#;
        let err = failure(StatusCode::INSUFFICIENT_STORAGE, body);
        assert_eq!(
            err.to_string(),
            "amikad answered 507 Insufficient Storage: over quota"
        );
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn unreadable_bodies_are_quoted_with_the_status() {
        let err = failure(StatusCode::BAD_GATEWAY, b"upstream went away\n");
        assert_eq!(
            err.to_string(),
            "amikad answered 502 Bad Gateway: upstream went away"
        );
        let err = failure(StatusCode::NOT_FOUND, b"");
        assert_eq!(
            err.to_string(),
            "amikad answered 404 Not Found: no error details were given"
        );
        let long = "x".repeat(1000);
        assert!(failure(StatusCode::INTERNAL_SERVER_ERROR, long.as_bytes())
            .to_string()
            .ends_with(&format!("{}...", "x".repeat(MAX_QUOTED_BODY))));
    }
}
