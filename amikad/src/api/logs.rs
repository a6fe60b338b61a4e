//! `GET /v1/sandboxes/{ref}/logs/setup[?follow=true]`: the setup log as plain text.
//!
//! Following reads what the file has, then polls for more until the setup track leaves
//! `setup-running`, then sends the rest and ends, so a reader's end of stream means the
//! script has finished.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{header, Response, StatusCode};

use super::blocking;
use super::reply::{failure, Reply};
use crate::error::{Error, Result};
use crate::service::Service;

/// How often a follower looks for new output.
const POLL: Duration = Duration::from_millis(200);

/// The most read from the file per frame.
const CHUNK: usize = 64 << 10;

struct Follower {
    service: Arc<Service>,
    sandbox_id: String,
    file: Option<File>,
    follow: bool,
    done: bool,
}

/// Streams the setup log.
pub async fn setup(service: Arc<Service>, reference: &str, follow: bool) -> Reply {
    let reference = reference.to_owned();
    let opened = {
        let service = service.clone();
        blocking(move || service.setup_log(&reference)).await
    };
    let (sandbox_id, file) = match opened {
        Ok(found) => found,
        Err(e) => return failure(&e),
    };
    let follower = Follower {
        service,
        sandbox_id,
        file,
        follow,
        done: false,
    };
    let chunks = stream::unfold(follower, |mut follower| async move {
        if follower.done {
            return None;
        }
        loop {
            let (returned, chunk) = match tokio::task::spawn_blocking(move || {
                let chunk = follower.next_chunk();
                (follower, chunk)
            })
            .await
            {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "setup log reader failed");
                    return None;
                }
            };
            follower = returned;
            match chunk {
                Ok(Some(bytes)) => return Some((Ok(Frame::data(bytes)), follower)),
                Ok(None) if follower.done => return None,
                Ok(None) => tokio::time::sleep(POLL).await,
                Err(e) => {
                    follower.done = true;
                    return Some((Err(std::io::Error::other(e.to_string())), follower));
                }
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(StreamBody::new(chunks).boxed())
        .unwrap_or_else(|e| failure(&Error::Internal(e.to_string())))
}

impl Follower {
    /// The next bytes of the log; `None` when there are none yet (or, with `done` set,
    /// none ever).
    fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        // Asked before reading, so that output written just before the script ended is
        // read after the track has moved, never lost.
        let running = self.follow && self.service.setup_running(&self.sandbox_id)?;
        if let Some(file) = &mut self.file {
            let mut buffer = vec![0; CHUNK];
            let n = file
                .read(&mut buffer)
                .map_err(|e| Error::Internal(format!("reading the setup log: {e}")))?;
            if n > 0 {
                buffer.truncate(n);
                return Ok(Some(Bytes::from(buffer)));
            }
        } else if running {
            // The log appears when the script starts.
            let (_, file) = self.service.setup_log(&self.sandbox_id)?;
            self.file = file;
        }
        if !running {
            self.done = true;
        }
        Ok(None)
    }
}
