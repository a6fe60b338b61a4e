//! The readiness pipe, read by the daemon: one byte from init when the sandbox is ready, or a
//! failure in words; from the cloned child, a failure coded before it could execute init.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

use nix::errno::Errno;

use crate::runtime::init;

/// Longest failure report read from the readiness pipe.
const MAX_REPORT: usize = 4096;

/// First byte of a report written by the cloned child before it could execute init, followed
/// by the errno (four bytes, little-endian) and the failed step. It cannot format the errno
/// itself: that would allocate.
pub(super) const EARLY_FAILURE: u8 = 1;

/// What came back on the readiness pipe.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Report {
    /// Init is set up.
    Ready,
    /// Init or the child before it reported this failure.
    Failed(String),
    /// The pipe closed without a word: the process died.
    Vanished,
    /// Nothing decisive arrived in time.
    TimedOut,
}

/// Reads the readiness pipe until a verdict or `deadline`.
pub(super) fn read_report(pipe: OwnedFd, deadline: Instant) -> io::Result<Report> {
    let mut received = Vec::new();
    let mut file = File::from(pipe);
    loop {
        if !wait_readable(&file, deadline)? {
            return Ok(Report::TimedOut);
        }
        let mut chunk = [0u8; 512];
        let n = match file.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        received.extend_from_slice(&chunk[..n]);
        if n == 0 || received[0] == init::READY || received.len() >= MAX_REPORT {
            return Ok(decode_report(&received));
        }
    }
}

/// Whether `file` became readable (or reached end-of-file) before `deadline`.
fn wait_readable(file: &File, deadline: Instant) -> io::Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let millis = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        let mut poll = libc::pollfd {
            fd: file.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, which lives across the call.
        let rc = unsafe { libc::poll(&mut poll, 1, millis) };
        match rc {
            0 => return Ok(false),
            n if n > 0 => return Ok(true),
            _ if Errno::last() == Errno::EINTR => continue,
            _ => return Err(io::Error::last_os_error()),
        }
    }
}

/// Turns the bytes read from the readiness pipe into a verdict.
pub(super) fn decode_report(bytes: &[u8]) -> Report {
    match bytes.split_first() {
        None => Report::Vanished,
        Some((&init::READY, _)) => Report::Ready,
        Some((&EARLY_FAILURE, rest)) if rest.len() >= 4 => {
            let (errno, step) = rest.split_at(4);
            let errno = i32::from_le_bytes([errno[0], errno[1], errno[2], errno[3]]);
            let step = String::from_utf8_lossy(step);
            Report::Failed(format!("{step}: {}", io::Error::from_raw_os_error(errno)))
        }
        Some(_) => Report::Failed(String::from_utf8_lossy(bytes).trim_end().to_string()),
    }
}
