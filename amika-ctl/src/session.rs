//! The frame pump of an exec session, between the upgraded connection and local stdio.
//!
//! Three things run at once so that none can stall another: a thread reading stdin (a
//! blocking read cannot be cancelled, and a terminal may never deliver EOF), a task writing
//! frames to the daemon, and the loop here, which reads the daemon's frames and reacts to
//! [`Event`]s. Control frames (resize, signal) overtake queued stdin data, so Ctrl-C reaches
//! the command even while a large upload is in flight.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use amika_api::stream::{DecodeError, Decoder, Frame, Kind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Bytes read from stdin per frame; well under the frame limit.
const STDIN_CHUNK: usize = 32 * 1024;
/// Stdin frames queued for the connection before the stdin thread waits.
const STDIN_DEPTH: usize = 8;
/// Bytes read from the connection at a time.
const READ_CHUNK: usize = 64 * 1024;
/// A second SIGINT within this time gives up on the command instead of forwarding.
const DOUBLE_INTERRUPT: Duration = Duration::from_secs(1);

/// The exit code reported when our stdout was closed under us: that of a process killed by
/// SIGPIPE.
const EXIT_STDOUT_CLOSED: u8 = 141;

/// Something that happened locally during a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// amika-ctl received this signal.
    Signal(i32),
    /// The local terminal now has this size.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
}

/// Where a session's input comes from and its output goes.
pub struct Stdio {
    /// Read on a thread of its own until EOF.
    pub input: Box<dyn Read + Send>,
    /// Receives the command's output.
    pub stdout: Box<dyn Write + Send>,
    /// Receives the command's error output.
    pub stderr: Box<dyn Write + Send>,
}

impl Stdio {
    /// The process's own stdin, stdout and stderr.
    pub fn process() -> Self {
        Self {
            input: Box::new(io::stdin()),
            stdout: Box::new(io::stdout()),
            stderr: Box::new(io::stderr()),
        }
    }
}

/// Why a session ended without an exit code from the daemon.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The connection closed or failed before the exit frame.
    #[error("the session ended before the command's exit code arrived ({0})")]
    Lost(String),
    /// The daemon sent bytes that are not a valid frame.
    #[error("the exec stream is corrupt: {0}")]
    Corrupt(#[from] DecodeError),
    /// The daemon sent a frame only a client may send.
    #[error("the exec stream carried a {0:?} frame from the daemon")]
    Unexpected(Kind),
    /// Writing the command's output locally failed.
    #[error("cannot write the command's output: {0}")]
    Output(io::Error),
}

/// Runs a session until the daemon reports the exit code or amika-ctl gives up.
///
/// Returns the exit code amika-ctl should end with: the command's own, `128 + n` when a
/// signal ended the session on this side, or 141 when our stdout was closed. In a `tty`
/// session every signal ends the session (the terminal is raw, so Ctrl-C travels as a byte
/// instead); otherwise signals are forwarded, and a second SIGINT within a second gives up.
pub async fn run<S>(
    stream: S,
    stdio: Stdio,
    mut events: mpsc::UnboundedReceiver<Event>,
    tty: bool,
) -> Result<u8, SessionError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(stream);
    let (control, control_rx) = mpsc::unbounded_channel();
    let (data, data_rx) = mpsc::channel(STDIN_DEPTH);
    let Stdio {
        input,
        mut stdout,
        mut stderr,
    } = stdio;
    std::thread::spawn(move || read_input(input, data));
    let writer = tokio::spawn(write_frames(writer, control_rx, data_rx));

    let mut decoder = Decoder::new();
    let mut buf = vec![0; READ_CHUNK];
    let mut last_interrupt: Option<Instant> = None;
    let result = loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = match read {
                    Ok(0) => break Err(SessionError::Lost("the connection closed".into())),
                    Ok(n) => n,
                    Err(err) => break Err(SessionError::Lost(err.to_string())),
                };
                decoder.push(&buf[..n]);
                match deliver(&mut decoder, &mut stdout, &mut stderr) {
                    Ok(Some(code)) => break Ok(code),
                    Ok(None) => {}
                    Err(err) => break Err(err),
                }
            }
            Some(event) = events.recv() => {
                if let Some(code) = react(event, tty, &control, &mut last_interrupt) {
                    break Ok(code);
                }
            }
        }
    };
    // Closing our side tells the daemon we are gone, however the session ended.
    writer.abort();
    result
}

/// Turns a local event into a control frame, or into the exit code when it ends the session.
fn react(
    event: Event,
    tty: bool,
    control: &mpsc::UnboundedSender<Frame>,
    last_interrupt: &mut Option<Instant>,
) -> Option<u8> {
    // A send fails only once the writer is gone, and then the read side is about to report
    // the broken connection anyway.
    match event {
        Event::Resize { rows, cols } => {
            let _ = control.send(Frame::Resize { rows, cols });
        }
        Event::Signal(number) => {
            if tty || is_second_interrupt(number, last_interrupt) {
                return Some(signal_exit_code(number));
            }
            let _ = control.send(Frame::Signal(number as u8));
        }
    }
    None
}

