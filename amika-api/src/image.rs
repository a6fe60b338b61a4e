//! Images: read-only trees that sandboxes clone.

use serde::{Deserialize, Serialize};

/// Where an image came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageSource {
    /// Built by the daemon from a preset recipe.
    Preset {
        /// The preset's name, e.g. `minimal`.
        preset: String,
    },
    /// Uploaded by a user as a tar stream or a directory.
    Import,
}

/// An image's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageState {
    /// Being imported or built; not yet usable.
    Building,
    /// Sealed read-only and ready to clone.
    Ready,
    /// Unusable; `error` says why.
    Failed,
}

/// An image as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Stable identifier.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Where it came from.
    pub source: ImageSource,
    /// Life-cycle state.
    pub state: ImageState,
    /// Bytes of file data in the tree, when known.
    pub size_bytes: Option<u64>,
    /// Why it failed, for `failed`.
    pub error: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// Body of `POST /v1/images/build`: build a preset's image now instead of on first use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildImage {
    /// The preset, e.g. `coder`.
    pub preset: String,
    /// Rebuild even when a ready image of the preset exists; the old one is deleted first.
    #[serde(default)]
    pub force: bool,
}
