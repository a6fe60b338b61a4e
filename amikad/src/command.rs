//! Running host tools such as `mkfs.btrfs`, `mount` and `busybox`.
//!
//! Tools are looked up in a fixed list of system directories rather than the
//! daemon's `PATH`: a root daemon should not run whatever an inherited
//! environment happens to put first. Every run is logged at debug level, and
//! a failure carries the exit status and the tail of stderr, because that is
//! usually the only explanation the tool gives.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

/// Directories searched by [`find_tool`], in order.
const SEARCH_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The Debian package that ships each tool we know we need, for error messages.
const PACKAGES: &[(&str, &str)] = &[
    ("mkfs.btrfs", "btrfs-progs"),
    ("btrfs", "btrfs-progs"),
    ("busybox", "busybox-static"),
    ("mount", "mount"),
    ("umount", "mount"),
    ("losetup", "mount"),
    ("zfs", "zfsutils-linux or zfs-fuse"),
    ("zpool", "zfsutils-linux or zfs-fuse"),
    ("git", "git"),
];

/// How much of a failed command's stderr is kept; the end is where tools
/// put the reason they gave up.
const STDERR_TAIL_BYTES: usize = 2048;

/// Why a host tool could not be found or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No executable with this name exists in the searched directories.
    #[error("`{tool}` was not found in {dirs}; {hint}", dirs = SEARCH_DIRS.join(", "))]
    NotFound {
        /// The tool name that was looked up.
        tool: String,
        /// What to install, phrased for the end of the message.
        hint: String,
    },

    /// The program could not be started at all.
    #[error("cannot run {}: {source}", .program.display())]
    Spawn {
        /// The program that failed to start.
        program: PathBuf,
        /// The error from the spawn attempt.
        source: std::io::Error,
    },

    /// The program ran and reported failure.
    #[error("`{}{}` {}{}", .program.display(), spaced(.args), describe(.status), colon(.stderr))]
    Failed {
        /// The program that ran.
        program: PathBuf,
        /// Its arguments joined with spaces, quoted where needed, for display.
        args: String,
        /// How it ended.
        status: ExitStatus,
        /// The trimmed tail of its standard error.
        stderr: String,
    },
}

/// Finds an executable called `name` in the system tool directories.
///
/// `name` is a bare file name such as `"mkfs.btrfs"`; anything containing a
/// slash is treated as not found rather than resolved relative to the cwd.
pub fn find_tool(name: &str) -> Result<PathBuf, CommandError> {
    if !name.is_empty() && !name.contains('/') {
        for dir in SEARCH_DIRS {
            let candidate = Path::new(dir).join(name);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }

    Err(CommandError::NotFound {
        tool: name.to_owned(),
        hint: install_hint(name),
    })
}

/// Runs `program` with `args` to completion and returns its captured output.
///
/// Stdin is `/dev/null` so a tool that unexpectedly prompts fails instead of
/// hanging the daemon. A non-zero exit is an error; its stdout is dropped.
pub fn run(program: &Path, args: &[&OsStr]) -> Result<Output, CommandError> {
    run_with(program, args, |_| {})
}

/// Like [`run`], with `configure` applied to the command first (a working directory, an
/// environment) before it is spawned.
pub fn run_with(
    program: &Path,
    args: &[&OsStr],
    configure: impl FnOnce(&mut Command),
) -> Result<Output, CommandError> {
    tracing::debug!(program = %program.display(), args = %join_args(args), "running command");

    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    configure(&mut command);
    // SAFETY: the hook runs between fork and exec and makes one async-signal-safe call.
    unsafe {
        command.pre_exec(|| {
            // A tool the daemon started dies with it, so a crashed daemon leaves no build or
            // mount running on behind its back. The signal follows the thread that forked,
            // which here is the one blocked waiting for the tool.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().map_err(|source| CommandError::Spawn {
        program: program.to_owned(),
        source,
    })?;

    if output.status.success() {
        return Ok(output);
    }
    Err(CommandError::Failed {
        program: program.to_owned(),
        args: join_args(args),
        status: output.status,
        stderr: tail(&String::from_utf8_lossy(&output.stderr), STDERR_TAIL_BYTES),
    })
}

fn is_executable(path: &Path) -> bool {
    // `metadata` follows symlinks, which is what exec does too.
    match path.metadata() {
        Ok(meta) => meta.is_file() && meta.permissions().mode() & 0o111 != 0,
        Err(_) => false,
    }
}

fn install_hint(tool: &str) -> String {
    match PACKAGES.iter().find(|(name, _)| *name == tool) {
        Some((_, package)) => format!("install the Debian package {package}"),
        None => "install the package that provides it".to_owned(),
    }
}

fn join_args(args: &[&OsStr]) -> String {
    let shown: Vec<String> = args
        .iter()
        .map(|arg| quote(&arg.to_string_lossy()))
        .collect();
    shown.join(" ")
}

/// Quotes an argument only when a reader could otherwise misread where it
/// starts and ends; this is for humans, not for pasting into a shell.
fn quote(arg: &str) -> String {
    if arg.is_empty()
        || arg
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '"')
    {
        format!("'{}'", arg.replace('\'', "'\\''"))
    } else {
        arg.to_owned()
    }
}

fn tail(text: &str, max_bytes: usize) -> String {
    let text = text.trim();
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut start = text.len() - max_bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

fn spaced(args: &str) -> String {
    if args.is_empty() {
        String::new()
    } else {
        format!(" {args}")
    }
}

fn describe(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended abnormally ({status})"),
    }
}

fn colon(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_tool_every_debian_host_has() {
        let sh = find_tool("sh").expect("sh should be in /bin or /usr/bin");
        assert!(sh.is_absolute());
    }

    #[test]
    fn missing_tool_names_its_package() {
        let err = find_tool("zpool-that-does-not-exist").unwrap_err();
        assert!(
            err.to_string().contains("zpool-that-does-not-exist"),
            "{err}"
        );

        let message = install_hint("mkfs.btrfs");
        assert!(message.contains("btrfs-progs"), "{message}");
        assert!(install_hint("zfs").contains("zfs-fuse"));
    }

    #[test]
    fn names_with_a_slash_are_not_resolved() {
        assert!(matches!(
            find_tool("../bin/sh"),
            Err(CommandError::NotFound { .. })
        ));
        assert!(matches!(find_tool(""), Err(CommandError::NotFound { .. })));
    }

    #[test]
    fn successful_run_returns_stdout() {
        let sh = find_tool("sh").unwrap();
        let args = [OsStr::new("-c"), OsStr::new("echo hello")];
        let output = run(&sh, &args).unwrap();
        assert_eq!(output.stdout, b"hello\n");
    }

    #[test]
    fn failed_run_reports_status_and_stderr() {
        let sh = find_tool("sh").unwrap();
        let args = [OsStr::new("-c"), OsStr::new("echo disk full >&2; exit 3")];
        let err = run(&sh, &args).unwrap_err();
        let expected = format!(
            "`{} -c 'echo disk full >&2; exit 3'` exited with status 3: disk full",
            sh.display()
        );
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = run(Path::new("/nonexistent/tool"), &[]).unwrap_err();
        assert!(matches!(err, CommandError::Spawn { .. }), "{err}");
    }

    #[test]
    fn stderr_tail_keeps_the_end_on_a_char_boundary() {
        let long = format!("{}é the real reason", "x".repeat(3000));
        let kept = tail(&long, 20);
        assert!(kept.ends_with("the real reason"));
        assert!(kept.len() <= 20 + 3 + 1);
    }
}
