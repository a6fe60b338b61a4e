//! Sandboxes: create by cloning a base and booting it, list, show, delete.

use amika_api::{
    Base, BaseKind, CreateSandbox, ImageSource, ImageState, Limits, Sandbox, SandboxState,
    SnapshotState,
};

use std::time::Duration;

use super::lifecycle::DEFAULT_STOP_TIMEOUT;
use super::Service;
use crate::error::{Error, Result};
use crate::safefs::TreeRoot;
use crate::state::{
    is_unique_violation, rfc3339, ImageRow, InitRecord, NewSandbox, OperationKind, SandboxRow,
};
use crate::storage::TreeRef;
use crate::{failpoint, names};

/// How many generated names to try before giving up; with ~2,000 combinations a collision
/// streak this long means the namespace is nearly full.
const NAME_ATTEMPTS: usize = 32;

impl From<SandboxRow> for Sandbox {
    fn from(row: SandboxRow) -> Self {
        Sandbox {
            id: row.id,
            name: row.name,
            state: row.state,
            setup: row.setup,
            base: Base {
                kind: row.base_kind,
                id: row.base_id,
                name: row.base_name,
                chosen_by: None,
            },
            error: row.error,
            setup_error: None,
            setup_exit_code: None,
            repository: None,
            network: row.network,
            limits: row.limits,
            pid: row.init.map(|i| i.pid),
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
            warnings: Vec::new(),
        }
    }
}

impl Service {
    /// Every sandbox.
    pub fn list_sandboxes(&self) -> Result<Vec<Sandbox>> {
        Ok(self
            .store
            .list_sandboxes()?
            .into_iter()
            .map(Sandbox::from)
            .collect())
    }

    /// One sandbox by name or id.
    pub fn sandbox(&self, reference: &str) -> Result<Sandbox> {
        self.find_sandbox(reference).map(Sandbox::from)
    }

    pub(super) fn find_sandbox(&self, reference: &str) -> Result<SandboxRow> {
        self.store
            .find_sandbox(reference)?
            .ok_or_else(|| Error::not_found("sandbox", reference))
    }

