//! `sandbox connect` through a real pseudo-terminal, as a person at a terminal would use it.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amika_tests::{bin_dir, Daemon};

/// The test's side of the terminal the client runs on.
struct Terminal {
    master: std::fs::File,
    slave: OwnedFd,
    seen: String,
}

impl Terminal {
    fn open() -> Terminal {
        let size = nix::pty::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let flags = nix::fcntl::fcntl(pty.master.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .expect("F_GETFL");
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(pty.master.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))
            .expect("F_SETFL");
        Terminal {
            master: std::fs::File::from(pty.master),
            slave: pty.slave,
            seen: String::new(),
        }
    }

    fn type_text(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .expect("type into the terminal");
    }

    /// Reads until `needle` has appeared after everything consumed so far.
    fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(at) = self.seen.find(needle) {
                self.seen.drain(..at + needle.len());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {needle:?}; screen so far:\n{}",
                self.seen
            );
            match self.master.read(&mut buf) {
                Ok(n) if n > 0 => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn resize(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize that lives for the duration of the call.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(rc, 0, "resize the terminal");
    }

    fn modes(&self) -> nix::sys::termios::Termios {
        nix::sys::termios::tcgetattr(&self.slave).expect("tcgetattr")
    }
}

#[test]
fn connect_is_a_real_terminal() {
    let daemon = Daemon::start();
    daemon.ctl_ok(&["sandbox", "create", "--name", "desk"]);
    let mut term = Terminal::open();
    let before = term.modes();

    let slave = term.slave.try_clone().unwrap();
    let mut client = Command::new(bin_dir().join("amika-ctl"));
    client
        .arg("--socket")
        .arg(daemon.socket())
        .args(["sandbox", "connect", "desk"])
        .env("TERM", "xterm")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: only setsid and ioctl run between fork and exec, both async-signal-safe.
    unsafe {
        client.pre_exec(|| {
            nix::unistd::setsid()?;
            if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut client = client.spawn().expect("start amika-ctl connect");

    term.type_text("echo hello-$((40+2)) $(id -un) $(pwd)\n");
    term.expect("hello-42 amika /home/amika");

    // Ctrl-C reaches the sandbox's foreground command, not the client.
    term.type_text("sleep 100\n");
    std::thread::sleep(Duration::from_millis(300));
    term.type_text("\x03");
    term.type_text("echo back-$((1+1))\n");
    term.expect("back-2");
    assert!(
        client.try_wait().unwrap().is_none(),
        "the client survived Ctrl-C"
    );

    term.resize(40, 100);
    std::thread::sleep(Duration::from_millis(300));
    term.type_text("stty size\n");
    term.expect("40 100");

    term.type_text("exit 3\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = client.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the client did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.code(),
        Some(3),
        "the session's exit code is the client's"
    );
    let after = term.modes();
    assert_eq!(
        before.local_flags, after.local_flags,
        "terminal modes restored"
    );
    assert_eq!(
        before.input_flags, after.input_flags,
        "terminal modes restored"
    );
}
