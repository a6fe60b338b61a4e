//! `GET /v1/events`: newline-delimited JSON events as they happen.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{header, Response, StatusCode};
use tokio::sync::broadcast::error::RecvError;

use super::reply::{failure, Reply};
use crate::error::Error;
use crate::service::Service;

/// Streams events until the client leaves or falls too far behind.
pub async fn stream(service: Arc<Service>) -> Reply {
    let receiver = service.subscribe();
    let lines = stream::unfold(receiver, |mut receiver| async move {
        match receiver.recv().await {
            Ok(event) => {
                let mut line = serde_json::to_vec(&event).unwrap_or_default();
                line.push(b'\n');
                Some((Ok(Frame::data(Bytes::from(line))), receiver))
            }
            Err(RecvError::Lagged(missed)) => {
                // Ending the stream tells the reader it lost events; skipping silently would
                // let it believe it saw everything.
                tracing::info!(missed, "event reader too slow; disconnecting it");
                None
            }
            Err(RecvError::Closed) => None,
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(StreamBody::new(lines).boxed())
        .unwrap_or_else(|e| failure(&Error::Internal(e.to_string())))
}
