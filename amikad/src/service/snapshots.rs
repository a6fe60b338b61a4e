//! Snapshots: capture a sandbox (scrubbed or as-is), list, show, delete.
//!
//! A capture answers at once and runs on its own thread. Its steps, each recorded before it
//! acts: flush the source's writes; freeze its processes only for the instant of the
//! capture; scrub and verify the capture (never the live tree); seal it read-only and move it
//! among the snapshots; mark it active; for `scrub_and_delete`, delete the source. On any
//! failure the capture is thrown away, the source is untouched, and the snapshot is `failed`
//! with the reason.

use std::path::{Path, PathBuf};
use std::time::Instant;

use amika_api::{
    Base, CreateSnapshot, SandboxState, ScrubPreview, SetupState, Snapshot, SnapshotMode,
    SnapshotSource, SnapshotState as State,
};

use super::Service;
use crate::error::{Error, Result};
use crate::runtime::cgroup::Cgroup;
use crate::runtime::users;
use crate::safefs::TreeRoot;
use crate::scrub::{self, ChangedFiles, Injection, Ledger};
use crate::state::{is_unique_violation, rfc3339, InjectionKind, SandboxRow, SnapshotRow};
use crate::storage::TreeRef;
use crate::{failpoint, names};

impl From<SnapshotRow> for Snapshot {
    fn from(row: SnapshotRow) -> Self {
        Snapshot {
            id: row.id,
            name: row.name,
            description: row.description,
            source: SnapshotSource {
                id: row.source_id,
                name: row.source_name,
            },
            repository: row.repository,
            base: Base {
                kind: row.base_kind,
                id: row.base_id,
                name: row.base_name,
                chosen_by: None,
            },
            preset: row.preset,
            mode: row.mode,
            state: row.state,
            error: row.error,
            size_bytes: row.size_bytes,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

impl Service {
    /// Snapshots, optionally of one sandbox or one repository.
    pub fn list_snapshots(
        &self,
        sandbox: Option<&str>,
        repository: Option<&str>,
    ) -> Result<Vec<Snapshot>> {
        let repository = match repository {
            Some(reference) => Some(self.find_repository(reference)?.id),
            None => None,
        };
        let rows = self.store.list_snapshots(sandbox, repository.as_deref())?;
        Ok(rows.into_iter().map(Snapshot::from).collect())
    }

    /// One snapshot by name or id.
    pub fn snapshot(&self, reference: &str) -> Result<Snapshot> {
        self.find_snapshot(reference).map(Snapshot::from)
    }

    pub(super) fn find_snapshot(&self, reference: &str) -> Result<SnapshotRow> {
        self.store
            .find_snapshot(reference)?
            .ok_or_else(|| Error::not_found("snapshot", reference))
    }

    /// What a scrub of this sandbox would remove: paths and names, never values.
    pub fn scrub_preview(&self, reference: &str) -> Result<ScrubPreview> {
        let row = self.find_sandbox(reference)?;
        let mut preview = ScrubPreview::default();
        for entry in self.store.injections(&row.id)? {
            let list = match entry.kind {
                InjectionKind::File => &mut preview.files,
                InjectionKind::Env => &mut preview.variables,
                InjectionKind::Git => &mut preview.git_hosts,
            };
            if !list.contains(&entry.target) {
                list.push(entry.target);
            }
        }
        Ok(preview)
    }

    /// Starts capturing a sandbox; returns at once with the snapshot in `capturing`.
    pub fn create_snapshot(&self, request: &CreateSnapshot) -> Result<Snapshot> {
        names::validate("snapshot", &request.name)?;
        let source = self.find_sandbox(&request.sandbox)?;
        let lock = self.lifecycle_lock(&source.id);
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        let source = self.find_sandbox(&source.id)?;
        if !matches!(source.state, SandboxState::Running | SandboxState::Stopped) {
            return Err(Error::Conflict(format!(
                "sandbox '{}' is {}; a snapshot needs it running or stopped",
                source.name,
                source.state.as_str()
            )));
        }
        if source.setup == SetupState::SetupRunning {
            return Err(Error::Conflict(format!(
                "sandbox '{name}' is still running its setup script, and a snapshot of it                  would catch it half done; wait with `amika-ctl sandbox logs {name} --follow`,                  then take the snapshot",
                name = source.name
            )));
        }
        let row = SnapshotRow {
            id: names::new_id(),
            name: request.name.clone(),
            description: request.description.clone(),
            source_id: source.id.clone(),
            source_name: source.name.clone(),
            repository: source.repository.as_ref().map(|r| r.repository_id.clone()),
            base_kind: source.base_kind,
            base_id: source.base_id.clone(),
            base_name: source.base_name.clone(),
            preset: source.preset.clone(),
            mode: request.mode,
            state: State::Capturing,
            error: None,
            size_bytes: None,
            created_at: 0,
            updated_at: 0,
        };
        let op = self.store.begin_capture(&row).map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict(format!(
                    "snapshot '{}' already exists; choose another name or delete it first",
                    row.name
                ))
            } else {
                e.into()
            }
        })?;
        tracing::info!(snapshot = %row.name, sandbox = %source.name, mode = row.mode.as_str(),
            "capture started");
        self.snapshot_event(&row.id, &row.name, State::Capturing, None);
        self.sandbox_event(&source.id, &source.name, SandboxState::Snapshotting, None);

        let me = self.me.clone();
        let (id, name) = (row.id.clone(), row.name.clone());
        std::thread::Builder::new()
            .name(format!("capture-{name}"))
            .spawn(move || {
                if let Some(service) = me.upgrade() {
                    service.run_capture(&id, op, &source);
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start the capture of {name}: {e}")))?;
        self.snapshot(&row.id)
    }

    /// The capture thread: runs the steps, then records the outcome either way.
    fn run_capture(&self, id: &str, op: i64, source: &SandboxRow) {
        let started = Instant::now();
        let Ok(row) = self.find_snapshot(id) else {
            return;
        };
        match self.capture_steps(&row, source) {
            Ok(path) => self.finish_capture(&row, op, source, &path, started),
            Err(err) => self.fail_capture(&row, op, source, &err.to_string()),
        }
    }

    /// Capture, scrub, verify and seal. Returns where the snapshot's tree is.
    fn capture_steps(&self, row: &SnapshotRow, source: &SandboxRow) -> Result<PathBuf> {
        let source_tree = TreeRef::sandbox(&source.id);
        let staging = TreeRef::staging(&row.id);
        self.storage.flush(&source_tree)?;

        let cgroup = match source.state {
            SandboxState::Running => Cgroup::open(&source.id).ok().flatten(),
            _ => None,
        };
        // The window runs from asking the kernel to freeze until every process runs again.
        let freeze_started = Instant::now();
        if let Some(cgroup) = &cgroup {
            cgroup
                .freeze()
                .map_err(|e| Error::Internal(format!("freezing sandbox '{}': {e}", source.name)))?;
        }
        let captured = self.storage.capture(&source_tree, &staging);
        if let Some(cgroup) = &cgroup {
            if let Err(e) = cgroup.thaw() {
                tracing::error!(sandbox = %source.name, error = %e, "thaw failed");
            }
        }
        let frozen_for = freeze_started.elapsed();
        captured?;
        let path = self.storage.open_capture(&source_tree, &staging)?;
        tracing::info!(snapshot = %row.name, froze = cgroup.is_some(),
            frozen_us = frozen_for.as_micros() as u64, "captured");
        failpoint::hit("capture:after-capture");

        if row.mode.scrubs() {
            self.scrub_capture(row, source, &path)?;
        }
        failpoint::hit("capture:after-scrub");

        self.store
            .set_snapshot_state(&row.id, State::Finalizing, None)?;
        self.snapshot_event(&row.id, &row.name, State::Finalizing, None);
        // Moved first, then sealed: btrfs cannot move a read-only subvolume.
        let snapshot_tree = TreeRef::snapshot(&row.id);
        let path = self.storage.rename(&staging, &snapshot_tree)?;
        self.storage.seal(&snapshot_tree)?;
        failpoint::hit("capture:after-seal");
        Ok(path)
    }

    /// Scrubs the capture at `path` of everything the ledger lists, then verifies fail-closed.
    fn scrub_capture(
        &self,
        row: &SnapshotRow,
        source: &SandboxRow,
        path: &std::path::Path,
    ) -> Result<()> {
        let tree = TreeRoot::open(path)
            .map_err(|e| Error::Storage(format!("open {}: {e}", path.display())))?;
        let ledger = self.ledger(source, &tree)?;
        let scrubbed = scrub::scrub(&tree, &ledger).map_err(|e| scrub_failed(row, e))?;
        let changed = self.changed_files(row, source);
        let verified = scrub::verify(&tree, &ledger, &changed).map_err(|e| scrub_failed(row, e))?;
        tracing::info!(snapshot = %row.name, deleted = scrubbed.files_deleted.len(),
            scanned_files = verified.files_scanned, scanned_bytes = verified.bytes_scanned,
            "scrubbed and verified");
        Ok(())
    }

    /// What changed in the capture since its source was made, from the filesystem's change
    /// tracking. Anything short of a clear answer means reading every file: slower, never
    /// weaker.
    fn changed_files(&self, row: &SnapshotRow, source: &SandboxRow) -> ChangedFiles {
        let Some(generation) = source.created_generation else {
            return ChangedFiles::All;
        };
        match self
            .storage
            .changed_since(&TreeRef::staging(&row.id), generation)
        {
            Ok(Some(paths)) => ChangedFiles::Paths(paths),
            Ok(None) => ChangedFiles::All,
            Err(e) => {
                tracing::warn!(snapshot = %row.name, error = %e,
                    "change tracking failed; scanning every file");
                ChangedFiles::All
            }
        }
    }

    fn ledger(&self, source: &SandboxRow, tree: &TreeRoot) -> Result<Ledger> {
        let rows = self.store.injections(&source.id)?;
        let mut injections = Vec::with_capacity(rows.len());
        let mut values: Vec<(String, Vec<u8>)> = Vec::new();
        for entry in rows {
            if !values.iter().any(|(name, _)| *name == entry.secret) {
                values.push((entry.secret.clone(), entry.value.clone().into_bytes()));
            }
            injections.push(match entry.kind {
                InjectionKind::File => Injection::File {
                    secret: entry.secret,
                    path: entry.target,
                },
                InjectionKind::Env => Injection::Env {
                    secret: entry.secret,
                    var: entry.target,
                },
                InjectionKind::Git => Injection::Git {
                    secret: entry.secret,
                    host: entry.target,
                },
            });
        }
        let home = users::lookup(tree, "amika")
            .map(|a| a.home)
            .unwrap_or_else(|| "/home/amika".into());
        let env_baseline = match self.store.env_baseline(&source.id)? {
            Some(baseline) => baseline,
            None => tree
                .read_file(std::path::Path::new("etc/environment"))
                .unwrap_or_default(),
        };
        Ok(Ledger {
            injections,
            values,
            env_baseline,
            home,
        })
    }

    fn finish_capture(
        &self,
        row: &SnapshotRow,
        op: i64,
        source: &SandboxRow,
        path: &Path,
        started: Instant,
    ) {
        let deletes_source = row.mode == SnapshotMode::ScrubAndDelete;
        // A mode that keeps the source gives it back its state in the same transaction, so
        // nobody who sees the snapshot active sees the source still `snapshotting`.
        let keeps = (!deletes_source).then_some((op, source.id.as_str()));
        if let Err(e) = self.store.activate_snapshot(&row.id, keeps) {
            return self.fail_capture(row, op, source, &format!("recording it: {e}"));
        }
        tracing::info!(snapshot = %row.name, ms = started.elapsed().as_millis() as u64,
            "snapshot active");
        if let Ok(Some(restored)) = self.store.find_sandbox(&source.id) {
            self.sandbox_event(&restored.id, &restored.name, restored.state, None);
        }
        failpoint::hit("capture:after-active");
        if deletes_source {
            if let Err(e) = self.delete_captured_source(source, op) {
                tracing::error!(sandbox = %source.name, error = %e,
                    "deleting the source failed; the next start retries");
            }
        }
        // Announced only now, so that a client waiting for the snapshot finds a
        // `scrub_and_delete` finished, its source gone, however long the delete took.
        self.snapshot_event(&row.id, &row.name, State::Active, None);
        // Measured after the fact: walking the tree takes time proportional to its size,
        // which a capture must not.
        let size = super::images::tree_size(path);
        if let Err(e) = self.store.set_snapshot_size(&row.id, size) {
            tracing::warn!(snapshot = %row.name, error = %e, "recording its size failed");
        }
    }

    /// The last step of `scrub_and_delete`, also run by reconciliation after a crash.
    pub(super) fn delete_captured_source(&self, source: &SandboxRow, op: i64) -> Result<()> {
        let lock = self.lifecycle_lock(&source.id);
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(row) = self.store.find_sandbox(&source.id)? {
            self.halt(&row, std::time::Duration::ZERO)?;
        }
        self.storage.delete(&TreeRef::sandbox(&source.id))?;
        self.store.delete_sandbox(&source.id, Some(op))?;
        tracing::info!(sandbox = %source.name, "source deleted after its snapshot");
        Ok(())
    }

    fn end_source_capture(&self, source: &SandboxRow) -> Result<()> {
        self.store.end_capture(&source.id)?;
        if let Some(row) = self.store.find_sandbox(&source.id)? {
            self.sandbox_event(&row.id, &row.name, row.state, None);
        }
        Ok(())
    }

    fn fail_capture(&self, row: &SnapshotRow, op: i64, source: &SandboxRow, reason: &str) {
        tracing::warn!(snapshot = %row.name, reason, "capture failed; discarding it");
        for tree in [TreeRef::staging(&row.id), TreeRef::snapshot(&row.id)] {
            if let Err(e) = self.storage.delete(&tree) {
                tracing::error!(%tree, error = %e, "left for the next start to remove");
            }
        }
        let _ = self
            .store
            .set_snapshot_state(&row.id, State::Failed, Some(reason));
        let _ = self.store.delete_operation(op);
        if let Err(e) = self.end_source_capture(source) {
            tracing::error!(sandbox = %source.name, error = %e, "restoring its state failed");
        }
        self.snapshot_event(&row.id, &row.name, State::Failed, Some(reason));
    }

    /// Deletes a snapshot; one that does not exist is already deleted. Sandboxes booted from
    /// it keep running: on btrfs their trees do not depend on it.
    pub fn delete_snapshot(&self, reference: &str) -> Result<()> {
        let Some(row) = self.store.find_snapshot(reference)? else {
            return Ok(());
        };
        if matches!(row.state, State::Capturing | State::Finalizing) {
            return Err(Error::Conflict(format!(
                "snapshot '{}' is still being captured; wait for it to finish",
                row.name
            )));
        }
        let op = self
            .store
            .begin_operation(crate::state::OperationKind::DeleteSnapshot, &row.id)?;
        self.storage.delete(&TreeRef::snapshot(&row.id))?;
        self.store.delete_snapshot(&row.id, Some(op))?;
        tracing::info!(snapshot = %row.name, "snapshot deleted");
        Ok(())
    }
}

fn scrub_failed(row: &SnapshotRow, err: scrub::ScrubError) -> Error {
    Error::Conflict(format!("scrub of snapshot '{}' failed: {err}", row.name))
}
