//! Finding the repository around a directory, and making sure the caller can read it.
//!
//! The search is done here before git is asked, for one reason: git treats a `.git` it
//! cannot read as no repository at all and carries on upwards, so it could silently pick an
//! enclosing repository (a dotfiles repository in the home directory, say) instead of the
//! one the caller is in. Finding the nearest `.git` first, and refusing it when it cannot be
//! read, rules that out.

use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::command;
use crate::error::CtlError;

/// The top of the repository around `start` (a directory inside it, or its top), or `None`
/// when no directory from `start` upwards has a `.git`. A repository that is there but cannot
/// be read is an error, never `None`.
pub fn find(start: &Path) -> Result<Option<PathBuf>, CtlError> {
    let start = fs::canonicalize(start).map_err(|e| unreadable(start, &e))?;
    if !start.is_dir() {
        return Err(CtlError::Usage(format!(
            "{} is not a directory; give --git a repository's directory",
            start.display()
        )));
    }
    let Some(candidate) = nearest_git(&start)? else {
        return Ok(None);
    };
    check_readable(&candidate)?;
    let top = toplevel(&candidate)?;
    if top != candidate {
        return Err(CtlError::Local(format!(
            "{}/.git is not a repository git can use (git finds {} instead); fix or remove it, \
             or pass --no-git",
            candidate.display(),
            top.display()
        )));
    }
    Ok(Some(top))
}

/// The nearest directory from `start` upwards that has a `.git` entry.
fn nearest_git(start: &Path) -> Result<Option<PathBuf>, CtlError> {
    for dir in start.ancestors() {
        match fs::symlink_metadata(dir.join(".git")) {
            Ok(_) => return Ok(Some(dir.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            // A directory that cannot be searched may hold a repository: say so rather than
            // look further up and find another one.
            Err(e) => return Err(unreadable(dir, &e)),
        }
    }
    Ok(None)
}

/// Fails unless the caller can list `top` and read its `.git` (a directory, or the file a
/// linked worktree or a submodule has).
pub fn check_readable(top: &Path) -> Result<(), CtlError> {
    fs::read_dir(top).map_err(|e| unreadable(top, &e))?;
    let git = top.join(".git");
    let meta = fs::metadata(&git).map_err(|e| unreadable(top, &e))?;
    let opened = if meta.is_dir() {
        fs::read_dir(&git).map(drop)
    } else {
        File::open(&git).map(drop)
    };
    opened.map_err(|e| unreadable(top, &e))
}

/// The top git reports for the repository at `dir`, with symlinks resolved.
fn toplevel(dir: &Path) -> Result<PathBuf, CtlError> {
    let out = command::run(dir, &["rev-parse", "--show-toplevel"])?;
    let text = out.strip_suffix(b"\n").unwrap_or(&out);
    let top = Path::new(std::ffi::OsStr::from_bytes(text));
    fs::canonicalize(top).map_err(|e| unreadable(top, &e))
}

/// The error for a repository the caller cannot read, with the way out.
fn unreadable(path: &Path, err: &io::Error) -> CtlError {
    let shown = path.display();
    CtlError::Local(match err.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "cannot read repository {shown}: permission denied; run amika-ctl as a user who \
             can read it, or pass --no-git"
        ),
        _ => format!("cannot read repository {shown}: {err}; check the path, or pass --no-git"),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    use super::*;
    use crate::git::testing::{git, repo};

    /// Set when the test runs again as an unprivileged user: the path it must fail to read.
    const UNREADABLE: &str = "AMIKA_TEST_UNREADABLE_REPO";
    /// The account root runs the unprivileged half as.
    const NOBODY: u32 = 65534;

    #[test]
    fn the_top_is_found_from_any_directory_inside() {
        let (_dir, top) = repo();
        fs::create_dir_all(top.join("src/deep")).unwrap();
        let top = top.canonicalize().unwrap();
        assert_eq!(find(&top).unwrap(), Some(top.clone()));
        assert_eq!(find(&top.join("src/deep")).unwrap(), Some(top));
    }

    #[test]
    fn a_directory_outside_any_repository_has_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find(dir.path()).unwrap(), None);
    }

    #[test]
    fn the_nearest_repository_wins_over_an_enclosing_one() {
        let (_dir, top) = repo();
        let inner = top.join("vendor/lib");
        fs::create_dir_all(&inner).unwrap();
        git(&inner, &["init", "-q", "-b", "main"]);
        let found = find(&inner.join(".")).unwrap().unwrap();
        assert_eq!(found, inner.canonicalize().unwrap());
    }

    #[test]
    fn a_missing_path_or_a_file_is_refused_by_name() {
        let (_dir, top) = repo();
        let missing = top.join("nope");
        let message = find(&missing).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("cannot read repository {}: ", missing.display())),
            "{message}"
        );
        assert!(
            message.ends_with("; check the path, or pass --no-git"),
            "{message}"
        );
        let err = find(&top.join("README.md")).unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }

    #[test]
    fn a_broken_git_entry_is_not_mistaken_for_the_enclosing_repository() {
        let (_dir, top) = repo();
        let inner = top.join("pkg");
        fs::create_dir(&inner).unwrap();
        fs::write(inner.join(".git"), "not a gitfile\n").unwrap();
        let message = find(&inner).unwrap_err().to_string();
        assert!(message.contains("pkg/.git"), "{message}");
        assert!(message.ends_with("or pass --no-git"), "{message}");
    }

    #[test]
    fn an_unreadable_repository_is_refused_with_the_fix() {
        if let Some(top) = std::env::var_os(UNREADABLE) {
            assert_refused(Path::new(&top));
            return;
        }
        let (dir, top) = repo();
        let top = top.canonicalize().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        // Closed top: nothing in it can even be looked at.
        fs::set_permissions(&top, fs::Permissions::from_mode(0o000)).unwrap();
        let closed_top = refused_to_a_reader_without_access(&top);
        fs::set_permissions(&top, fs::Permissions::from_mode(0o755)).unwrap();
        // Open top, closed .git: git alone would look past it to an enclosing repository.
        let dot_git = top.join(".git");
        fs::set_permissions(&dot_git, fs::Permissions::from_mode(0o000)).unwrap();
        let closed_git = refused_to_a_reader_without_access(&top);
        fs::set_permissions(&dot_git, fs::Permissions::from_mode(0o755)).unwrap();
        closed_top.unwrap();
        closed_git.unwrap();
    }

    fn assert_refused(top: &Path) {
        let err = find(top).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read repository {}: permission denied; run amika-ctl as a user who can \
                 read it, or pass --no-git",
                top.display()
            )
        );
        assert_eq!(err.exit_code(), 1);
    }

    /// Runs [`assert_refused`] as a user who lacks the access the modes withhold: this user,
    /// or, for root, which reads everything, `nobody` in a child process running this test.
    fn refused_to_a_reader_without_access(top: &Path) -> Result<(), String> {
        if !nix::unistd::geteuid().is_root() {
            let check = std::panic::AssertUnwindSafe(|| assert_refused(top));
            return std::panic::catch_unwind(check)
                .map_err(|_| format!("{} was not refused", top.display()));
        }
        let test = "git::discover::tests::an_unreadable_repository_is_refused_with_the_fix";
        let output = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture"])
            .env(UNREADABLE, top)
            .current_dir("/")
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        if output.status.success() && stdout.contains("1 passed") {
            return Ok(());
        }
        Err(format!(
            "as nobody, {}: {stdout}{}",
            top.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
