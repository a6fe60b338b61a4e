//! One running exec session: the helper process, its streams, and the frame pump between them
//! and the client's upgraded connection.
//!
//! Output is read only as fast as the client takes it, so a command that writes gigabytes
//! holds the daemon's memory to a few buffers. A client that disconnects ends the session:
//! the helper is killed and its command dies with it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;

use amika_api::stream::{Decoder, Frame};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;

use crate::error::Error;
use crate::service::ExecPlan;

const CHUNK: usize = 64 * 1024;

/// A spawned command with the streams the pump needs.
pub struct Session {
    child: Child,
    sandbox: String,
    io: Option<Streams>,
}

enum Streams {
    Pipes {
        stdin: ChildStdin,
        stdout: ChildStdout,
        stderr: ChildStderr,
    },
    Terminal(AsyncFd<OwnedFd>),
}

impl Session {
    /// Spawns the helper for `plan`, on pipes or on a fresh pseudo-terminal.
    pub fn spawn(plan: ExecPlan) -> Result<Session, Error> {
        let mut command = Command::from(plan.spec.command());
        command.kill_on_drop(true);
        let spawn_failed = |e: std::io::Error| {
            Error::Internal(format!(
                "starting a command in sandbox '{}': {e}",
                plan.sandbox
            ))
        };
        let (child, io) = match plan.size {
            None => {
                command
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = command.spawn().map_err(spawn_failed)?;
                let (Some(stdin), Some(stdout), Some(stderr)) =
                    (child.stdin.take(), child.stdout.take(), child.stderr.take())
                else {
                    return Err(Error::Internal("the command's pipes are missing".into()));
                };
                (
                    child,
                    Streams::Pipes {
                        stdin,
                        stdout,
                        stderr,
                    },
                )
            }
            Some((rows, cols)) => {
                let (master, slave) = open_terminal(rows, cols).map_err(spawn_failed)?;
                command
                    .stdin(slave.try_clone().map_err(spawn_failed)?)
                    .stdout(slave.try_clone().map_err(spawn_failed)?)
                    .stderr(slave);
                let child = command.spawn().map_err(spawn_failed)?;
                // The parent's copies of the slave were moved into the command and are closed
                // now, so the master sees EOF (EIO) exactly when the session's processes end.
                (child, Streams::Terminal(master))
            }
        };
        Ok(Session {
            child,
            sandbox: plan.sandbox,
            io: Some(io),
        })
    }

    /// Ends the command when there is no client to report to.
    pub async fn abort(mut self) {
        end_command(&mut self.child).await;
    }

    /// Pumps frames until the command exits or the client leaves.
    pub async fn run<IO: AsyncRead + AsyncWrite + Unpin>(mut self, client: IO) {
        let (reader, mut writer) = tokio::io::split(client);
        let finished = match self.io.take() {
            Some(Streams::Pipes {
                stdin,
                stdout,
                stderr,
            }) => pump_pipes(&self.child, reader, &mut writer, stdin, stdout, stderr).await,
            Some(Streams::Terminal(master)) => pump_terminal(reader, &mut writer, &master).await,
            None => true,
        };
        if !finished {
            tracing::info!(sandbox = %self.sandbox, "client left; ending its command");
            end_command(&mut self.child).await;
            return;
        }
        let code = match self.child.wait().await {
            Ok(status) => exit_code(status),
            Err(_) => 255,
        };
        tracing::debug!(sandbox = %self.sandbox, code, "exec finished");
        let _ = writer.write_all(&Frame::Exit(code).encode()).await;
        let _ = writer.shutdown().await;
    }
}

/// Pipes: returns true when the command's output ended, false when the client left first.
async fn pump_pipes<R, W>(
    child: &Child,
    mut reader: R,
    writer: &mut W,
    stdin: ChildStdin,
    mut stdout: ChildStdout,
    mut stderr: ChildStderr,
) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut stdin_tx = Some(stdin_writer(stdin));
    let mut decoder = Decoder::default();
    let (mut inbuf, mut outbuf, mut errbuf) = (vec![0; CHUNK], vec![0; CHUNK], vec![0; CHUNK]);
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        tokio::select! {
            read = reader.read(&mut inbuf) => {
                let Ok(n @ 1..) = read else { return false };
                decoder.push(&inbuf[..n]);
                if !apply_client_frames(&mut decoder, child, &mut stdin_tx).await {
                    return false;
                }
            }
            read = stdout.read(&mut outbuf), if out_open => match read {
                Ok(n @ 1..) => {
                    if send(writer, Frame::Stdout(outbuf[..n].to_vec())).await.is_err() {
                        return false;
                    }
                }
                _ => out_open = false,
            },
            read = stderr.read(&mut errbuf), if err_open => match read {
                Ok(n @ 1..) => {
                    if send(writer, Frame::Stderr(errbuf[..n].to_vec())).await.is_err() {
                        return false;
                    }
                }
                _ => err_open = false,
            },
        }
    }
    true
}

