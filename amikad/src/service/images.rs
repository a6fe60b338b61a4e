//! Images: import from a tar stream, build from a preset, list, show, delete.

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use amika_api::{Image, ImageSource, ImageState};

use super::Service;
use crate::error::{Error, Result};
use crate::state::{is_unique_violation, rfc3339, ImageRow, OperationKind};
use crate::storage::TreeRef;
use crate::unpack::{self, Compression, UnpackError};
use crate::{failpoint, names, presets, safefs::TreeRoot};

/// The presets this daemon can build.
pub const PRESETS: &[&str] = &["minimal", "debian", "coder"];

/// The preset a sandbox gets when the request names no base and the daemon's configuration
/// names no other: the development image, as in the hosted product.
pub const DEFAULT_PRESET: &str = "coder";

impl From<ImageRow> for Image {
    fn from(row: ImageRow) -> Self {
        Image {
            id: row.id,
            name: row.name,
            source: row.source,
            state: row.state,
            size_bytes: row.size_bytes,
            error: row.error,
            created_at: rfc3339(row.created_at),
        }
    }
}

impl Service {
    /// Every image.
    pub fn list_images(&self) -> Result<Vec<Image>> {
        Ok(self
            .store
            .list_images()?
            .into_iter()
            .map(Image::from)
            .collect())
    }

    /// One image by name or id.
    pub fn image(&self, reference: &str) -> Result<Image> {
        self.find_image(reference).map(Image::from)
    }

    pub(super) fn find_image(&self, reference: &str) -> Result<ImageRow> {
        self.store
            .find_image(reference)?
            .ok_or_else(|| Error::not_found("image", reference))
    }

    /// Imports a root filesystem from a tar stream as image `name`.
    ///
    /// The tree is filled in place under a journaled intent; an archive that is refused, a
    /// stream that breaks off, or a crash leaves neither the tree nor the row behind.
    pub fn import_image(
        &self,
        name: &str,
        archive: &mut dyn Read,
        compression: Compression,
    ) -> Result<Image> {
        names::validate("image", name)?;
        let id = names::new_id();
        let op = self.begin_image(&id, name, &ImageSource::Import, OperationKind::ImportImage)?;
        let tree = TreeRef::image(&id);
        tracing::info!(image = name, id = %id, "importing image");

        let filled = self
            .storage
            .create(&tree)
            .map_err(Error::from)
            .and_then(|path| {
                failpoint::hit("image-import:after-create");
                let root = TreeRoot::open(&path)
                    .map_err(|e| Error::Storage(format!("open {}: {e}", path.display())))?;
                let reader = unpack::decoder(archive, compression).map_err(|e| {
                    Error::InvalidRequest(format!("cannot decompress the upload: {e}"))
                })?;
                let stats = unpack::unpack(reader, &root).map_err(|e| unpack_error(name, e))?;
                self.storage.seal(&tree)?;
                Ok(stats.bytes)
            });
        self.finish_or_undo_image(&id, name, op, filled)
    }

    /// Returns the ready image of `preset`, building it first if needed. Concurrent callers
    /// for the same preset wait for one build.
    pub fn ensure_preset(&self, preset: &str) -> Result<ImageRow> {
        self.build_or_reuse(preset, false)
    }

    /// Builds the image of `preset` now; with `force`, a ready image of it is deleted and
    /// rebuilt rather than reused.
    pub fn build_image(&self, preset: &str, force: bool) -> Result<Image> {
        self.build_or_reuse(preset, force).map(Image::from)
    }

    fn build_or_reuse(&self, preset: &str, force: bool) -> Result<ImageRow> {
        if !PRESETS.contains(&preset) {
            return Err(Error::InvalidRequest(format!(
                "unknown preset '{preset}'; known presets: {}",
                PRESETS.join(", ")
            )));
        }
        let lock = self.preset_lock(preset);
        let _build = lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(row) = self.store.find_image(preset)? {
            match row.state {
                ImageState::Ready if !force => return Ok(row),
                ImageState::Ready | ImageState::Failed => self.delete_image(&row.id)?,
                ImageState::Building => {
                    return Err(Error::Conflict(format!(
                        "image '{preset}' is being built by another request; retry shortly"
                    )))
                }
            }
        }
        self.build_preset(preset)
    }

    fn preset_lock(&self, preset: &str) -> Arc<Mutex<()>> {
        let mut locks = self.preset_builds.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(preset.to_owned()).or_default().clone()
    }

