//! Sandboxes: writable clones of an image or a snapshot, with an optional repository.

use serde::{Deserialize, Serialize};

/// The sandbox life cycle from the product contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxState {
    /// The tree is being cloned.
    Creating,
    /// Its init process is up.
    Running,
    /// Its processes are being stopped.
    Stopping,
    /// It has a tree and no processes.
    Stopped,
    /// A snapshot of it is being captured.
    Snapshotting,
    /// Something went wrong; `error` says what.
    Failed,
}

impl SandboxState {
    /// The name used on the wire and in text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Snapshotting => "snapshotting",
            Self::Failed => "failed",
        }
    }
}

/// The setup-script track, separate from the life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetupState {
    /// No setup script applies.
    None,
    /// The setup script is running.
    SetupRunning,
    /// The setup script succeeded.
    Ok,
    /// The setup script exited non-zero.
    SetupFailed,
    /// The repository could not be cloned.
    GitFailed,
}

impl SetupState {
    /// The name used on the wire and in text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::SetupRunning => "setup-running",
            Self::Ok => "ok",
            Self::SetupFailed => "setup-failed",
            Self::GitFailed => "git-failed",
        }
    }
}

/// What kind of tree a sandbox was cloned from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseKind {
    /// An image (imported or built from a preset).
    Image,
    /// A captured snapshot.
    Snapshot,
}

/// Which rule of the base choice picked a sandbox's base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChosenBy {
    /// `--snapshot`, `--image` or `--preset` on the command line.
    Flag,
    /// The repository's default snapshot in the state store.
    RepoDefault,
    /// `[sandbox] snapshot` or `[sandbox] preset` in the repository's `.amika/config.toml`.
    Config,
    /// The daemon's default preset.
    Preset,
}

impl ChosenBy {
    /// The name used on the wire and in text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flag => "flag",
            Self::RepoDefault => "repo-default",
            Self::Config => "config",
            Self::Preset => "preset",
        }
    }
}

/// The tree a sandbox was cloned from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    /// Image or snapshot.
    pub kind: BaseKind,
    /// The base's id.
    pub id: String,
    /// The base's name at the time of creation.
    pub name: String,
    /// The rule that chose it, for a sandbox's base (a snapshot's base shows none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_by: Option<ChosenBy>,
}

/// The repository a sandbox was created with, as the sandbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRepository {
    /// The repository's id in the state store.
    pub id: String,
    /// Its short name, also the directory name under the workspace.
    pub name: String,
    /// Where it is checked out inside the sandbox (`AMIKA_AGENT_CWD`).
    pub path: String,
    /// The branch checked out, or `None` for a detached head or a failed clone.
    pub branch: Option<String>,
}

/// How a sandbox reaches the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// Share the host's network namespace (and its `/etc/resolv.conf`).
    #[default]
    Host,
    /// A namespace of its own with only loopback up.
    None,
}

impl NetworkMode {
    /// The name used on the wire and in text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::None => "none",
        }
    }
}

/// Resource limits, enforced through the sandbox's cgroup. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory limit in bytes.
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// CPU limit in cores, e.g. `1.5`.
    #[serde(default)]
    pub cpus: Option<f64>,
    /// Maximum number of processes and threads.
    #[serde(default)]
    pub pids: Option<u64>,
}

/// A sandbox as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sandbox {
    /// Stable identifier.
    pub id: String,
    /// Unique DNS-label name; also the hostname inside.
    pub name: String,
    /// Life-cycle state.
    pub state: SandboxState,
    /// Setup-script track.
    pub setup: SetupState,
    /// What it was cloned from.
    pub base: Base,
    /// Why it failed, for `failed`.
    pub error: Option<String>,
    /// Why the setup track is `git-failed` or `setup-failed`.
    #[serde(default)]
    pub setup_error: Option<String>,
    /// The setup script's exit code once it has finished.
    #[serde(default)]
    pub setup_exit_code: Option<i32>,
    /// The repository it was created with.
    #[serde(default)]
    pub repository: Option<SandboxRepository>,
    /// Network mode.
    pub network: NetworkMode,
    /// Resource limits.
    pub limits: Limits,
    /// The init process's pid on the host, while running.
    pub pid: Option<i32>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last state change.
    pub updated_at: String,
    /// Things the create noticed and did not stop for (unknown configuration keys, a flag
    /// that a higher rule overrode); only in the create result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A network remote of the host repository, set on the sandbox's clone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitRemote {
    /// The remote's name, e.g. `origin`.
    pub name: String,
    /// Its URL.
    pub url: String,
}

