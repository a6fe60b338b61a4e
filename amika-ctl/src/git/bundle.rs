//! Packing a local repository's history, every branch and tag, into one git bundle.

use std::ffi::OsStr;
use std::path::Path;

use super::command;
use crate::error::CtlError;

/// Writes a bundle of every ref of the repository at `top` to `dest`, which must not exist.
pub fn create(top: &Path, dest: &Path) -> Result<(), CtlError> {
    if !has_refs(top)? {
        // git's own "Refusing to create empty bundle" does not say what to do.
        return Err(CtlError::Local(format!(
            "repository {} has no commits yet; commit something, or pass --no-git",
            top.display()
        )));
    }
    let args = [
        OsStr::new("bundle"),
        OsStr::new("create"),
        dest.as_os_str(),
        OsStr::new("--all"),
    ];
    command::run(top, &args).map(drop)
}

/// Whether the repository has any ref at all (a branch, a tag, a remote-tracking branch).
fn has_refs(top: &Path) -> Result<bool, CtlError> {
    let args = ["for-each-ref", "--count=1", "--format=%(refname)"];
    Ok(!command::run(top, &args)?.is_empty())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::git::testing::{empty_repo, git, repo};

    #[test]
    fn the_bundle_holds_every_branch_and_tag_and_clones() {
        let (dir, top) = repo();
        git(&top, &["tag", "v1"]);
        git(&top, &["checkout", "-q", "-b", "feature"]);
        fs::write(top.join("feature.txt"), "new\n").unwrap();
        git(&top, &["add", "feature.txt"]);
        git(&top, &["commit", "-q", "-m", "feature"]);
        let bundle = dir.path().join("app.bundle");
        create(&top, &bundle).unwrap();

        let heads = git(
            dir.path(),
            &["bundle", "list-heads", bundle.to_str().unwrap()],
        );
        for reference in [
            "refs/heads/main",
            "refs/heads/feature",
            "refs/tags/v1",
            "HEAD",
        ] {
            assert!(
                heads.contains(reference),
                "{reference} missing from:\n{heads}"
            );
        }
        let clone = dir.path().join("clone");
        let args = ["clone", "-q", "-b", "feature", bundle.to_str().unwrap()];
        git(
            dir.path(),
            &[&args[..], &[clone.to_str().unwrap()]].concat(),
        );
        assert_eq!(
            fs::read_to_string(clone.join("feature.txt")).unwrap(),
            "new\n"
        );
        assert_eq!(
            fs::read_to_string(clone.join("README.md")).unwrap(),
            "# app\n"
        );
    }

    #[test]
    fn an_empty_repository_says_to_commit_or_pass_no_git() {
        let (dir, top) = empty_repo();
        let err = create(&top, &dir.path().join("x.bundle")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "repository {} has no commits yet; commit something, or pass --no-git",
                top.display()
            )
        );
        assert!(!dir.path().join("x.bundle").exists());
    }
}
