//! The repository part of a sandbox create: the files a client sent, the checkout on the
//! host, the repository row and its configuration file.
//!
//! Everything on the host lives in a work directory under the state directory that is
//! removed when the create ends, and swept at start-up after a crash.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use amika_api::sandbox::{CREATE_ARCHIVE_BUNDLE, CREATE_ARCHIVE_REQUEST, CREATE_ARCHIVE_WORKTREE};
use amika_api::{CreateSandbox, GitRequest};

use super::Service;
use crate::error::{Error, Result};
use crate::names;
use crate::repo::checkout::{self, Checkout, Identity, Source};
use crate::repo::config::{self, RepoConfig};
use crate::repo::git::Git;
use crate::repo::url;
use crate::safefs::TreeRoot;
use crate::state::RepositoryRow;

/// Where work directories live, under the state directory.
const WORK_AREA: &str = "work";

/// The largest `request.json` a create archive may carry.
const MAX_REQUEST_BYTES: u64 = 2 << 20;

/// A private directory removed when dropped.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Makes a fresh directory under `<state_dir>/work`.
    pub fn new(state_dir: &Path) -> io::Result<Self> {
        let area = state_dir.join(WORK_AREA);
        std::fs::create_dir_all(&area)?;
        let path = area.join(names::new_id());
        std::fs::create_dir(&path)?;
        Ok(Self { path })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes what crashed creates left behind; called at start-up, before any create.
    pub fn sweep(state_dir: &Path) -> io::Result<()> {
        match std::fs::remove_dir_all(state_dir.join(WORK_AREA)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove work dir");
        }
    }
}

/// A create request that came as an archive, with its files spooled to disk.
#[derive(Debug)]
pub struct CreateUpload {
    /// The request itself.
    pub request: CreateSandbox,
    /// The git bundle.
    pub bundle: PathBuf,
    /// The working tree tar, for `--no-clean`.
    pub worktree: Option<PathBuf>,
    /// Holds the files until the create is done.
    _dir: WorkDir,
}

/// The repository half of a create, ready for the base choice and the copy.
#[derive(Debug)]
pub(super) struct Workspace {
    /// The repository's row, when it could be identified.
    pub repository: Option<RepositoryRow>,
    /// The workspace directory name.
    pub name: String,
    /// The checkout on the host, unless git failed.
    pub checkout: Option<Checkout>,
    /// Why git failed.
    pub git_error: Option<String>,
    /// The configuration file, when the checkout has one.
    pub config: Option<RepoConfig>,
    /// Holds the checkout until the create is done.
    _dir: WorkDir,
}

