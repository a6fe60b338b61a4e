//! Making a repository's checkout on the host, in the daemon's private work directory,
//! before it is copied into a sandbox.
//!
//! The checkout is made outside the sandbox's tree on purpose: the tree may come from a
//! snapshot someone else configured, and git running as root must never follow a link that
//! tree planted. Only the finished checkout goes in, through the in-root writer.

use std::path::{Path, PathBuf};

use amika_api::GitRequest;

use super::git::Git;
use super::url::{self, NetworkUrl};
use crate::safefs::TreeRoot;

/// What identifies a repository and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The normalised origin URL, or `commit:<sha>` of its first commit.
    pub key: String,
    /// The directory name in the workspace.
    pub name: String,
    /// The origin URL without credentials, when there is one.
    pub url: Option<String>,
}

/// A finished checkout.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// Where it is on the host.
    pub dir: PathBuf,
    /// The branch checked out, or `None` for a detached head.
    pub branch: Option<String>,
    /// The first commit, for a repository without a network remote.
    pub root_commit: Option<String>,
}

/// Where the repository's objects come from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The daemon clones this network URL.
    Url(&'a str),
    /// The client sent a bundle, and for `--no-clean` a tar of its working tree.
    Bundle {
        /// The bundle file.
        bundle: &'a Path,
        /// The working tree tar, if sent.
        worktree: Option<&'a Path>,
    },
}

/// Checks a request's URL, remotes and names before any work: a bad one is the caller's
/// mistake, not a failed clone.
pub fn validate(request: &GitRequest) -> Result<(), String> {
    if let Some(address) = &request.url {
        let parsed = url::parse_network(address).ok_or_else(|| {
            format!(
                "'{address}' is not a network repository URL; use https://, http://, git://, \
                 ssh:// or user@host:path (a local repository is sent by amika-ctl itself)"
            )
        })?;
        if parsed.has_password {
            return Err(format!(
                "the URL {} carries a password; store it as a secret with a git host \
                 (amika-ctl secret set NAME --git-host HOST) and give the URL without it",
                url::without_credentials(address)
            ));
        }
    }
    for remote in &request.remotes {
        if !is_ref_like(&remote.name) || url::parse_network(&remote.url).is_none() {
            return Err(format!(
                "remote '{}' ({}) is not a named network remote",
                remote.name,
                url::without_credentials(&remote.url)
            ));
        }
    }
    for (what, branch) in [
        ("branch", &request.branch),
        ("new branch", &request.new_branch),
        ("head", &request.head),
    ] {
        if let Some(branch) = branch.as_deref().filter(|b| !is_ref_like(b)) {
            return Err(format!(
                "{what} '{branch}' is not a valid branch name; branch names cannot start \
                 with '-' or contain spaces, '..', '~', '^', ':' or '\\'"
            ));
        }
    }
    if let Some(name) = &request.name {
        check_name(name)?;
    }
    Ok(())
}

/// The identity a request gives before anything is fetched: its URL, else its first
/// network remote (`origin` preferred). `None` when only the first commit can tell.
pub fn identity_from_request(request: &GitRequest) -> Option<Identity> {
    let from_url = |address: &str, parsed: NetworkUrl| Identity {
        key: parsed.key(),
        name: request
            .name
            .clone()
            .unwrap_or_else(|| parsed.name().to_owned()),
        url: Some(url::without_credentials(address)),
    };
    if let Some(address) = &request.url {
        return url::parse_network(address).map(|p| from_url(address, p));
    }
    let origin = request.remotes.iter().find(|r| r.name == "origin");
    origin
        .into_iter()
        .chain(request.remotes.iter())
        .find_map(|r| url::parse_network(&r.url).map(|p| from_url(&r.url, p)))
}

/// The directory name a request's repository gets when no remote names it.
pub fn fallback_name(request: &GitRequest) -> String {
    request.name.clone().unwrap_or_else(|| "repo".to_owned())
}

