//! Wire types shared by `amikad` and `amika-ctl`.
//!
//! Everything here is plain data with serde derives: the daemon and the client agree on these
//! shapes and on the route paths in [`paths`], and nothing else. The crate deliberately has no
//! I/O, so the client never links storage or SQLite code.

pub mod error;
pub mod events;
pub mod exec;
pub mod image;
pub mod names;
pub mod paths;
pub mod repository;
pub mod sandbox;
pub mod secret;
pub mod snapshot;
pub mod status;
pub mod stream;

pub use error::{ApiError, ErrorCode};
pub use events::Event;
pub use exec::ExecRequest;
pub use image::{BuildImage, Image, ImageSource, ImageState};
pub use repository::{DefaultSource, Repository, RepositoryDefault, SetDefaultSnapshot};
pub use sandbox::{
    Base, BaseKind, ChosenBy, CreateSandbox, GitRemote, GitRequest, Limits, NetworkMode, Sandbox,
    SandboxRepository, SandboxState, SetupState, StopSandbox,
};
pub use secret::{Secret, SecretTargets, SetSecret};
pub use snapshot::{
    CreateSnapshot, ScrubPreview, Snapshot, SnapshotMode, SnapshotSource, SnapshotState,
};
pub use status::Status;