/// The repository a new sandbox gets at `/home/amika/workspace/<name>`.
///
/// Either `url` names a network repository that the daemon clones, or the request is sent
/// as a [`CREATE_ARCHIVE_CONTENT_TYPE`] body whose [`CREATE_ARCHIVE_BUNDLE`] entry is a git
/// bundle the client made of a local repository with the caller's own permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitRequest {
    /// A network URL (`https://`, `http://`, `git://`, `ssh://`) for the daemon to clone.
    #[serde(default)]
    pub url: Option<String>,
    /// The directory name in the workspace; derived from the URL when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// The host repository's network remotes, which the clone gets as its own.
    #[serde(default)]
    pub remotes: Vec<GitRemote>,
    /// The branch checked out on the host; `None` when its head is detached.
    #[serde(default)]
    pub head: Option<String>,
    /// The remote-tracking branch that `head` follows on the host, e.g. `origin/main`.
    #[serde(default)]
    pub upstream: Option<String>,
    /// Check out this branch instead of the default one.
    #[serde(default)]
    pub branch: Option<String>,
    /// Create this branch (from `branch`, or the default one) and check it out.
    #[serde(default)]
    pub new_branch: Option<String>,
}

/// The content type of a create request that carries files: a tar stream whose entries are
/// [`CREATE_ARCHIVE_REQUEST`], then [`CREATE_ARCHIVE_BUNDLE`], then optionally
/// [`CREATE_ARCHIVE_WORKTREE`].
pub const CREATE_ARCHIVE_CONTENT_TYPE: &str = "application/x-tar";
/// The [`CreateSandbox`] request, as JSON.
pub const CREATE_ARCHIVE_REQUEST: &str = "request.json";
/// A git bundle of the local repository (`git bundle create - --all`).
pub const CREATE_ARCHIVE_BUNDLE: &str = "repo.bundle";
/// A tar of the working tree as it is, for `--no-clean`: every file that is tracked or not
/// ignored, relative to the repository's top.
pub const CREATE_ARCHIVE_WORKTREE: &str = "worktree.tar";

/// The largest setup script a create request may carry, in bytes of UTF-8 text; the client
/// refuses a larger file before sending, and the daemon refuses a larger field.
pub const MAX_SETUP_SCRIPT_BYTES: usize = 1 << 20;

/// `POST /v1/sandboxes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSandbox {
    /// The name; generated as `{color}-{city}` when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Clone this image. Exclusive with `preset`.
    #[serde(default)]
    pub image: Option<String>,
    /// Clone this preset's image, building it first if needed. Exclusive with `image`.
    #[serde(default)]
    pub preset: Option<String>,
    /// Boot from this snapshot (by name or id). Exclusive with `image` and `preset`.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Stored secrets to inject, by name.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Network mode; `host` when absent.
    #[serde(default)]
    pub network: NetworkMode,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// The repository to check out in the workspace.
    #[serde(default)]
    pub git: Option<GitRequest>,
    /// Ignore the repository's default snapshot and `[sandbox] snapshot`.
    #[serde(default)]
    pub no_snapshot: bool,
    /// Run no setup script.
    #[serde(default)]
    pub no_setup: bool,
    /// A setup script's text, sent by the client; it overrides `[lifecycle] setup_script`. At
    /// most [`MAX_SETUP_SCRIPT_BYTES`].
    #[serde(default)]
    pub setup_script: Option<String>,
}

/// `POST /v1/sandboxes/{ref}/stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopSandbox {
    /// Seconds between SIGTERM and SIGKILL; 10 when absent.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}
