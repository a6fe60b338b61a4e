//! Real repositories in temporary directories, made with the real `git`, for tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Runs git in `dir` with a fixed identity and no signing, so the host's configuration
/// cannot make a test commit fail; panics with git's stderr on failure. Returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Amika Test",
            "-c",
            "user.email=test@amika.invalid",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("git output is UTF-8")
}

/// A repository named `app` inside a fresh temporary directory, on branch `main` with one
/// commit holding `README.md`. Returns the directory (delete it by dropping) and the top.
pub fn repo() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let top = dir.path().join("app");
    fs::create_dir(&top).unwrap();
    git(&top, &["init", "-q", "-b", "main"]);
    fs::write(top.join("README.md"), "# app\n").unwrap();
    git(&top, &["add", "README.md"]);
    git(&top, &["commit", "-q", "-m", "first"]);
    (dir, top)
}

/// An empty repository named `empty`: initialised, with no commit.
pub fn empty_repo() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let top = dir.path().join("empty");
    fs::create_dir(&top).unwrap();
    git(&top, &["init", "-q", "-b", "main"]);
    (dir, top)
}
