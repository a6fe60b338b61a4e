//! Start-up reconciliation: make the state store and the pool agree after a crash.
//!
//! Passes, in order. First, every journaled intent is resolved: creations are rolled back and
//! deletions rolled forward; a capture is rolled back (its source restored) unless it had
//! already become active, in which case its remaining step, deleting the source, is finished.
//! Second, every tree in the pool without a row is an orphan and is deleted. Third, every row
//! whose tree is gone is marked `failed` with a reason, so the user sees it rather than
//! meeting an error later. Finally, running sandboxes are adopted if their init survived.

use amika_api::{ImageState, SandboxState, SnapshotMode, SnapshotState};

use super::Service;
use crate::error::Result;
use crate::runtime::cgroup::Cgroup;
use crate::state::OperationKind;
use crate::storage::{TreeKind, TreeRef};

/// Why an interrupted capture failed, as the user reads it.
const CAPTURE_INTERRUPTED: &str =
    "the daemon stopped during the capture; the source sandbox is untouched; take it again";

/// What reconciliation did, for the start-up log and for tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Intents resolved.
    pub operations: usize,
    /// Orphan trees removed.
    pub orphans: usize,
    /// Rows marked failed because their tree is missing.
    pub missing: usize,
    /// Running sandboxes whose init survived and was adopted.
    pub adopted: usize,
    /// Running sandboxes whose init was gone, now marked stopped.
    pub lost: usize,
}

impl Service {
    /// Brings the store and the pool into agreement. Runs before the socket is bound.
    pub fn reconcile(&self) -> Result<Reconciled> {
        let mut done = Reconciled::default();
        for op in self.store.pending_operations()? {
            let Some(kind) = op.kind else {
                tracing::error!(kind = %op.kind_text, object = %op.object_id,
                    "unknown intent in the journal, left in place; was the state directory \
                     used by a newer amikad?");
                continue;
            };
            tracing::info!(?kind, object = %op.object_id, "resolving interrupted operation");
            self.resolve(kind, &op.object_id, op.id)?;
            done.operations += 1;
        }
        done.orphans = self.remove_orphans()?;
        done.missing = self.mark_missing()?;
        (done.adopted, done.lost) = self.adopt_running()?;
        self.settle_interrupted_setups()?;
        self.sweep_identities()?;
        // Checkouts and uploads of creates that a crash cut short; no create runs yet.
        super::workspace::WorkDir::sweep(&self.info.state_dir).map_err(|e| {
            crate::error::Error::Internal(format!("removing stale work directories: {e}"))
        })?;
        Ok(done)
    }

    fn resolve(&self, kind: OperationKind, object: &str, op: i64) -> Result<()> {
        match kind {
            OperationKind::ImportImage | OperationKind::BuildImage | OperationKind::DeleteImage => {
                self.storage.delete(&TreeRef::image(object))?;
                self.store.delete_image(object, Some(op))?;
            }
            OperationKind::CreateSandbox | OperationKind::DeleteSandbox => {
                self.kill_sandbox_processes(object)?;
                self.storage.delete(&TreeRef::sandbox(object))?;
                self.store.delete_sandbox(object, Some(op))?;
            }
            OperationKind::CaptureSnapshot => self.resolve_capture(object, op)?,
            OperationKind::DeleteSnapshot => {
                self.storage.delete(&TreeRef::snapshot(object))?;
                self.store.delete_snapshot(object, Some(op))?;
            }
        }
        Ok(())
    }

    fn resolve_capture(&self, snapshot_id: &str, op: i64) -> Result<()> {
        let Some(snapshot) = self.store.find_snapshot(snapshot_id)? else {
            self.storage.delete(&TreeRef::staging(snapshot_id))?;
            return Ok(self.store.delete_operation(op)?);
        };
        let source = self.store.find_sandbox(&snapshot.source_id)?;
        let finished = snapshot.state == SnapshotState::Active
            && snapshot.mode == SnapshotMode::ScrubAndDelete;
        if finished {
            tracing::info!(snapshot = %snapshot.name, "finishing: deleting the source");
            return match source {
                Some(source) => self.delete_captured_source(&source, op),
                None => Ok(self.store.delete_operation(op)?),
            };
        }
        tracing::warn!(snapshot = %snapshot.name, "capture interrupted; discarding it");
        self.storage.delete(&TreeRef::staging(snapshot_id))?;
        self.storage.delete(&TreeRef::snapshot(snapshot_id))?;
        self.store.set_snapshot_state(
            snapshot_id,
            SnapshotState::Failed,
            Some(CAPTURE_INTERRUPTED),
        )?;
        if let Some(source) = source {
            // A crash during the freeze would leave the source's processes frozen for good.
            if let Ok(Some(cgroup)) = Cgroup::open(&source.id) {
                let _ = cgroup.thaw();
            }
            self.store.end_capture(&source.id)?;
        }
        Ok(self.store.delete_operation(op)?)
    }

    fn remove_orphans(&self) -> Result<usize> {
        let images = self.store.list_images()?;
        let sandboxes = self.store.list_sandboxes()?;
        let snapshots = self.store.list_snapshots(None, None)?;
        let mut removed = 0;
        for kind in TreeKind::ALL {
            for id in self.storage.list(kind)? {
                let owned = match kind {
                    TreeKind::Image => images.iter().any(|i| i.id == id),
                    TreeKind::Sandbox => sandboxes.iter().any(|s| s.id == id),
                    TreeKind::Snapshot => snapshots
                        .iter()
                        .any(|s| s.id == id && s.state == SnapshotState::Active),
                    // Every capture in progress was resolved above.
                    TreeKind::Staging => false,
                };
                if owned {
                    continue;
                }
                if kind == TreeKind::Sandbox {
                    self.kill_sandbox_processes(&id)?;
                }
                let tree = TreeRef { kind, id };
                tracing::warn!(%tree, "removing orphan tree");
                self.storage.delete(&tree)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn mark_missing(&self) -> Result<usize> {
        let mut missing = 0;
        let present = self.storage.list(TreeKind::Image)?;
        for image in self.store.list_images()? {
            if image.state != ImageState::Failed && !present.contains(&image.id) {
                tracing::warn!(image = %image.name, "image tree missing from the pool");
                self.store.fail_image(
                    &image.id,
                    "its tree is missing from the pool; delete the image and import it again",
                )?;
                missing += 1;
            }
        }
        let present = self.storage.list(TreeKind::Sandbox)?;
        for sandbox in self.store.list_sandboxes()? {
            if sandbox.state != SandboxState::Failed && !present.contains(&sandbox.id) {
                tracing::warn!(sandbox = %sandbox.name, "sandbox tree missing from the pool");
                self.store.set_sandbox_state(
                    &sandbox.id,
                    SandboxState::Failed,
                    Some("its tree is missing from the pool; delete the sandbox"),
                    None,
                )?;
                missing += 1;
            }
        }
        let present = self.storage.list(TreeKind::Snapshot)?;
        for snapshot in self.store.list_snapshots(None, None)? {
            if snapshot.state == SnapshotState::Active && !present.contains(&snapshot.id) {
                tracing::warn!(snapshot = %snapshot.name, "snapshot tree missing from the pool");
                self.store.set_snapshot_state(
                    &snapshot.id,
                    SnapshotState::Failed,
                    Some("its tree is missing from the pool; delete the snapshot"),
                )?;
                missing += 1;
            }
        }
        Ok(missing)
    }
}