/// Makes the checkout at `dir` (which must not exist): clone or fetch, remotes, branch,
/// working tree.
pub fn prepare(
    git: &Git,
    dir: &Path,
    request: &GitRequest,
    source: Source<'_>,
) -> Result<Checkout, String> {
    let dir_text = dir.to_string_lossy().into_owned();
    let run = |args: &[&str]| git.run(Some(dir), args);
    match source {
        Source::Url(address) => {
            git.run(
                None,
                &[
                    "-c",
                    "protocol.file.allow=never",
                    "clone",
                    "--quiet",
                    "--",
                    address,
                    &dir_text,
                ],
            )
            .map_err(fail(&format!(
                "cloning {}",
                url::without_credentials(address)
            )))?;
        }
        Source::Bundle { bundle, worktree } => {
            let bundle = bundle.to_string_lossy();
            // HEAD starts on a branch the bundle cannot have, so that the checkout below
            // really switches and fills the working tree.
            git.run(
                None,
                &[
                    "init",
                    "--quiet",
                    "--initial-branch=amika-unborn",
                    &dir_text,
                ],
            )
            .map_err(fail("preparing the checkout"))?;
            run(&[
                "fetch",
                "--quiet",
                "--update-head-ok",
                &bundle,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
                "+refs/remotes/*:refs/remotes/*",
            ])
            .map_err(fail("reading the repository bundle"))?;
            for remote in &request.remotes {
                // A token written into a remote URL would sit in every snapshot of the
                // sandbox and in the daemon's logs; credentials come from stored secrets.
                let address = url::without_credentials(&remote.url);
                run(&["remote", "add", "--", &remote.name, &address])
                    .map_err(fail(&format!("adding remote {}", remote.name)))?;
            }
            match (&request.branch, &request.head) {
                (Some(branch), _) | (None, Some(branch)) => {
                    run(&["checkout", "--quiet", branch, "--"])
                        .map_err(fail(&format!("checking out {branch}")))?;
                }
                (None, None) => {
                    run(&["fetch", "--quiet", &bundle, "HEAD"])
                        .map_err(fail("reading the bundle's head"))?;
                    run(&["checkout", "--quiet", "--detach", "FETCH_HEAD"])
                        .map_err(fail("checking out the host's head"))?;
                }
            }
            if let (Some(upstream), None) = (&request.upstream, &request.branch) {
                // The host's tracking setup is a convenience; a ref the bundle lacks is no
                // reason to fail the sandbox.
                let _ = run(&["branch", "--quiet", "--set-upstream-to", upstream]);
            }
            if let Some(worktree) = worktree {
                replace_worktree(dir, worktree)?;
            }
        }
    }
    if let (Source::Url(_), Some(branch)) = (source, &request.branch) {
        run(&["checkout", "--quiet", branch, "--"])
            .map_err(fail(&format!("checking out {branch}")))?;
    }
    if let Some(new_branch) = &request.new_branch {
        run(&["checkout", "--quiet", "-b", new_branch])
            .map_err(fail(&format!("creating branch {new_branch}")))?;
    }
    let branch = run(&["symbolic-ref", "--quiet", "--short", "HEAD"])
        .ok()
        .filter(|b| !b.is_empty());
    let root_commit = run(&["rev-list", "--max-parents=0", "HEAD"])
        .ok()
        .and_then(|roots| roots.lines().map(str::to_owned).min());
    Ok(Checkout {
        dir: dir.to_owned(),
        branch,
        root_commit,
    })
}

/// Replaces the checkout's files (everything but `.git`) with the client's working tree, so
/// that uncommitted changes, additions and deletions all arrive.
fn replace_worktree(dir: &Path, worktree: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading the checkout: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading the checkout: {e}"))?;
        if entry.file_name() == ".git" {
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        removed.map_err(|e| format!("clearing {}: {e}", path.display()))?;
    }
    let root = TreeRoot::open(dir).map_err(|e| format!("opening the checkout: {e}"))?;
    let tar = std::fs::File::open(worktree).map_err(|e| format!("opening worktree.tar: {e}"))?;
    crate::unpack::unpack(std::io::BufReader::new(tar), &root)
        .map_err(|e| format!("unpacking the working tree: {e}"))?;
    if std::fs::symlink_metadata(dir.join(".git")).is_ok_and(|m| m.is_dir()) {
        Ok(())
    } else {
        Err("the working tree replaced the repository's .git; send it without .git".into())
    }
}

/// Turns a failed git run into the sentence the setup track shows.
fn fail(what: &str) -> impl Fn(crate::command::CommandError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Checks a workspace directory name: one plain path component.
pub fn check_name(name: &str) -> Result<(), String> {
    let plain = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        Ok(())
    } else {
        Err(format!(
            "repository name '{name}' cannot be a workspace directory; use letters, digits, \
             '-', '_' and '.', not starting with '.'"
        ))
    }
}

/// A conservative form of git's ref-name rules, enough to keep an option or a path from
/// posing as a branch or remote name.
fn is_ref_like(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("@{")
        && !name
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amika_api::GitRemote;

    #[test]
    fn identity_prefers_the_url_then_origin() {
        let request = GitRequest {
            url: Some("https://github.com/org/tool.git".into()),
            ..GitRequest::default()
        };
        let id = identity_from_request(&request).unwrap();
        assert_eq!(id.key, "github.com/org/tool");
        assert_eq!(id.name, "tool");

        let request = GitRequest {
            name: Some("checkout-dir".into()),
            remotes: vec![
                GitRemote {
                    name: "fork".into(),
                    url: "git@github.com:me/tool.git".into(),
                },
                GitRemote {
                    name: "origin".into(),
                    url: "https://github.com/org/tool".into(),
                },
            ],
            ..GitRequest::default()
        };
        let id = identity_from_request(&request).unwrap();
        assert_eq!(id.key, "github.com/org/tool");
        assert_eq!(id.name, "checkout-dir");
        assert_eq!(identity_from_request(&GitRequest::default()), None);
    }

    #[test]
    fn urls_with_passwords_and_local_urls_are_refused() {
        let with = |url: &str| GitRequest {
            url: Some(url.into()),
            ..GitRequest::default()
        };
        let err = validate(&with("https://me:tok@github.com/o/r")).unwrap_err();
        assert!(err.contains("secret") && !err.contains("tok"), "{err}");
        assert!(validate(&with("file:///etc")).is_err());
        assert!(validate(&with("/srv/repo")).is_err());
        assert!(validate(&with("git://example.com/r")).is_ok());
    }

    #[test]
    fn option_like_branches_and_names_are_refused() {
        let branch = |b: &str| GitRequest {
            branch: Some(b.into()),
            ..GitRequest::default()
        };
        assert!(validate(&branch("--upload-pack=x")).is_err());
        assert!(validate(&branch("a..b")).is_err());
        assert!(validate(&branch("feature/x")).is_ok());
        assert!(check_name("..").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("my-repo.rs").is_ok());
    }
}
