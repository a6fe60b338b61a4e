//! What the daemon is told about a local repository besides its history: its name, the
//! network remotes its clone should get, and the branch checked out.

use std::path::Path;

use amika_api::{GitRemote, GitRequest};

use super::{command, url};
use crate::error::CtlError;

/// The [`GitRequest`] for the repository whose top is `top`; `branch` and `new_branch` are
/// left for the caller. Remotes that are local paths or `file://` URLs are left out: the
/// daemon could not reach them as the caller, and must never read a path for them.
pub fn describe(top: &Path) -> Result<GitRequest, CtlError> {
    let head = head(top)?;
    let upstream = match &head {
        Some(branch) => upstream(top, branch)?,
        None => None,
    };
    Ok(GitRequest {
        url: None,
        name: top
            .file_name()
            .map(|name| name.to_string_lossy().into_owned()),
        remotes: network_remotes(top)?,
        head,
        upstream,
        branch: None,
        new_branch: None,
    })
}

/// The remotes whose URL is a network URL, in git's order. The URL is the one git would use,
/// `url.<base>.insteadOf` rewriting applied, since the daemon does not have the caller's
/// configuration.
fn network_remotes(top: &Path) -> Result<Vec<GitRemote>, CtlError> {
    let names = text(command::run(top, &["remote"])?);
    let mut remotes = Vec::new();
    for name in names.lines().filter(|name| !name.is_empty()) {
        let url = text(command::run(top, &["remote", "get-url", name])?);
        let url = url.trim_end_matches('\n');
        if url::is_network(url) {
            remotes.push(GitRemote {
                name: name.to_string(),
                url: url.to_string(),
            });
        }
    }
    Ok(remotes)
}

/// The branch checked out, or `None` when the head is detached.
fn head(top: &Path) -> Result<Option<String>, CtlError> {
    let args = ["symbolic-ref", "--quiet", "--short", "HEAD"];
    let output = command::output(top, &args)?;
    match output.status.code() {
        Some(0) => Ok(Some(text(output.stdout).trim_end().to_string())),
        // `--quiet` makes a detached head exit 1 with nothing said; anything else is trouble.
        Some(1) if output.stderr.is_empty() => Ok(None),
        _ => Err(command::failed(top, &args, &output)),
    }
}

/// The branch `branch` follows, e.g. `origin/main`, or `None` when it follows none.
fn upstream(top: &Path, branch: &str) -> Result<Option<String>, CtlError> {
    // for-each-ref prints an empty line for a branch without an upstream instead of failing
    // as `@{upstream}` does, so a real failure is not confused with "none".
    let reference = format!("refs/heads/{branch}");
    let args = ["for-each-ref", "--format=%(upstream:short)", &reference];
    let upstream = text(command::run(top, &args)?);
    let upstream = upstream.trim_end();
    Ok((!upstream.is_empty()).then(|| upstream.to_string()))
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::{git, repo};

    #[test]
    fn only_network_remotes_are_described() {
        let (_dir, top) = repo();
        git(
            &top,
            &["remote", "add", "origin", "https://github.com/org/app.git"],
        );
        git(&top, &["remote", "add", "backup", "/srv/git/app.git"]);
        git(
            &top,
            &["remote", "add", "mirror", "file:///srv/git/app.git"],
        );
        git(
            &top,
            &["remote", "add", "work", "git@git.example:org/app.git"],
        );
        let described = describe(&top).unwrap();
        let names: Vec<(&str, &str)> = described
            .remotes
            .iter()
            .map(|r| (r.name.as_str(), r.url.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("origin", "https://github.com/org/app.git"),
                ("work", "git@git.example:org/app.git")
            ]
        );
        assert_eq!(described.name.as_deref(), Some("app"));
        assert_eq!(described.url, None);
    }

    #[test]
    fn rewritten_remote_urls_are_sent_as_git_would_use_them() {
        let (_dir, top) = repo();
        git(
            &top,
            &["config", "url.https://github.com/.insteadOf", "gh:"],
        );
        git(&top, &["remote", "add", "origin", "gh:org/app"]);
        let remotes = describe(&top).unwrap().remotes;
        assert_eq!(remotes[0].url, "https://github.com/org/app");
    }

    #[test]
    fn head_and_upstream_follow_the_checkout() {
        let (_dir, top) = repo();
        let described = describe(&top).unwrap();
        assert_eq!(described.head.as_deref(), Some("main"));
        assert_eq!(described.upstream, None);

        git(
            &top,
            &["remote", "add", "origin", "https://github.com/org/app.git"],
        );
        git(&top, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
        git(&top, &["branch", "--set-upstream-to=origin/main"]);
        let described = describe(&top).unwrap();
        assert_eq!(described.upstream.as_deref(), Some("origin/main"));

        git(&top, &["checkout", "-q", "--detach"]);
        let described = describe(&top).unwrap();
        assert_eq!((described.head, described.upstream), (None, None));
    }
}
