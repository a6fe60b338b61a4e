//! `--daemonize`: detach from the terminal, yet let the command that started the daemon know
//! whether it came up.
//!
//! The parent opens a pipe, forks through the `daemonize` crate (fork, setsid, fork again,
//! pid file, standard streams to the log file) and waits on the pipe. The daemon writes `ok`
//! once its socket serves, or the reason it could not start; the parent then exits 0, or
//! prints the reason and exits 1. This must happen before the async runtime starts: a fork
//! keeps only the calling thread, and a runtime's worker threads would be lost in the child.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use daemonize::{Daemonize, Outcome};
use nix::fcntl::OFlag;
use nix::sys::stat::{umask, Mode};

/// The message that tells the waiting parent the daemon is serving.
const READY: &str = "ok";

/// Why the daemon could not detach.
#[derive(Debug, thiserror::Error)]
pub enum DetachError {
    /// The pid file's or log file's directory, or the log file, could not be made.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The pipe to the parent could not be made.
    #[error("cannot create the start-up pipe: {0}")]
    Pipe(nix::Error),
    /// The fork failed in the parent.
    #[error("cannot detach: {0}")]
    Fork(daemonize::Error),
}

/// Which side of the fork this process is on.
#[derive(Debug)]
pub enum Detached {
    /// The command the user ran: it has heard from the daemon and should exit with this
    /// result, printing the reason on failure.
    Parent(Result<(), String>),
    /// The detached daemon, with the pipe to report its start-up on.
    Daemon(StartupPipe),
}

/// The daemon's end of the pipe to the waiting parent. Dropping it unsent tells the parent
/// the daemon died during start-up.
#[derive(Debug)]
pub struct StartupPipe {
    file: File,
}

impl StartupPipe {
    /// Tells the parent the socket serves; it exits 0.
    pub fn ready(self) {
        self.send(READY);
    }

    /// Tells the parent why start-up failed; it prints this and exits 1.
    pub fn failed(self, reason: &str) {
        self.send(reason);
    }

    fn send(mut self, message: &str) {
        // The parent may have been killed meanwhile; the daemon carries on regardless.
        let _ = self.file.write_all(message.as_bytes());
    }
}

/// Detaches, writing the daemon's pid to `pid_file` and its log to `log_file` (or
/// `/dev/null`). Call it while the process has one thread.
pub fn detach(pid_file: &Path, log_file: Option<&Path>) -> Result<Detached, DetachError> {
    create_parent(pid_file)?;
    let log = open_log(log_file)?;
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(DetachError::Pipe)?;

    // Keep the umask the daemon was started with: it shapes files made inside sandboxes, and
    // a detached daemon should behave like one in the foreground.
    let mask = umask(Mode::empty());
    umask(mask);
    let daemon = Daemonize::new()
        .pid_file(pid_file)
        .working_directory("/")
        .umask(mask.bits())
        .stdout(
            log.try_clone()
                .map_err(|e| io_error("open", log_path(log_file), e))?,
        )
        .stderr(log);

    match daemon.execute() {
        Outcome::Parent(Ok(_)) => {
            drop(write);
            Ok(Detached::Parent(wait_for_daemon(read, log_file)))
        }
        Outcome::Parent(Err(e)) => Err(DetachError::Fork(e)),
        Outcome::Child(Ok(_)) => {
            drop(read);
            Ok(Detached::Daemon(StartupPipe { file: write.into() }))
        }
        Outcome::Child(Err(e)) => {
            // Standard streams may already point at the log: the pipe is the way to the user.
            let pipe = StartupPipe { file: write.into() };
            pipe.failed(&format!(
                "cannot detach with pid file {}: {e}; if another amikad holds it, stop that \
                 one or pass a different --pid-file",
                pid_file.display()
            ));
            std::process::exit(1);
        }
    }
}

/// Blocks until the daemon reports, or closes the pipe by dying.
fn wait_for_daemon(read: OwnedFd, log_file: Option<&Path>) -> Result<(), String> {
    let mut message = String::new();
    let read_result = File::from(read).read_to_string(&mut message);
    match (read_result, message.trim()) {
        (Ok(_), READY) => Ok(()),
        (Ok(_), "") | (Err(_), _) => Err(match log_file {
            Some(path) => format!(
                "the daemon exited during start-up; its log is {}",
                path.display()
            ),
            None => "the daemon exited during start-up; pass --log-file PATH to see why".into(),
        }),
        (Ok(_), reason) => Err(reason.to_owned()),
    }
}

fn create_parent(path: &Path) -> Result<(), DetachError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
            .map_err(|e| io_error("create the directory", dir.to_owned(), e)),
        _ => Ok(()),
    }
}

fn log_path(log_file: Option<&Path>) -> PathBuf {
    log_file.unwrap_or(Path::new("/dev/null")).to_owned()
}

fn open_log(log_file: Option<&Path>) -> Result<File, DetachError> {
    if let Some(path) = log_file {
        create_parent(path)?;
    }
    let path = log_path(log_file);
    OpenOptions::new()
        .create(true)
        .append(true)
        // The log names sandboxes and users; it is not for everyone to read.
        .mode(0o640)
        .open(&path)
        .map_err(|e| io_error("open the log file", path, e))
}

fn io_error(action: &'static str, path: PathBuf, source: std::io::Error) -> DetachError {
    DetachError::Io {
        action,
        path,
        source,
    }
}
