//! Which repository a new sandbox gets, from `--git`, `--no-git` and the current directory.
//!
//! The rules: `--no-git` means none; `--git URL` is cloned by the daemon; `--git PATH` and a
//! bare `--git` name a local repository, which must exist; with neither flag, the repository
//! around the current directory is used if there is one, and none, silently, if there is
//! not. A local repository is read here and never named to the daemon.

use std::path::{Path, PathBuf};

use amika_api::GitRequest;

use crate::cli::GitArgs;
use crate::error::CtlError;
use crate::git::url::{self, Location};
use crate::git::{describe, discover};

/// The repository of a create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// No repository.
    None,
    /// A network repository the daemon clones; the request has `url` set.
    Url(GitRequest),
    /// A local repository, sent by the client.
    Local {
        /// Its top directory.
        top: PathBuf,
        /// What the daemon is told about it.
        request: GitRequest,
        /// Send the working tree as it is, too.
        no_clean: bool,
    },
}

/// Applies the rules to `args`. `cwd` is the current directory, or `None` when it cannot be
/// read (it was deleted, say), which only matters when it is needed.
pub fn choose(args: &GitArgs, cwd: Option<&Path>) -> Result<Choice, CtlError> {
    if args.no_git {
        return Ok(Choice::None);
    }
    let location = match &args.git {
        None => return around_cwd(args, cwd),
        Some(None) => Location::Path(needed(cwd)?.to_path_buf()),
        Some(Some(value)) => url::classify(value)?,
    };
    match location {
        Location::Url(url) => from_url(args, url),
        Location::Path(path) => {
            let start = cwd.map_or_else(|| path.clone(), |cwd| cwd.join(&path));
            let top = discover::find(&start)?.ok_or_else(|| {
                CtlError::Usage(format!(
                    "{} is not in a git repository; pass --git the path of a repository or a \
                     URL, or pass --no-git",
                    start.display()
                ))
            })?;
            local(args, top)
        }
    }
}

/// Neither `--git` nor `--no-git`: the repository around the current directory, if any.
fn around_cwd(args: &GitArgs, cwd: Option<&Path>) -> Result<Choice, CtlError> {
    let found = match cwd {
        Some(cwd) => discover::find(cwd)?,
        None => None,
    };
    if let Some(top) = found {
        return local(args, top);
    }
    let flags = args.needing_a_repository();
    if flags.is_empty() {
        return Ok(Choice::None);
    }
    let verb = if flags.len() == 1 { "needs" } else { "need" };
    let here = cwd.map_or_else(
        || "the current directory".to_string(),
        |cwd| cwd.display().to_string(),
    );
    Err(CtlError::Usage(format!(
        "{} {verb} a repository, and {here} is not in one; run amika-ctl inside a repository, \
         or pass --git PATH|URL",
        flags.join(" and ")
    )))
}

fn from_url(args: &GitArgs, url: String) -> Result<Choice, CtlError> {
    if args.no_clean {
        return Err(CtlError::Usage(format!(
            "--no-clean sends a local working tree, and {url} is a URL; leave out --no-clean, \
             or pass --git the path of a local clone"
        )));
    }
    Ok(Choice::Url(GitRequest {
        url: Some(url),
        branch: args.branch.clone(),
        new_branch: args.new_branch.clone(),
        ..GitRequest::default()
    }))
}

fn local(args: &GitArgs, top: PathBuf) -> Result<Choice, CtlError> {
    let request = GitRequest {
        branch: args.branch.clone(),
        new_branch: args.new_branch.clone(),
        ..describe::describe(&top)?
    };
    Ok(Choice::Local {
        top,
        request,
        no_clean: args.no_clean,
    })
}