impl Service {
    /// Reads a create archive: `request.json`, then the bundle, then the working tree.
    pub fn read_create_upload(&self, archive: &mut dyn Read) -> Result<CreateUpload> {
        let dir = WorkDir::new(&self.info.state_dir)
            .map_err(|e| Error::Internal(format!("making a work directory: {e}")))?;
        let bad = |what: String| Error::InvalidRequest(format!("create archive: {what}"));
        let mut archive = tar::Archive::new(archive);
        let mut request: Option<CreateSandbox> = None;
        let (mut bundle, mut worktree) = (None, None);
        let entries = archive.entries().map_err(|e| bad(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(e.to_string()))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            match name.as_str() {
                CREATE_ARCHIVE_REQUEST if request.is_none() => {
                    let mut text = Vec::new();
                    (&mut entry)
                        .take(MAX_REQUEST_BYTES)
                        .read_to_end(&mut text)
                        .map_err(|e| bad(e.to_string()))?;
                    let parsed = serde_json::from_slice(&text)
                        .map_err(|e| bad(format!("{CREATE_ARCHIVE_REQUEST}: {e}")))?;
                    request = Some(parsed);
                }
                CREATE_ARCHIVE_BUNDLE | CREATE_ARCHIVE_WORKTREE if request.is_some() => {
                    let path = dir.path().join(&name);
                    let mut file = std::fs::File::create(&path)
                        .map_err(|e| Error::Internal(format!("spooling {name}: {e}")))?;
                    io::copy(&mut entry, &mut file).map_err(|e| bad(format!("{name}: {e}")))?;
                    if name == CREATE_ARCHIVE_BUNDLE {
                        bundle = Some(path);
                    } else {
                        worktree = Some(path);
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "unexpected entry '{name}'; the archive holds {CREATE_ARCHIVE_REQUEST}, \
                         then {CREATE_ARCHIVE_BUNDLE}, then optionally {CREATE_ARCHIVE_WORKTREE}"
                    )))
                }
            }
        }
        let request = request.ok_or_else(|| bad(format!("no {CREATE_ARCHIVE_REQUEST}")))?;
        let bundle = bundle.ok_or_else(|| bad(format!("no {CREATE_ARCHIVE_BUNDLE}")))?;
        Ok(CreateUpload {
            request,
            bundle,
            worktree,
            _dir: dir,
        })
    }

    /// Makes the checkout, finds or records the repository, reads its configuration.
    ///
    /// A git failure is not an error here: the sandbox is still made, with its setup track
    /// at `git-failed`. A malformed configuration file is, since every rule that follows
    /// depends on it.
    pub(super) fn prepare_workspace(
        &self,
        git: &GitRequest,
        upload: Option<&CreateUpload>,
    ) -> Result<Workspace> {
        checkout::validate(git).map_err(Error::InvalidRequest)?;
        let source = match (&git.url, upload) {
            (Some(address), None) => Source::Url(address),
            (None, Some(upload)) => Source::Bundle {
                bundle: &upload.bundle,
                worktree: upload.worktree.as_deref(),
            },
            (Some(_), Some(_)) => {
                return Err(Error::InvalidRequest(
                    "a create with a git URL carries no bundle; send one or the other".into(),
                ))
            }
            (None, None) => {
                return Err(Error::InvalidRequest(
                    "a local repository must come as a bundle in an application/x-tar create \
                     request; amika-ctl sandbox create --git sends one"
                        .into(),
                ))
            }
        };
        let dir = WorkDir::new(&self.info.state_dir)
            .map_err(|e| Error::Internal(format!("making a work directory: {e}")))?;
        let home = dir.path().join("home");
        std::fs::create_dir(&home)
            .map_err(|e| Error::Internal(format!("making a work directory: {e}")))?;
        let target = dir.path().join("checkout");
        let made = Git::find(&home)
            .map_err(|e| e.to_string())
            .and_then(|git_tool| checkout::prepare(&git_tool, &target, git, source));
        let (checkout, git_error) = match made {
            Ok(checkout) => (Some(checkout), None),
            Err(reason) => {
                tracing::warn!(error = %reason, "repository checkout failed");
                (None, Some(reason))
            }
        };
        let identity = checkout::identity_from_request(git).or_else(|| {
            let root = checkout.as_ref()?.root_commit.as_deref()?;
            Some(Identity {
                key: url::commit_key(root),
                name: checkout::fallback_name(git),
                url: None,
            })
        });
        let config = match &checkout {
            Some(checkout) => read_config(&checkout.dir)?,
            None => None,
        };
        let repository = match &identity {
            Some(identity) => {
                let row = self.store.upsert_repository(
                    &names::new_id(),
                    &identity.key,
                    &identity.name,
                    identity.url.as_deref(),
                )?;
                if checkout.is_some() {
                    let snapshot = config.as_ref().and_then(|c| c.snapshot.as_deref());
                    self.store.set_config_snapshot(&row.id, snapshot)?;
                }
                Some(row)
            }
            None => None,
        };
        let name = identity
            .map(|i| i.name)
            .unwrap_or_else(|| checkout::fallback_name(git));
        checkout::check_name(&name).map_err(Error::InvalidRequest)?;
        Ok(Workspace {
            repository,
            name,
            checkout,
            git_error,
            config,
            _dir: dir,
        })
    }
}

/// Reads `.amika/config.toml` from a checkout without following links out of it.
fn read_config(checkout: &Path) -> Result<Option<RepoConfig>> {
    let root = TreeRoot::open(checkout)
        .map_err(|e| Error::Internal(format!("opening the checkout: {e}")))?;
    let text = match root.read_file(Path::new(config::CONFIG_PATH)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::InvalidRequest(format!(
                "cannot read {} in the repository: {e}",
                config::CONFIG_PATH
            )))
        }
    };
    let text = String::from_utf8(text)
        .map_err(|_| Error::InvalidRequest(format!("{} is not UTF-8 text", config::CONFIG_PATH)))?;
    config::parse(&text)
        .map(Some)
        .map_err(|e| Error::InvalidRequest(e.to_string()))
}
