//! Running `git` as the calling user, and turning its failures into errors that say why.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::error::CtlError;

/// Variables that would point git at another repository than the one `-C` names. A hook or
/// an editor started by git may have them set for the repository it runs in.
const REPOSITORY_VARIABLES: [&str; 7] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
];

/// Runs `git -C dir args...` and returns its stdout; any exit status but 0 is an error that
/// carries git's stderr.
pub fn run<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Result<Vec<u8>, CtlError> {
    let output = output(dir, args)?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(failed(dir, args, &output))
    }
}

/// Runs `git -C dir args...` and returns how it went, whatever its exit status, for commands
/// whose status is an answer (`symbolic-ref --quiet` exits 1 for a detached head).
pub fn output<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Result<Output, CtlError> {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        // Nothing here may stop to ask for a password: stdin is not git's to read.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    for variable in REPOSITORY_VARIABLES {
        command.env_remove(variable);
    }
    command.output().map_err(|e| cannot_run(&e))
}

/// The error for a git command that exited with a failure.
pub fn failed<S: AsRef<OsStr>>(dir: &Path, args: &[S], output: &Output) -> CtlError {
    let words: Vec<String> = args
        .iter()
        .map(|arg| arg.as_ref().to_string_lossy().into_owned())
        .collect();
    // One line for git's several (hints come indented, after blank lines).
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let said = match lines.join("; ") {
        text if text.is_empty() => "git printed no error".to_string(),
        text => text,
    };
    CtlError::Local(format!(
        "git {} in {} failed ({}): {said}; fix the repository, or pass --no-git",
        words.join(" "),
        dir.display(),
        output.status
    ))
}

fn cannot_run(err: &io::Error) -> CtlError {
    let fix = match err.kind() {
        io::ErrorKind::NotFound => "install git",
        _ => "check the git installation",
    };
    CtlError::Local(format!("cannot run git: {err}; {fix}, or pass --no-git"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_carries_git_stderr_and_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(dir.path(), &["rev-parse", "--show-toplevel"]).unwrap_err();
        let message = err.to_string();
        assert_eq!(err.exit_code(), 1);
        assert!(
            message.starts_with(&format!(
                "git rev-parse --show-toplevel in {} failed (exit status: 128): fatal: not a git \
                 repository",
                dir.path().display()
            )),
            "{message}"
        );
        assert!(
            message.ends_with("; fix the repository, or pass --no-git"),
            "{message}"
        );
    }
}