    /// Creates a sandbox as a clone of an image and boots it.
    ///
    /// Steps: choose the name and base; write the row (`creating`) and the intent together;
    /// clone the base's tree; boot it; mark the row `running` and close the intent together.
    /// A crash between the steps leaves an intent that start-up reconciliation rolls back.
    pub fn create_sandbox(&self, request: &CreateSandbox) -> Result<Sandbox> {
        check_limits(request)?;
        let base = self.resolve_base(request)?;
        let name = match &request.name {
            Some(name) => {
                names::validate("sandbox", name)?;
                name.clone()
            }
            None => self.generate_sandbox_name()?,
        };
        let id = names::new_id();
        let new = NewSandbox {
            base_kind: base.kind,
            base_id: &base.id,
            base_name: &base.name,
            network: request.network,
            limits: self.limits_or_defaults(&request.limits),
            preset: base.preset.clone(),
        };
        let op = self
            .store
            .insert_creating_sandbox(&id, &name, &new)
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::Conflict(format!(
                        "sandbox '{name}' already exists; choose another name or delete it first"
                    ))
                } else {
                    e.into()
                }
            })?;

        let tree = TreeRef::sandbox(&id);
        if let Err(err) = self.storage.clone_from(&base.tree, &tree) {
            tracing::warn!(sandbox = %name, error = %err, "clone failed; undoing");
            self.store.delete_sandbox(&id, Some(op))?;
            return Err(err.into());
        }
        failpoint::hit("sandbox-create:after-clone");
        let booted = self.prepare_and_boot(&id, &request.secrets);
        let init = match booted {
            Ok(init) => init,
            Err(err) => {
                tracing::warn!(sandbox = %name, error = %err, "boot failed; undoing");
                self.storage.delete(&tree)?;
                self.store.delete_sandbox(&id, Some(op))?;
                return Err(err);
            }
        };
        failpoint::hit("sandbox-create:after-boot");
        self.store.set_sandbox_running(&id, &init, Some(op))?;
        tracing::info!(sandbox = %name, id = %id, base = %base.name, "sandbox created");
        self.sandbox_event(&id, &name, SandboxState::Running, None);
        self.sandbox(&id)
    }

    /// The request's limits, with each one it leaves out taken from the daemon's defaults.
    fn limits_or_defaults(&self, requested: &Limits) -> Limits {
        let defaults = &self.defaults.limits;
        Limits {
            memory_bytes: requested.memory_bytes.or(defaults.memory_bytes),
            cpus: requested.cpus.or(defaults.cpus),
            pids: requested.pids.or(defaults.pids),
        }
    }

    /// Everything between the clone and a running init: the change-tracking mark, the
    /// secrets, the boot. Its caller undoes the whole sandbox on failure.
    fn prepare_and_boot(&self, id: &str, secrets: &[String]) -> Result<InitRecord> {
        let tree = TreeRef::sandbox(id);
        if let Some(generation) = self.storage.generation(&tree)? {
            self.store.set_created_generation(id, generation)?;
        }
        let path = self.storage.path(&tree);
        let root = TreeRoot::open(&path)
            .map_err(|e| Error::Storage(format!("open {}: {e}", path.display())))?;
        self.inject_secrets(id, &root, secrets)?;
        let row = self.find_sandbox(id)?;
        self.boot(&row)
    }

    fn resolve_base(&self, request: &CreateSandbox) -> Result<BaseChoice> {
        let given = [&request.image, &request.preset, &request.snapshot];
        if given.iter().filter(|g| g.is_some()).count() > 1 {
            return Err(Error::InvalidRequest(
                "give at most one of an image, a preset and a snapshot".into(),
            ));
        }
        if let Some(snapshot) = &request.snapshot {
            return self.snapshot_base(snapshot);
        }
        let image = match (&request.image, &request.preset) {
            (Some(image), _) => self.ready_image(image)?,
            (None, Some(preset)) => self.ensure_preset(preset)?,
            (None, None) => self.ensure_preset(&self.defaults.preset)?,
        };
        let preset = match &image.source {
            ImageSource::Preset { preset } => Some(preset.clone()),
            ImageSource::Import => None,
        };
        Ok(BaseChoice {
            kind: BaseKind::Image,
            tree: TreeRef::image(&image.id),
            id: image.id,
            name: image.name,
            preset,
        })
    }

    fn ready_image(&self, image: &str) -> Result<ImageRow> {
        let row = self.find_image(image)?;
        match row.state {
            ImageState::Ready => Ok(row),
            ImageState::Building => Err(Error::Conflict(format!(
                "image '{image}' is still being built; wait for it to finish"
            ))),
            ImageState::Failed => Err(Error::Conflict(format!(
                "image '{image}' failed ({}); delete it and import it again",
                row.error.as_deref().unwrap_or("no reason recorded")
            ))),
        }
    }

    fn snapshot_base(&self, snapshot: &str) -> Result<BaseChoice> {
        let row = self.find_snapshot(snapshot)?;
        if row.state != SnapshotState::Active {
            return Err(Error::Conflict(format!(
                "snapshot '{}' is {}; only an active snapshot can be booted",
                row.name,
                row.state.as_str()
            )));
        }
        Ok(BaseChoice {
            kind: BaseKind::Snapshot,
            tree: TreeRef::snapshot(&row.id),
            id: row.id,
            name: row.name,
            preset: row.preset,
        })
    }

    fn generate_sandbox_name(&self) -> Result<String> {
        for _ in 0..NAME_ATTEMPTS {
            let name = names::generate();
            if !self.store.sandbox_name_taken(&name)? {
                return Ok(name);
            }
        }
        Err(Error::Conflict(
            "could not find a free generated name; pass --name".into(),
        ))
    }

    /// Deletes a sandbox and its tree, stopping it first. `force` skips the grace period
    /// and allows deleting one that is mid-snapshot.
    pub fn delete_sandbox(&self, reference: &str, force: bool) -> Result<()> {
        let row = self.find_sandbox(reference)?;
        let lock = self.lifecycle_lock(&row.id);
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        let row = self.find_sandbox(&row.id)?;
        match row.state {
            SandboxState::Creating => {
                return Err(Error::Conflict(format!(
                    "sandbox '{}' is still being created; wait for it to finish",
                    row.name
                )))
            }
            SandboxState::Snapshotting if !force => {
                return Err(Error::Conflict(format!(
                    "sandbox '{}' is being snapshotted; wait, or pass --force",
                    row.name
                )))
            }
            _ => {}
        }
        let op = self
            .store
            .begin_operation(OperationKind::DeleteSandbox, &row.id)?;
        let grace = if force {
            Duration::ZERO
        } else {
            DEFAULT_STOP_TIMEOUT
        };
        self.halt(&row, grace)?;
        self.storage.delete(&TreeRef::sandbox(&row.id))?;
        failpoint::hit("sandbox-delete:after-tree");
        self.store.delete_sandbox(&row.id, Some(op))?;
        tracing::info!(sandbox = %row.name, id = %row.id, "sandbox deleted");
        Ok(())
    }
}

/// The tree a new sandbox clones, and how to describe it.
struct BaseChoice {
    kind: BaseKind,
    id: String,
    name: String,
    preset: Option<String>,
    tree: TreeRef,
}

fn check_limits(request: &CreateSandbox) -> Result<()> {
    let limits = &request.limits;
    if limits.cpus.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
        return Err(Error::InvalidRequest(
            "cpus must be a positive number, e.g. 1.5".into(),
        ));
    }
    if limits.memory_bytes.is_some_and(|m| m < 4 << 20) {
        return Err(Error::InvalidRequest(
            "memory must be at least 4 MiB".into(),
        ));
    }
    if limits.pids == Some(0) {
        return Err(Error::InvalidRequest("pids must be at least 1".into()));
    }
    Ok(())
}
