//! Running one command inside a running sandbox.
//!
//! Joining a mount namespace is refused to a multi-threaded process, and the daemon runs on a
//! thread pool, so it starts a copy of itself in a small single-threaded mode instead: the exec
//! helper. The daemon builds the invocation with [`ExecSpec::command`], sets the command's
//! stdio on it (pipes, or a terminal slave) and spawns it; the helper then
//!
//! 1. reads the spec from a sealed memfd (the environment may hold secrets, and a process's
//!    argv is readable by every user on the host, so nothing but a descriptor number travels
//!    there),
//! 2. opens the namespaces and root of the sandbox's init before touching any of them,
//! 3. joins the sandbox's cgroup and namespaces, the mount namespace last,
//! 4. forks, because joining a pid namespace only applies to children: the child takes the
//!    sandbox's root, drops privileges and executes the command; the parent forwards signals
//!    to it and exits with its status.
//!
//! Exit status: the command's own, or 128 plus the signal that killed it. The helper adds
//! 127 (command not found), 126 (found but not executable) and 125 (the helper itself failed
//! before the command started). Stdout and stderr belong to the command; the helper writes
//! only `amika: ...` lines on stderr, when it fails or cannot enter the working directory.
//!
//! The daemon's side is the `spec` module. The helper's is `helper` (its course and the
//! parent's part of step 4), `namespaces` (steps 2 and 3), and `child` with `launch` (the
//! forked child).
//!
//! Limits: the parent-death signal that ends the command when the helper is killed reaches
//! the command alone, and the kernel drops it when the command runs a setuid program such as
//! `sudo`. Whatever else the command started is left to the sandbox's init if the helper is
//! killed outright; a SIGHUP or SIGTERM first (forwarded to the command's whole process group)
//! lets it exit, and killing the sandbox's cgroup is the sure way.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};

mod child;
mod error;
mod helper;
mod launch;
mod namespaces;
mod spec;
#[cfg(test)]
mod tests;

pub use spec::ExecSpec;

/// The hidden first argument that selects this program.
pub const ARG: &str = "__amika-exec";

/// Exit status when the helper fails before the command starts.
const EXIT_SETUP_FAILED: i32 = 125;

/// Exit status when the command exists but cannot be executed.
const EXIT_CANNOT_EXECUTE: i32 = 126;

/// Exit status when the command does not exist.
const EXIT_NOT_FOUND: i32 = 127;

/// Entry point of the helper: runs the command the spec describes and exits with its status.
pub fn main(args: Vec<OsString>) -> ! {
    let code = helper::run(&args).unwrap_or_else(|err| {
        say(format_args!("{err}"));
        EXIT_SETUP_FAILED
    });
    std::process::exit(code)
}

/// Writes one `amika: ...` line on stderr, ignoring failure: stderr may be gone already.
fn say(message: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "amika: {message}");
}