/// Terminal: returns true when the session's processes closed the terminal, false when the
/// client left first.
async fn pump_terminal<R, W>(mut reader: R, writer: &mut W, master: &AsyncFd<OwnedFd>) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut decoder = Decoder::default();
    let (mut inbuf, mut outbuf) = (vec![0; CHUNK], vec![0; CHUNK]);
    loop {
        tokio::select! {
            read = reader.read(&mut inbuf) => {
                let Ok(n @ 1..) = read else { return false };
                decoder.push(&inbuf[..n]);
                loop {
                    match decoder.next() {
                        Ok(Some(Frame::Stdin(data))) => {
                            if write_master(master, &data).await.is_err() {
                                return true;
                            }
                        }
                        Ok(Some(Frame::Resize { rows, cols })) => set_size(master, rows, cols),
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => return false,
                    }
                }
            }
            read = read_master(master, &mut outbuf) => match read {
                Ok(n @ 1..) => {
                    if send(writer, Frame::Stdout(outbuf[..n].to_vec())).await.is_err() {
                        return false;
                    }
                }
                _ => return true,
            },
        }
    }
}

/// Applies decoded client frames for a pipe session. Returns false on a protocol error.
async fn apply_client_frames(
    decoder: &mut Decoder,
    child: &Child,
    stdin: &mut Option<mpsc::Sender<Vec<u8>>>,
) -> bool {
    loop {
        match decoder.next() {
            Ok(Some(Frame::Stdin(data))) if data.is_empty() => *stdin = None,
            Ok(Some(Frame::Stdin(data))) => {
                if let Some(tx) = stdin {
                    if tx.send(data).await.is_err() {
                        *stdin = None;
                    }
                }
            }
            Ok(Some(Frame::Signal(number))) => forward_signal(child, number),
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(e) => {
                tracing::warn!(error = %e, "bad frame from client; ending the session");
                return false;
            }
        }
    }
}

/// Writes stdin chunks on a task of its own, so that a command which does not read its input
/// never stops the pump from carrying its output.
fn stdin_writer(mut stdin: ChildStdin) -> mpsc::Sender<Vec<u8>> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
    tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
        // Dropping stdin here closes the command's input: EOF.
    });
    tx
}

/// How long a command gets to go after its client left, before everything is killed.
const HANGUP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Hangs up on a command whose client left: SIGHUP reaches its whole process group (the
/// helper forwards it), then SIGKILL takes the helper and, by its parent-death signal, the
/// command itself.
async fn end_command(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGHUP);
        if tokio::time::timeout(HANGUP_GRACE, child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

fn forward_signal(child: &Child, number: u8) {
    let (Some(pid), Ok(signal)) = (child.id(), Signal::try_from(i32::from(number))) else {
        return;
    };
    let _ = kill(Pid::from_raw(pid as i32), signal);
}

async fn send<W: AsyncWrite + Unpin>(writer: &mut W, frame: Frame) -> std::io::Result<()> {
    writer.write_all(&frame.encode()).await
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255)
}

/// Opens a pseudo-terminal of the given size; the master is non-blocking for the runtime.
fn open_terminal(rows: u16, cols: u16) -> std::io::Result<(AsyncFd<OwnedFd>, OwnedFd)> {
    let size = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).map_err(std::io::Error::from)?;
    let flags = nix::fcntl::fcntl(pty.master.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(pty.master.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))?;
    // SAFETY: the master is an OwnedFd moved into the AsyncFd, so it stays open and names the
    // same file description until the AsyncFd is dropped, and as_raw_fd never changes.
    let master = unsafe { AsyncFd::register(pty.master) }.map_err(|e| e.into_parts().1)?;
    Ok((master, pty.slave))
}

fn set_size(master: &AsyncFd<OwnedFd>, rows: u16, cols: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct that lives for the duration of the call.
    unsafe { libc::ioctl(master.get_ref().as_raw_fd(), libc::TIOCSWINSZ, &size) };
}

async fn read_master(master: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut guard = master.readable().await?;
        match guard.try_io(|fd| {
            nix::unistd::read(fd.get_ref().as_raw_fd(), buf).map_err(std::io::Error::from)
        }) {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

async fn write_master(master: &AsyncFd<OwnedFd>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let mut guard = master.writable().await?;
        match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(Into::into)) {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}