    fn build_preset(&self, preset: &str) -> Result<ImageRow> {
        let id = names::new_id();
        let source = ImageSource::Preset {
            preset: preset.to_owned(),
        };
        let op = self.begin_image(&id, preset, &source, OperationKind::BuildImage)?;
        let tree = TreeRef::image(&id);
        tracing::info!(image = preset, id = %id, "building preset image");

        let built = self
            .storage
            .create(&tree)
            .map_err(Error::from)
            .and_then(|path| {
                let progress = |step: &str| {
                    tracing::info!(image = preset, id = %id, step, "building preset image");
                    self.image_event(&id, preset, ImageState::Building, Some(step));
                };
                populate_preset(preset, &path, &progress)
                    .map_err(|e| Error::Internal(format!("building preset '{preset}': {e}")))?;
                self.storage.seal(&tree)?;
                Ok(tree_size(&path))
            });
        self.finish_or_undo_image(&id, preset, op, built)?;
        self.find_image(&id)
    }

    fn begin_image(
        &self,
        id: &str,
        name: &str,
        source: &ImageSource,
        intent: OperationKind,
    ) -> Result<i64> {
        self.store
            .insert_building_image(id, name, source, intent)
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::Conflict(format!(
                        "image '{name}' already exists; delete it first or choose another name"
                    ))
                } else {
                    e.into()
                }
            })
    }

    /// Records a filled tree as a ready image, or removes both tree and row after a failure.
    fn finish_or_undo_image(
        &self,
        id: &str,
        name: &str,
        op: i64,
        outcome: Result<u64>,
    ) -> Result<Image> {
        match outcome {
            Ok(size) => {
                self.store.finish_image(id, op, size)?;
                tracing::info!(image = name, id, size, "image ready");
                self.image_event(id, name, ImageState::Ready, None);
                self.image(id)
            }
            Err(err) => {
                tracing::warn!(image = name, id, error = %err, "image not created; undoing");
                self.image_event(id, name, ImageState::Failed, Some(&err.to_string()));
                if let Err(undo) = self.storage.delete(&TreeRef::image(id)) {
                    tracing::error!(image = name, error = %undo, "undo failed: tree left for \
                        the next start to remove");
                    return Err(err);
                }
                self.store.delete_image(id, Some(op))?;
                Err(err)
            }
        }
    }

    /// Deletes an image by name or id. Sandboxes cloned from it keep their own trees.
    pub fn delete_image(&self, reference: &str) -> Result<()> {
        let row = self.find_image(reference)?;
        if row.state == ImageState::Building {
            return Err(Error::Conflict(format!(
                "image '{}' is still being built; wait for it to finish",
                row.name
            )));
        }
        let op = self
            .store
            .begin_operation(OperationKind::DeleteImage, &row.id)?;
        self.storage.delete(&TreeRef::image(&row.id))?;
        self.store.delete_image(&row.id, Some(op))?;
        tracing::info!(image = %row.name, id = %row.id, "image deleted");
        Ok(())
    }
}

/// Fills `root` with the tree of `preset`, one of [`PRESETS`].
fn populate_preset(
    preset: &str,
    root: &Path,
    progress: &dyn Fn(&str),
) -> std::result::Result<(), String> {
    match preset {
        "minimal" => {
            progress("busybox: assembling the tree");
            presets::minimal::populate(root).map_err(|e| e.to_string())
        }
        "debian" => presets::debian::populate(root, progress).map_err(|e| e.to_string()),
        "coder" => presets::coder::populate(root, progress).map_err(|e| e.to_string()),
        other => Err(format!("no recipe for preset '{other}'")),
    }
}

fn unpack_error(image: &str, err: UnpackError) -> Error {
    match err {
        UnpackError::Rejected { .. } => {
            Error::RejectedContent(format!("image '{image}' refused: {err}"))
        }
        UnpackError::Archive(_) => Error::InvalidRequest(format!(
            "image '{image}': the upload is not a valid tar: {err}"
        )),
        UnpackError::Io { .. } => Error::Storage(format!("image '{image}': {err}")),
    }
}

/// Bytes of regular-file data under `path`, not following links and not crossing into
/// other filesystems. Best effort: an unreadable entry counts as zero.
pub(super) fn tree_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) if m.is_file() => total += m.len(),
                _ => {}
            }
        }
    }
    total
}
