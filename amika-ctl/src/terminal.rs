//! The local terminal during an interactive session: raw mode and the window size.
//!
//! Raw mode must never outlive the session, or the user's shell is left without echo and
//! line editing. The settings to restore are kept in one process-wide slot, so the guard's
//! drop and the panic hook (which runs before unwinding would reach the guard, and prints
//! its message) can both put them back, whichever comes first.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

/// The terminal in raw mode and the settings it had before.
struct Saved {
    /// A duplicate of the terminal's descriptor: the settings belong to the device, and a
    /// descriptor of our own cannot be closed under us.
    fd: OwnedFd,
    original: Termios,
}

static SAVED: Mutex<Option<Saved>> = Mutex::new(None);

fn saved() -> MutexGuard<'static, Option<Saved>> {
    // A panic while the lock was held leaves valid data behind: restoring must still work.
    SAVED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps a terminal in raw mode until dropped.
#[derive(Debug)]
#[must_use = "the terminal returns to normal mode as soon as the guard is dropped"]
pub struct RawMode {
    _private: (),
}

impl RawMode {
    /// Puts the terminal `fd` in raw mode: no echo, no line editing, no signals from keys,
    /// no output processing, so every byte goes to the remote terminal as typed.
    ///
    /// Only one terminal can be in raw mode at a time.
    pub fn enable(fd: BorrowedFd<'_>) -> io::Result<Self> {
        let mut slot = saved();
        if slot.is_some() {
            return Err(io::Error::other("a terminal is already in raw mode"));
        }
        let original = tcgetattr(fd)?;
        let mut raw = original.clone();
        cfmakeraw(&mut raw);
        let fd = fd.try_clone_to_owned()?;
        // TCSANOW rather than TCSAFLUSH: keys typed while the session opened are kept.
        tcsetattr(&fd, SetArg::TCSANOW, &raw)?;
        *slot = Some(Saved { fd, original });
        Ok(Self { _private: () })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts back the settings raw mode replaced, if a terminal is in raw mode.
fn restore() {
    if let Some(saved) = saved().take() {
        // Nothing better can be done on failure: the terminal is likely gone.
        let _ = tcsetattr(&saved.fd, SetArg::TCSANOW, &saved.original);
    }
}

/// Makes a panic restore the terminal before its message is printed.
pub fn restore_on_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// The local terminal's size as (rows, columns), from stdout or else stdin.
pub fn size() -> Option<(u16, u16)> {
    let stdout = io::stdout();
    let stdin = io::stdin();
    size_of(stdout.as_fd()).or_else(|| size_of(stdin.as_fd()))
}

/// The size of the terminal `fd`, or `None` if it is not a terminal or reports no size.
pub fn size_of(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ only writes one `winsize` through the pointer, which points at a
    // live local of exactly that type; the descriptor is borrowed, hence open.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
}

#[cfg(test)]
mod tests {
    use nix::pty::{openpty, Winsize};
    use nix::sys::termios::LocalFlags;

    use super::*;

    fn pty(rows: u16, cols: u16) -> nix::pty::OpenptyResult {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        openpty(&size, None).expect("openpty failed: this test needs /dev/ptmx and devpts")
    }

    fn is_raw(fd: BorrowedFd<'_>) -> bool {
        let flags = tcgetattr(fd).unwrap().local_flags;
        !flags.intersects(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG)
    }

    // One test for all of raw mode: the saved settings are process-wide, so tests run in
    // parallel would trip over each other.
    #[test]
    fn raw_mode_is_undone_on_drop_and_on_panic() {
        let pair = pty(24, 80);
        let terminal = pair.slave.as_fd();
        let before = tcgetattr(terminal).unwrap();
        assert!(!is_raw(terminal), "a new pty starts cooked");

        let guard = RawMode::enable(terminal).unwrap();
        assert!(is_raw(terminal));
        assert!(
            RawMode::enable(terminal).is_err(),
            "raw mode cannot be nested"
        );
        drop(guard);
        assert_eq!(tcgetattr(terminal).unwrap(), before);

        let unwound = std::panic::catch_unwind(|| {
            let _guard = RawMode::enable(terminal).unwrap();
            assert!(is_raw(terminal));
            panic!("session failed");
        });
        assert!(unwound.is_err());
        assert_eq!(tcgetattr(terminal).unwrap(), before);
    }

    #[test]
    fn size_comes_from_the_terminal() {
        let pair = pty(40, 132);
        assert_eq!(size_of(pair.slave.as_fd()), Some((40, 132)));
        assert_eq!(size_of(pair.master.as_fd()), Some((40, 132)));
    }

    #[test]
    fn a_file_has_no_size() {
        let file = tempfile::tempfile().unwrap();
        assert_eq!(size_of(file.as_fd()), None);
    }
}
