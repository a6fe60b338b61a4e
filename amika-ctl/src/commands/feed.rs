//! Reading the daemon's event stream one [`Event`] at a time.
//!
//! Generic over the body type so tests can feed it canned chunks; in use it reads the
//! streaming answer to `GET /v1/events`.

use std::fmt::Display;

use amika_api::Event;
use bytes::Buf;
use http_body_util::BodyExt;
use hyper::body::Body;

/// Why a stream stopped yielding events. Every case means events may have been missed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The connection failed mid-stream.
    #[error("the event stream was cut off ({0})")]
    Cut(String),
    /// The daemon closed the stream: it is stopping, or this reader fell behind.
    #[error("the event stream ended")]
    Ended,
    /// A line that is not an event.
    #[error("the event stream carried an unreadable line ({0})")]
    Garbled(String),
}

/// Newline-delimited JSON events from a streaming body.
pub struct Feed<B> {
    body: B,
    pending: Vec<u8>,
}

impl<B> Feed<B>
where
    B: Body + Unpin,
    B::Error: Display,
{
    /// A reader of `body`, which must carry one JSON event per line.
    pub fn new(body: B) -> Self {
        Self {
            body,
            pending: Vec::new(),
        }
    }

    /// The next event. Cancel-safe: dropping the future loses no data, so it can sit in a
    /// `select!` beside a timer.
    pub async fn next(&mut self) -> Result<Event, FeedError> {
        loop {
            if let Some(line) = take_line(&mut self.pending) {
                if line.trim_ascii().is_empty() {
                    continue;
                }
                return serde_json::from_slice(&line)
                    .map_err(|e| FeedError::Garbled(e.to_string()));
            }
            let frame = match self.body.frame().await {
                None => return Err(FeedError::Ended),
                Some(frame) => frame.map_err(|e| FeedError::Cut(e.to_string()))?,
            };
            if let Ok(mut data) = frame.into_data() {
                while data.has_remaining() {
                    let chunk = data.chunk();
                    let len = chunk.len();
                    self.pending.extend_from_slice(chunk);
                    data.advance(len);
                }
            }
        }
    }
}

/// Removes and returns the first complete line, newline included.
fn take_line(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let end = pending.iter().position(|&b| b == b'\n')?;
    Some(pending.drain(..=end).collect())
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use futures_util::stream;
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    use super::*;

    type Chunks = StreamBody<stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

    fn feed(chunks: &[&'static str]) -> Feed<Chunks> {
        let frames: Vec<_> = chunks
            .iter()
            .map(|chunk| Ok(Frame::data(Bytes::from_static(chunk.as_bytes()))))
            .collect();
        Feed::new(StreamBody::new(stream::iter(frames)))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn events_split_across_chunks_are_joined() {
        let mut feed = feed(&[
            r#"{"time":"t","kind":"snapshot","id":"a","#,
            r#""name":"n","state":"capturing"}"#,
            "\n\n{\"time\":\"t\",\"kind\":\"sandbox\",\"id\":\"b\",\"name\":\"m\",",
            "\"state\":\"stopped\",\"message\":\"x\"}\n",
        ]);
        runtime().block_on(async {
            let first = feed.next().await.unwrap();
            assert_eq!(
                (first.kind.as_str(), first.state.as_str()),
                ("snapshot", "capturing")
            );
            let second = feed.next().await.unwrap();
            assert_eq!(second.message.as_deref(), Some("x"));
            assert!(matches!(feed.next().await, Err(FeedError::Ended)));
        });
    }

    #[test]
    fn a_line_that_is_not_an_event_is_an_error() {
        let mut feed = feed(&["hello\n"]);
        let err = runtime().block_on(feed.next()).unwrap_err();
        assert!(matches!(err, FeedError::Garbled(_)), "{err}");
    }
}