/// The exit code of a process ended by signal `number`, as shells report it.
pub fn signal_exit_code(number: i32) -> u8 {
    u8::try_from(128 + number).unwrap_or(u8::MAX)
}

/// Hands every complete frame to stdout or stderr; the exit code once the exit frame arrives.
fn deliver(
    decoder: &mut Decoder,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Option<u8>, SessionError> {
    while let Some(frame) = decoder.next()? {
        match frame {
            Frame::Stdout(bytes) => {
                if let Err(err) = write_now(stdout, &bytes) {
                    if err.kind() == io::ErrorKind::BrokenPipe {
                        return Ok(Some(EXIT_STDOUT_CLOSED));
                    }
                    return Err(SessionError::Output(err));
                }
            }
            // Error output is diagnostics: losing it must not end the command.
            Frame::Stderr(bytes) => drop(write_now(stderr, &bytes)),
            Frame::Exit(code) => return Ok(Some(exit_code(code))),
            other => return Err(SessionError::Unexpected(other.kind())),
        }
    }
    Ok(None)
}

fn write_now(out: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// The command's exit code as a process exit code; codes a process cannot exit with (the
/// daemon's own failures may be negative) become 255 rather than wrapping to success.
pub fn exit_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(u8::MAX)
}

/// Records a SIGINT and says whether it follows another one closely enough to give up.
fn is_second_interrupt(number: i32, last: &mut Option<Instant>) -> bool {
    if number != libc::SIGINT {
        return false;
    }
    let now = Instant::now();
    let second = last.is_some_and(|at| now.duration_since(at) < DOUBLE_INTERRUPT);
    *last = Some(now);
    second
}

/// Reads `input` until EOF and queues it as stdin frames, ending with the empty EOF frame.
fn read_input(mut input: Box<dyn Read + Send>, frames: mpsc::Sender<Frame>) {
    let mut buf = vec![0; STDIN_CHUNK];
    loop {
        let n = match input.read(&mut buf) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            // An unreadable stdin is as good as an empty one to the command.
            Err(_) => 0,
        };
        let last = n == 0;
        if frames
            .blocking_send(Frame::Stdin(buf[..n].to_vec()))
            .is_err()
            || last
        {
            return;
        }
    }
}

