//! A streaming request body fed from a blocking thread.
//!
//! Archives are read (or, for a directory, written by the tar builder) on a blocking thread
//! that hands chunks over a bounded channel, so memory use stays at a few chunks whatever the
//! archive's size, and a slow daemon slows the reader down instead of filling memory.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

use crate::progress::Progress;

/// Chunks in flight between the reading thread and the connection.
const CHANNEL_DEPTH: usize = 4;

/// The size of each chunk read from a file or collected from the tar builder.
pub const CHUNK_SIZE: usize = 256 * 1024;

/// A local failure while producing the upload, naming the path concerned.
///
/// Only the message is kept: the error travels through the HTTP stack as a boxed cause and
/// comes back out as a sentence for the user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UploadError(String);

impl UploadError {
    /// A failure described by `message`, which should name the path.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// What the producer sends. The stream ends cleanly only on an explicit `Done`, so a
/// producer that dies half-way can never pass a truncated archive off as a whole one.
#[derive(Debug)]
enum Piece {
    Data(Bytes),
    Done,
    Failed(UploadError),
}

/// Creates a connected producer and body.
pub fn channel(progress: Progress) -> (Producer, UploadBody) {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    (
        Producer { tx },
        UploadBody {
            rx,
            finished: false,
            progress,
        },
    )
}

/// The sending half, used from a blocking thread.
#[derive(Debug, Clone)]
pub struct Producer {
    tx: mpsc::Sender<Piece>,
}

impl Producer {
    /// Sends one chunk, waiting for room; fails once the request has been abandoned.
    pub fn send(&self, data: Bytes) -> io::Result<()> {
        self.tx
            .blocking_send(Piece::Data(data))
            .map_err(|_| abandoned())
    }

    /// Ends the stream: cleanly on success, with the error otherwise.
    pub fn finish(self, result: Result<(), UploadError>) {
        let last = match result {
            Ok(()) => Piece::Done,
            Err(err) => Piece::Failed(err),
        };
        // Nobody is left to tell if the request is already gone.
        let _ = self.tx.blocking_send(last);
    }

    /// A writer that sends everything written to it, in chunks of about [`CHUNK_SIZE`].
    pub fn writer(&self) -> impl Write {
        io::BufWriter::with_capacity(CHUNK_SIZE, ProducerWriter(self.clone()))
    }
}

fn abandoned() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the upload was abandoned")
}

/// Adapts [`Producer`] to `io::Write`; a `BufWriter` in front keeps the chunks large.
struct ProducerWriter(Producer);

impl Write for ProducerWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(Bytes::copy_from_slice(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The receiving half: an HTTP body of unknown length, so it is sent chunked.
#[derive(Debug)]
pub struct UploadBody {
    rx: mpsc::Receiver<Piece>,
    finished: bool,
    progress: Progress,
}

impl Body for UploadBody {
    type Data = Bytes;
    type Error = UploadError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UploadError>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let frame = match ready!(self.rx.poll_recv(cx)) {
            Some(Piece::Data(data)) => {
                self.progress.advance(data.len());
                Some(Ok(Frame::data(data)))
            }
            Some(Piece::Done) => {
                self.finished = true;
                self.progress.finish();
                None
            }
            Some(Piece::Failed(err)) => {
                self.finished = true;
                Some(Err(err))
            }
            None => {
                self.finished = true;
                let message = "upload aborted: the archive reader stopped without finishing";
                Some(Err(UploadError::new(message)))
            }
        };
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn drain(body: UploadBody) -> Result<Vec<u8>, UploadError> {
        Ok(body.collect().await?.to_bytes().to_vec())
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn chunks_arrive_in_order_and_end_on_done() {
        let (producer, body) = channel(Progress::hidden());
        let feeder = std::thread::spawn(move || {
            let mut writer = producer.writer();
            writer.write_all(b"hello ").unwrap();
            writer.write_all(b"world").unwrap();
            writer.flush().unwrap();
            drop(writer);
            producer.finish(Ok(()));
        });
        assert_eq!(runtime().block_on(drain(body)).unwrap(), b"hello world");
        feeder.join().unwrap();
    }

    #[test]
    fn a_producer_that_vanishes_fails_the_body() {
        let (producer, body) = channel(Progress::hidden());
        let feeder = std::thread::spawn(move || {
            producer
                .send(Bytes::from_static(b"half an archive"))
                .unwrap();
        });
        let err = runtime().block_on(drain(body)).unwrap_err();
        assert!(
            err.to_string().contains("stopped without finishing"),
            "{err}"
        );
        feeder.join().unwrap();
    }

    #[test]
    fn a_reported_failure_reaches_the_body() {
        let (producer, body) = channel(Progress::hidden());
        let feeder = std::thread::spawn(move || {
            producer.finish(Err(UploadError::new("cannot read /srv/root/etc/shadow")));
        });
        let err = runtime().block_on(drain(body)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /srv/root/etc/shadow"),
            "{err}"
        );
        feeder.join().unwrap();
    }

    #[test]
    fn writes_fail_once_the_body_is_dropped() {
        let (producer, body) = channel(Progress::hidden());
        drop(body);
        assert_eq!(
            producer.send(Bytes::new()).unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }
}
