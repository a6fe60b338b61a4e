//! Start-up reconciliation: make the state store and the pool agree after a crash.
//!
//! Three passes, in order. First, every journaled intent is resolved: creations are rolled
//! back and deletions rolled forward, which for both means removing the tree and the row.
//! Second, every tree in the pool without a row is an orphan and is deleted. Third, every row
//! whose tree is gone is marked `failed` with a reason, so the user sees it rather than
//! meeting an error later. Finally, running sandboxes are adopted if their init survived.

use amika_api::{ImageState, SandboxState};

use super::Service;
use crate::error::Result;
use crate::state::OperationKind;
use crate::storage::{TreeKind, TreeRef};

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
            let tree = match kind {
                OperationKind::ImportImage
                | OperationKind::BuildImage
                | OperationKind::DeleteImage => TreeRef::image(&op.object_id),
                OperationKind::CreateSandbox | OperationKind::DeleteSandbox => {
                    TreeRef::sandbox(&op.object_id)
                }
            };
            tracing::info!(?kind, %tree, "resolving interrupted operation");
            if tree.kind == TreeKind::Sandbox {
                self.kill_sandbox_processes(&op.object_id)?;
            }
            self.storage.delete(&tree)?;
            match tree.kind {
                TreeKind::Image => self.store.delete_image(&op.object_id, Some(op.id))?,
                _ => self.store.delete_sandbox(&op.object_id, Some(op.id))?,
            }
            done.operations += 1;
        }

        let images: Vec<_> = self.store.list_images()?;
        let sandboxes: Vec<_> = self.store.list_sandboxes()?;
        for kind in TreeKind::ALL {
            for id in self.storage.list(kind)? {
                let owned = match kind {
                    TreeKind::Image => images.iter().any(|i| i.id == id),
                    TreeKind::Sandbox => sandboxes.iter().any(|s| s.id == id),
                    TreeKind::Staging => false,
                };
                if !owned {
                    if kind == TreeKind::Sandbox {
                        self.kill_sandbox_processes(&id)?;
                    }
                    let tree = TreeRef { kind, id };
                    tracing::warn!(%tree, "removing orphan tree");
                    self.storage.delete(&tree)?;
                    done.orphans += 1;
                }
            }
        }

        let present = self.storage.list(TreeKind::Image)?;
        for image in images.iter().filter(|i| i.state != ImageState::Failed) {
            if !present.contains(&image.id) {
                tracing::warn!(image = %image.name, "image tree missing from the pool");
                self.store.fail_image(
                    &image.id,
                    "its tree is missing from the pool; delete the image and import it again",
                )?;
                done.missing += 1;
            }
        }
        let present = self.storage.list(TreeKind::Sandbox)?;
        for sandbox in sandboxes.iter().filter(|s| s.state != SandboxState::Failed) {
            if !present.contains(&sandbox.id) {
                tracing::warn!(sandbox = %sandbox.name, "sandbox tree missing from the pool");
                self.store.set_sandbox_state(
                    &sandbox.id,
                    SandboxState::Failed,
                    Some("its tree is missing from the pool; delete the sandbox"),
                    None,
                )?;
                done.missing += 1;
            }
        }
        (done.adopted, done.lost) = self.adopt_running()?;
        Ok(done)
    }
}
