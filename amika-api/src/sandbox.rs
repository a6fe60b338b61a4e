//! Sandboxes: writable clones of an image (or, later, a snapshot).

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

/// The tree a sandbox was cloned from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    /// Image or snapshot.
    pub kind: BaseKind,
    /// The base's id.
    pub id: String,
    /// The base's name at the time of creation.
    pub name: String,
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
}

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
}

/// `POST /v1/sandboxes/{ref}/stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopSandbox {
    /// Seconds between SIGTERM and SIGKILL; 10 when absent.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}
