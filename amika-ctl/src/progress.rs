//! A one-line upload progress display on stderr.
//!
//! It is only shown when stderr is a terminal: in a log or a pipe a line rewritten with `\r`
//! is noise.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::output::human_size;

/// The display is redrawn at most this often, however small the chunks.
const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// Counts bytes sent and redraws a status line now and then.
#[derive(Debug)]
pub struct Progress {
    label: String,
    enabled: bool,
    sent: u64,
    drawn_at: Option<Instant>,
    /// End the line once everything is sent, instead of waiting for a [`clear_line`].
    keep_line: bool,
}

impl Progress {
    /// A display headed by `label`, shown only if stderr is a terminal.
    pub fn new(label: impl Into<String>) -> Self {
        Self::with_display(label, io::stderr().is_terminal())
    }

    /// Like [`Progress::new`], but the last count stays on a line of its own once the stream
    /// is sent, for commands that print more on stderr while the daemon works.
    pub fn keeping_line(label: impl Into<String>) -> Self {
        Self {
            keep_line: true,
            ..Self::new(label)
        }
    }

    /// A display that never draws anything.
    #[cfg(test)]
    pub fn hidden() -> Self {
        Self::with_display(String::new(), false)
    }

    fn with_display(label: impl Into<String>, enabled: bool) -> Self {
        Self {
            label: label.into(),
            enabled,
            sent: 0,
            drawn_at: None,
            keep_line: false,
        }
    }

    /// Whether anything is drawn, so the caller knows to clear the line afterwards.
    pub fn is_shown(&self) -> bool {
        self.enabled
    }

    /// Records `bytes` more sent.
    pub fn advance(&mut self, bytes: usize) {
        self.sent += bytes as u64;
        let due = match self.drawn_at {
            None => true,
            Some(at) => at.elapsed() >= REDRAW_EVERY,
        };
        if self.enabled && due {
            self.draw("");
        }
    }

    /// Records that the whole stream is sent; the daemon still has to finish its side.
    pub fn finish(&mut self) {
        match (self.enabled, self.keep_line) {
            (false, _) => {}
            (true, false) => self.draw(", waiting for amikad"),
            (true, true) => {
                self.draw("");
                let _ = writeln!(io::stderr());
            }
        }
    }

    fn draw(&mut self, suffix: &str) {
        self.drawn_at = Some(Instant::now());
        // Progress is a courtesy: a failed write to stderr must not fail the upload.
        let _ = write!(
            io::stderr(),
            "\r{}: sent {}{suffix}\x1b[K",
            self.label,
            human_size(self.sent)
        );
    }
}

/// Erases the progress line, once the response has arrived.
pub fn clear_line() {
    let _ = write!(io::stderr(), "\r\x1b[K");
}