/// Writes frames to the daemon, control frames first, until both queues close or the
/// connection fails.
async fn write_frames<W: AsyncWrite>(
    sink: W,
    mut control: mpsc::UnboundedReceiver<Frame>,
    mut data: mpsc::Receiver<Frame>,
) {
    let mut sink = std::pin::pin!(sink);
    let mut buf = Vec::new();
    loop {
        let frame = tokio::select! {
            biased;
            Some(frame) = control.recv() => frame,
            Some(frame) = data.recv() => frame,
            else => return,
        };
        buf.clear();
        frame.encode_into(&mut buf);
        if sink.write_all(&buf).await.is_err() || sink.flush().await.is_err() {
            // The read side notices the broken connection and reports it.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::{Arc, Mutex};

    use tokio::io::DuplexStream;

    use super::*;

    /// A writer whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// A stdout whose reader has gone away.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The daemon's end of the connection.
    struct FakeDaemon {
        stream: DuplexStream,
        decoder: Decoder,
    }

    impl FakeDaemon {
        async fn send(&mut self, frame: Frame) {
            self.stream.write_all(&frame.encode()).await.unwrap();
        }

        async fn receive(&mut self) -> Option<Frame> {
            let mut buf = [0; 4096];
            loop {
                if let Some(frame) = self.decoder.next().unwrap() {
                    return Some(frame);
                }
                match self.stream.read(&mut buf).await.unwrap() {
                    0 => return None,
                    n => self.decoder.push(&buf[..n]),
                }
            }
        }
    }

    struct Local {
        stdout: Captured,
        stderr: Captured,
        events: mpsc::UnboundedSender<Event>,
    }

    /// Starts a session on one end of a pipe; returns the daemon's end, the local side's
    /// handles and the session's outcome.
    fn start(
        input: &'static [u8],
        tty: bool,
    ) -> (
        FakeDaemon,
        Local,
        tokio::task::JoinHandle<Result<u8, SessionError>>,
    ) {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let (events, events_rx) = mpsc::unbounded_channel();
        let local = Local {
            stdout: Captured::default(),
            stderr: Captured::default(),
            events,
        };
        let stdio = Stdio {
            input: Box::new(Cursor::new(input)),
            stdout: Box::new(local.stdout.clone()),
            stderr: Box::new(local.stderr.clone()),
        };
        let session = tokio::spawn(run(ours, stdio, events_rx, tty));
        let daemon = FakeDaemon {
            stream: theirs,
            decoder: Decoder::new(),
        };
        (daemon, local, session)
    }

    #[tokio::test]
    async fn output_goes_to_stdout_and_stderr_and_the_exit_code_comes_back() {
        let (mut daemon, local, session) = start(b"", false);
        daemon.send(Frame::Stdout(b"hello ".to_vec())).await;
        daemon.send(Frame::Stderr(b"careful\n".to_vec())).await;
        daemon.send(Frame::Stdout(b"world\n".to_vec())).await;
        daemon.send(Frame::Exit(3)).await;
        assert_eq!(session.await.unwrap().unwrap(), 3);
        assert_eq!(local.stdout.text(), "hello world\n");
        assert_eq!(local.stderr.text(), "careful\n");
    }

    #[tokio::test]
    async fn stdin_is_forwarded_and_ends_with_an_empty_frame() {
        let (mut daemon, _local, session) = start(b"line one\nline two\n", false);
        let mut received = Vec::new();
        loop {
            match daemon.receive().await {
                Some(Frame::Stdin(data)) if data.is_empty() => break,
                Some(Frame::Stdin(data)) => received.extend(data),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(received, b"line one\nline two\n");
        daemon.send(Frame::Exit(0)).await;
        assert_eq!(session.await.unwrap().unwrap(), 0);
    }

    #[tokio::test]
    async fn signals_are_forwarded_until_a_quick_second_interrupt() {
        let (mut daemon, local, session) = start(b"", false);
        assert_eq!(daemon.receive().await, Some(Frame::Stdin(Vec::new())));
        local.events.send(Event::Signal(libc::SIGTERM)).unwrap();
        assert_eq!(daemon.receive().await, Some(Frame::Signal(15)));
        local.events.send(Event::Signal(libc::SIGINT)).unwrap();
        assert_eq!(daemon.receive().await, Some(Frame::Signal(2)));
        local.events.send(Event::Signal(libc::SIGINT)).unwrap();
        assert_eq!(session.await.unwrap().unwrap(), 130);
        assert_eq!(
            daemon.receive().await,
            None,
            "the connection must be closed"
        );
    }

    #[tokio::test]
    async fn a_terminal_session_ends_on_a_signal_and_forwards_resizes() {
        let (mut daemon, local, session) = start(b"", true);
        assert_eq!(daemon.receive().await, Some(Frame::Stdin(Vec::new())));
        let resize = Event::Resize {
            rows: 40,
            cols: 132,
        };
        local.events.send(resize).unwrap();
        let expected = Frame::Resize {
            rows: 40,
            cols: 132,
        };
        assert_eq!(daemon.receive().await, Some(expected));
        local.events.send(Event::Signal(libc::SIGHUP)).unwrap();
        assert_eq!(session.await.unwrap().unwrap(), 129);
    }

    #[tokio::test]
    async fn a_connection_lost_before_the_exit_code_is_an_error() {
        let (mut daemon, _local, session) = start(b"", false);
        daemon.send(Frame::Stdout(b"partial".to_vec())).await;
        drop(daemon);
        let err = session.await.unwrap().unwrap_err();
        assert!(matches!(err, SessionError::Lost(_)), "{err}");
    }

    #[tokio::test]
    async fn a_corrupt_stream_is_an_error() {
        let (mut daemon, _local, session) = start(b"", false);
        daemon.stream.write_all(&[9, 0, 0, 0, 0]).await.unwrap();
        let err = session.await.unwrap().unwrap_err();
        assert!(
            err.to_string().contains("unknown stream frame type 9"),
            "{err}"
        );
        let (mut daemon, _local, session) = start(b"", false);
        daemon.send(Frame::Signal(2)).await;
        let err = session.await.unwrap().unwrap_err();
        assert!(
            matches!(err, SessionError::Unexpected(Kind::Signal)),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_closed_stdout_ends_the_session_like_sigpipe() {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let (_events, events_rx) = mpsc::unbounded_channel();
        let stdio = Stdio {
            input: Box::new(io::empty()),
            stdout: Box::new(ClosedPipe),
            stderr: Box::new(io::sink()),
        };
        let session = tokio::spawn(run(ours, stdio, events_rx, false));
        let mut daemon = FakeDaemon {
            stream: theirs,
            decoder: Decoder::new(),
        };
        daemon.send(Frame::Stdout(b"y\n".to_vec())).await;
        assert_eq!(session.await.unwrap().unwrap(), 141);
    }

    #[test]
    fn exit_codes_outside_a_byte_do_not_become_success() {
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(127), 127);
        assert_eq!(exit_code(255), 255);
        assert_eq!(exit_code(256), 255);
        assert_eq!(exit_code(-1), 255);
        assert_eq!(signal_exit_code(libc::SIGINT), 130);
        assert_eq!(signal_exit_code(libc::SIGPIPE), EXIT_STDOUT_CLOSED);
    }
}
