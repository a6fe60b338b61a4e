//! `POST /v1/sandboxes/{ref}/exec`: run a command inside a running sandbox.
//!
//! The request carries an [`ExecRequest`] as its JSON body and the headers
//! `Connection: Upgrade` and `Upgrade: amika-stream`. The daemon answers
//! `101 Switching Protocols` and both sides then speak the frames of [`crate::stream`] on the
//! same connection until the daemon sends the exit frame. Failures before the command starts
//! (no such sandbox, not running) are ordinary JSON error responses.

use serde::{Deserialize, Serialize};

/// The `Upgrade` header value for exec and interactive sessions.
pub const UPGRADE_PROTOCOL: &str = "amika-stream";

/// What to run and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// The program and its arguments; looked up on the sandbox's `PATH`.
    ///
    /// Empty means the user's login shell from the sandbox's `/etc/passwd`, started as a login
    /// shell: what `connect` asks for.
    #[serde(default)]
    pub command: Vec<String>,
    /// `amika` (the default) or `root`.
    #[serde(default)]
    pub user: Option<String>,
    /// Working directory inside the sandbox; the user's home when absent.
    #[serde(default)]
    pub workdir: Option<String>,
    /// Extra environment, `KEY=VALUE`, applied over the login environment.
    #[serde(default)]
    pub env: Vec<String>,
    /// Run on a pseudo-terminal (stdout and stderr then arrive merged as stdout).
    #[serde(default)]
    pub tty: bool,
    /// Initial terminal size when `tty`: rows.
    #[serde(default)]
    pub rows: Option<u16>,
    /// Initial terminal size when `tty`: columns.
    #[serde(default)]
    pub cols: Option<u16>,
    /// `TERM` for the session when `tty`.
    #[serde(default)]
    pub term: Option<String>,
}