fn needed(cwd: Option<&Path>) -> Result<&Path, CtlError> {
    cwd.ok_or_else(|| {
        CtlError::Local(
            "cannot read the current directory (was it deleted?); pass --git a path".into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::git::testing::{git, repo};

    fn args(git: Option<Option<&str>>) -> GitArgs {
        GitArgs {
            git: git.map(|value| value.map(str::to_string)),
            ..GitArgs::default()
        }
    }

    fn local_top(choice: &Choice) -> &Path {
        match choice {
            Choice::Local { top, .. } => top,
            other => panic!("not a local repository: {other:?}"),
        }
    }

    #[test]
    fn the_repository_around_the_current_directory_is_the_default() {
        let (_dir, top) = repo();
        git(
            &top,
            &["remote", "add", "origin", "https://github.com/org/app.git"],
        );
        fs::create_dir(top.join("src")).unwrap();
        let choice = choose(&args(None), Some(&top.join("src"))).unwrap();
        let Choice::Local {
            top: found,
            request,
            no_clean,
        } = choice
        else {
            panic!("not local: {choice:?}");
        };
        assert_eq!(found, top.canonicalize().unwrap());
        assert_eq!(
            request.url, None,
            "a local repository is never named by URL"
        );
        assert_eq!(request.name.as_deref(), Some("app"));
        assert_eq!(request.head.as_deref(), Some("main"));
        assert_eq!(request.remotes[0].url, "https://github.com/org/app.git");
        assert!(!no_clean);
    }

    #[test]
    fn outside_a_repository_there_is_none_unless_one_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(choose(&args(None), Some(dir.path())).unwrap(), Choice::None);
        let err = choose(&args(Some(None)), Some(dir.path())).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().starts_with(&format!(
                "{} is not in a git repository; ",
                dir.path().display()
            )),
            "{err}"
        );
    }

    #[test]
    fn no_git_wins_even_inside_a_repository() {
        let (_dir, top) = repo();
        let no_git = GitArgs {
            no_git: true,
            ..GitArgs::default()
        };
        assert_eq!(choose(&no_git, Some(&top)).unwrap(), Choice::None);
    }

    #[test]
    fn a_path_is_taken_from_the_current_directory() {
        let (dir, top) = repo();
        let choice = choose(&args(Some(Some("app"))), Some(dir.path())).unwrap();
        assert_eq!(local_top(&choice), top.canonicalize().unwrap());
        let url = format!("file://{}", top.display());
        let choice = choose(&args(Some(Some(&url))), None).unwrap();
        assert_eq!(local_top(&choice), top.canonicalize().unwrap());
    }

    #[test]
    fn a_url_goes_to_the_daemon_with_the_branches() {
        let with_branches = GitArgs {
            branch: Some("dev".into()),
            new_branch: Some("fix-1".into()),
            ..args(Some(Some("git@github.com:org/app.git")))
        };
        let expected = GitRequest {
            url: Some("git@github.com:org/app.git".into()),
            branch: Some("dev".into()),
            new_branch: Some("fix-1".into()),
            ..GitRequest::default()
        };
        assert_eq!(choose(&with_branches, None).unwrap(), Choice::Url(expected));
        let no_clean = GitArgs {
            no_clean: true,
            ..args(Some(Some("https://github.com/org/app.git")))
        };
        let err = choose(&no_clean, None).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err
            .to_string()
            .starts_with("--no-clean sends a local working tree"));
    }

    #[test]
    fn checkout_flags_without_a_repository_name_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let flags = GitArgs {
            branch: Some("dev".into()),
            no_clean: true,
            ..GitArgs::default()
        };
        let err = choose(&flags, Some(dir.path())).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            format!(
                "--branch and --no-clean need a repository, and {} is not in one; run amika-ctl \
                 inside a repository, or pass --git PATH|URL",
                dir.path().display()
            )
        );
    }

    #[test]
    fn local_checkout_flags_are_passed_on() {
        let (_dir, top) = repo();
        let flags = GitArgs {
            branch: Some("main".into()),
            new_branch: Some("try".into()),
            no_clean: true,
            ..GitArgs::default()
        };
        let Choice::Local {
            request, no_clean, ..
        } = choose(&flags, Some(&top)).unwrap()
        else {
            panic!("not local");
        };
        assert!(no_clean);
        assert_eq!(request.branch.as_deref(), Some("main"));
        assert_eq!(request.new_branch.as_deref(), Some("try"));
    }
}
