//! Response builders: JSON bodies, the one error shape, and the status each error maps to.

use amika_api::{ApiError, ErrorCode};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::{header, Response, StatusCode};
use serde::Serialize;

use crate::error::Error;

/// The body type of every response; boxed so that streaming replies fit the same router.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A response as handlers return it.
pub type Reply = Response<Body>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(bytes) => Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(full(bytes))
            .unwrap_or_else(|_| internal()),
        Err(e) => failure(&Error::Internal(format!("encoding the response: {e}"))),
    }
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// An empty 204 response.
pub fn no_content() -> Reply {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(full(Bytes::new()))
        .unwrap_or_else(|_| internal())
}

/// The HTTP status for an error code. This exhaustive match is the only place that decides.
pub fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::RejectedContent => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Storage | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error response for a failed request.
pub fn failure(err: &Error) -> Reply {
    api_failure(err.code(), err.to_string())
}

/// An error response from a code and a message.
pub fn api_failure(code: ErrorCode, message: String) -> Reply {
    let body = ApiError { code, message };
    match serde_json::to_vec(&body) {
        Ok(bytes) => Response::builder()
            .status(status_for(code))
            .header(header::CONTENT_TYPE, "application/json")
            .body(full(bytes))
            .unwrap_or_else(|_| internal()),
        Err(_) => internal(),
    }
}

fn internal() -> Reply {
    let mut reply = Response::new(full(Bytes::from_static(
        br#"{"code":"internal","message":"failed to build the response"}"#,
    )));
    *reply.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    reply
}
