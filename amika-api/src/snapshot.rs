//! Snapshots: captured sandboxes that new sandboxes boot from.

use serde::{Deserialize, Serialize};

use crate::Base;

/// How a snapshot treats the secrets the daemon injected, and its source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotMode {
    /// Scrub injected secrets from the capture, then delete the source sandbox.
    #[default]
    ScrubAndDelete,
    /// Scrub injected secrets from the capture; the source keeps running with its secrets.
    Scrub,
    /// Capture as-is, secrets included; the source keeps running.
    Full,
}

impl SnapshotMode {
    /// The name used on the wire and in text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScrubAndDelete => "scrub_and_delete",
            Self::Scrub => "scrub",
            Self::Full => "full",
        }
    }

    /// Whether this mode scrubs.
    pub fn scrubs(self) -> bool {
        self != Self::Full
    }
}

/// A snapshot's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotState {
    /// The sandbox is being captured and, for scrubbing modes, scrubbed and verified.
    Capturing,
    /// The capture is being made read-only and durable.
    Finalizing,
    /// Ready to boot from.
    Active,
    /// Unusable; `error` says why.
    Failed,
}

impl SnapshotState {
    /// The name used on the wire and in text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Capturing => "capturing",
            Self::Finalizing => "finalizing",
            Self::Active => "active",
            Self::Failed => "failed",
        }
    }
}

/// The sandbox a snapshot was captured from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSource {
    /// The sandbox's id.
    pub id: String,
    /// The sandbox's name.
    pub name: String,
}

/// A snapshot as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Stable id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Free text from its creator.
    pub description: Option<String>,
    /// The sandbox it was captured from.
    pub source: SnapshotSource,
    /// The repository of the source sandbox, when it had one.
    pub repository: Option<String>,
    /// What the source sandbox booted from.
    pub base: Base,
    /// The preset at the root of that chain, when there is one.
    pub preset: Option<String>,
    /// How it was captured.
    pub mode: SnapshotMode,
    /// Life-cycle state.
    pub state: SnapshotState,
    /// Why it failed.
    pub error: Option<String>,
    /// Bytes of file data, once known.
    pub size_bytes: Option<u64>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

/// `POST /v1/snapshots`: capture a sandbox. Answered with 202 and the snapshot in
/// `capturing`; follow `GET /v1/events` or poll the snapshot for the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSnapshot {
    /// The sandbox to capture, by name or id.
    pub sandbox: String,
    /// The snapshot's name.
    pub name: String,
    /// The capture mode; `scrub_and_delete` when absent.
    #[serde(default)]
    pub mode: SnapshotMode,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// `GET /v1/sandboxes/{ref}/scrub-preview`: what a scrub would remove. Names and paths only,
/// never values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubPreview {
    /// Files (absolute paths inside the sandbox) that would be deleted.
    pub files: Vec<String>,
    /// Environment variables that would be removed.
    pub variables: Vec<String>,
    /// Git hosts whose tokens would be stripped.
    pub git_hosts: Vec<String>,
}
