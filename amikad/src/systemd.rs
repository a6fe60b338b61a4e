//! The two pieces of the systemd protocol amikad speaks: taking the listening socket that
//! socket activation passes, and telling the service manager how start-up and shutdown go.
//!
//! Both are small enough to implement here rather than pull in a crate. Both read their
//! environment variables once and unset them, so that nothing the daemon starts later (mount
//! helpers, sandbox inits) believes the socket or the notification channel is its own.
//! [`take_activation`] must therefore run while the process still has one thread.

use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{getsockname, getsockopt, sockopt, SockType, SockaddrStorage};

/// The first file descriptor systemd passes; amikad takes exactly one.
const FIRST_FD: i32 = 3;

/// How long a notification may wait for room in the manager's queue before it is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the socket systemd passed cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// `LISTEN_FDS` is not a number.
    #[error("LISTEN_FDS={0} is not a number of sockets")]
    BadCount(String),
    /// More than one socket was passed.
    #[error(
        "systemd passed {0} sockets; amikad serves one, so amikad.socket should have one \
         ListenStream="
    )]
    TooMany(usize),
    /// The descriptor is not a listening Unix stream socket.
    #[error("the socket systemd passed is not {0}; amikad.socket needs ListenStream=/path")]
    WrongKind(&'static str),
    /// A system call on the descriptor failed.
    #[error("inspecting the socket systemd passed: {0}")]
    Sys(#[from] nix::Error),
}

/// What systemd handed this process, if anything.
#[derive(Debug, Default)]
pub struct Activation {
    /// The listening socket from `amikad.socket`.
    pub listener: Option<UnixListener>,
    /// The channel for `READY=1` and friends.
    pub notifier: Option<Notifier>,
}

/// Reads and unsets `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES` and `NOTIFY_SOCKET`.
///
/// Call it before any other thread exists: changing the environment while another thread
/// reads it is undefined behaviour in C.
pub fn take_activation() -> Result<Activation, ActivationError> {
    let notify = std::env::var_os("NOTIFY_SOCKET");
    let listen_pid = std::env::var("LISTEN_PID").ok();
    let listen_fds = std::env::var("LISTEN_FDS").ok();
    for name in [
        "NOTIFY_SOCKET",
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
    ] {
        std::env::remove_var(name);
    }
    let notifier = notify.and_then(|address| Notifier::new(address.to_str()?).ok());
    let listener = match (listen_pid, listen_fds) {
        // The variables may be left over from a parent that was activated itself.
        (Some(pid), Some(count)) if pid.parse() == Ok(std::process::id()) => take_listener(&count)?,
        _ => None,
    };
    Ok(Activation { listener, notifier })
}

fn take_listener(count: &str) -> Result<Option<UnixListener>, ActivationError> {
    let count: usize = count
        .parse()
        .map_err(|_| ActivationError::BadCount(count.to_owned()))?;
    match count {
        0 => return Ok(None),
        1 => {}
        n => return Err(ActivationError::TooMany(n)),
    }
    // SAFETY: LISTEN_PID names this process and LISTEN_FDS says one descriptor was passed,
    // so descriptor 3 was opened for us by the service manager, and nothing in this process
    // has taken ownership of it before (this runs once, before anything else opens files).
    let fd = unsafe { OwnedFd::from_raw_fd(FIRST_FD) };
    // Sandboxes and helpers are started with exec; none of them may inherit the API socket.
    fcntl(FIRST_FD, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    if getsockopt(&fd.as_fd(), sockopt::SockType)? != SockType::Stream {
        return Err(ActivationError::WrongKind("a stream socket"));
    }
    if !getsockopt(&fd.as_fd(), sockopt::AcceptConn)? {
        return Err(ActivationError::WrongKind("listening"));
    }
    let address: SockaddrStorage = getsockname(FIRST_FD)?;
    if address.as_unix_addr().is_none() {
        return Err(ActivationError::WrongKind("a Unix socket"));
    }
    Ok(Some(UnixListener::from(fd)))
}

/// Sends state changes to the service manager: a datagram to `$NOTIFY_SOCKET`.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl Notifier {
    /// A notifier for `address`: a path, or `@name` for an abstract socket.
    pub fn new(address: &str) -> io::Result<Notifier> {
        let address = match address.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
            None => SocketAddr::from_pathname(address)?,
        };
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        Ok(Notifier { socket, address })
    }

    /// Sends newline-separated `KEY=value` assignments, e.g. `READY=1\nSTATUS=serving`.
    ///
    /// Best effort: a manager that went away must not stop the daemon, so a failure is only
    /// logged.
    pub fn notify(&self, state: &str) {
        if let Err(e) = self.socket.send_to_addr(state.as_bytes(), &self.address) {
            tracing::warn!(error = %e, state, "cannot notify the service manager");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        Notifier::new(path.to_str().unwrap())
            .unwrap()
            .notify("READY=1\nSTATUS=serving");
        let mut buf = [0; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving");
    }

    #[test]
    fn notifications_reach_an_abstract_socket() {
        let name = format!("amikad-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&address).unwrap();
        Notifier::new(&format!("@{name}"))
            .unwrap()
            .notify("STOPPING=1");
        let mut buf = [0; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }
}
