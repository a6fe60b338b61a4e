//! Sandboxes: create by cloning a base and booting it, list, show, delete.

use amika_api::sandbox::MAX_SETUP_SCRIPT_BYTES;
use amika_api::{
    Base, CreateSandbox, Limits, Sandbox, SandboxRepository, SandboxState, SetupState,
};

use std::time::Duration;

use super::lifecycle::DEFAULT_STOP_TIMEOUT;
use super::setup::SetupScript;
use super::workspace::{CreateUpload, Workspace};
use super::Service;
use crate::error::{Error, Result};
use crate::repo::config::EnvValue;
use crate::repo::copy::{self, Owner, WORKSPACE};
use crate::runtime::users;
use crate::safefs::TreeRoot;
use crate::state::{
    is_unique_violation, rfc3339, InitRecord, NewSandbox, OperationKind, SandboxCheckout,
    SandboxRow,
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
                chosen_by: row.chosen_by,
            },
            error: row.error,
            setup_error: row.setup_error,
            setup_exit_code: row.setup_exit_code,
            repository: row.repository.map(|checkout| SandboxRepository {
                name: checkout
                    .path
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                id: checkout.repository_id,
                path: checkout.path,
                branch: checkout.branch,
            }),
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

    /// Creates a sandbox from a JSON request (no local repository).
    pub fn create_sandbox(&self, request: &CreateSandbox) -> Result<Sandbox> {
        self.create(request, None)
    }

    /// Creates a sandbox from an archive request that carries a local repository.
    pub fn create_sandbox_with_upload(&self, upload: &CreateUpload) -> Result<Sandbox> {
        self.create(&upload.request, Some(upload))
    }

    /// Creates a sandbox as a clone of its base and boots it.
    ///
    /// Steps: check the request; make the repository's checkout on the host and read its
    /// configuration; choose the name and base; write the row (`creating`) and the intent
    /// together; clone the base's tree; copy the checkout in, inject secrets, boot; mark the
    /// row `running` and close the intent together; start the setup script. A crash between
    /// the steps leaves an intent that start-up reconciliation rolls back.
    fn create(&self, request: &CreateSandbox, upload: Option<&CreateUpload>) -> Result<Sandbox> {
        check_request(request)?;
        if upload.is_some() && request.git.as_ref().is_none_or(|g| g.url.is_some()) {
            return Err(Error::InvalidRequest(
                "a create archive carries a local repository; its request needs a git \
                 section without a url"
                    .into(),
            ));
        }
        let workspace = match &request.git {
            Some(git) => Some(self.prepare_workspace(git, upload)?),
            None => None,
        };
        let config = workspace.as_ref().and_then(|w| w.config.as_ref());
        let repository = workspace.as_ref().and_then(|w| w.repository.as_ref());
        let base = self.choose_base(request, repository, config)?;
        let name = match &request.name {
            Some(name) => {
                names::validate("sandbox", name)?;
                name.clone()
            }
            None => self.generate_sandbox_name()?,
        };
        let mut warnings = base.warnings.clone();
        warnings.extend(config.iter().flat_map(|c| c.warnings.iter().cloned()));
        let setup_script = choose_setup(request, workspace.as_ref());

        let checkout = workspace.as_ref().and_then(|w| {
            let repository = w.repository.as_ref()?;
            Some(SandboxCheckout {
                repository_id: repository.id.clone(),
                path: format!("/{WORKSPACE}/{}", w.name),
                branch: w.checkout.as_ref().and_then(|c| c.branch.clone()),
            })
        });
        let mut session_env = Vec::new();
        if let Some(w) = workspace.as_ref().filter(|w| w.checkout.is_some()) {
            session_env.push((
                "AMIKA_AGENT_CWD".to_owned(),
                format!("/{WORKSPACE}/{}", w.name),
            ));
        }
        let mut env_secrets = Vec::new();
        for (var, value) in config.iter().flat_map(|c| c.env.iter()) {
            match value {
                EnvValue::Plain(text) => session_env.push((var.clone(), text.clone())),
                EnvValue::Secret(secret) => env_secrets.push((var.clone(), secret.clone())),
            }
        }
        let git_error = workspace.as_ref().and_then(|w| w.git_error.clone());
        let id = names::new_id();
        let new = NewSandbox {
            base_kind: base.kind,
            base_id: &base.id,
            base_name: &base.name,
            network: request.network,
            limits: self.limits_or_defaults(&request.limits),
            preset: base.preset.clone(),
            chosen_by: base.chosen_by,
            repository: checkout,
            session_env,
            setup: if git_error.is_some() {
                SetupState::GitFailed
            } else {
                SetupState::None
            },
            setup_error: git_error,
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
        let checkout_dir = workspace
            .as_ref()
            .and_then(|w| Some((w.checkout.as_ref()?.dir.as_path(), w.name.as_str())));
        let booted = self.prepare_and_boot(&id, &request.secrets, &env_secrets, checkout_dir);
        let init = match booted {
            Ok(init) => init,
            Err(err) => {
                tracing::warn!(sandbox = %name, error = %err, "boot failed; undoing");
                let _ = std::fs::remove_dir_all(self.identity_dir(&id));
                self.storage.delete(&tree)?;
                self.store.delete_sandbox(&id, Some(op))?;
                return Err(err);
            }
        };
        failpoint::hit("sandbox-create:after-boot");
        self.store.set_sandbox_running(&id, &init, Some(op))?;
        tracing::info!(sandbox = %name, id = %id, base = %base.name,
            chosen_by = base.chosen_by.as_str(), "sandbox created");
        self.sandbox_event(&id, &name, SandboxState::Running, None);
        if let Some(script) = &setup_script {
            let row = self.find_sandbox(&id)?;
            if let Err(err) = self.start_setup(&row, script) {
                let reason = format!("cannot start the setup script: {err}");
                self.store
                    .set_setup(&id, SetupState::SetupFailed, Some(&reason), None)?;
                warnings.push(reason);
            }
        }
        let mut sandbox = self.sandbox(&id)?;
        sandbox.warnings = warnings;
        Ok(sandbox)
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
    /// repository, the secrets, the boot. Its caller undoes the whole sandbox on failure.
    fn prepare_and_boot(
        &self,
        id: &str,
        secrets: &[String],
        env_secrets: &[(String, String)],
        checkout: Option<(&std::path::Path, &str)>,
    ) -> Result<InitRecord> {
        let tree = TreeRef::sandbox(id);
        if let Some(generation) = self.storage.generation(&tree)? {
            self.store.set_created_generation(id, generation)?;
        }
        let path = self.storage.path(&tree);
        let root = TreeRoot::open(&path)
            .map_err(|e| Error::Storage(format!("open {}: {e}", path.display())))?;
        if let Some((dir, repo_name)) = checkout {
            let account = users::lookup(&root, "amika").ok_or_else(|| {
                Error::InvalidRequest(
                    "the repository goes to user 'amika', who does not exist in this \
                     sandbox's image"
                        .into(),
                )
            })?;
            let owner = Owner {
                uid: account.uid,
                gid: account.gid,
            };
            let shown = copy::copy_into(dir, &root, repo_name, owner).map_err(|e| {
                Error::Internal(format!("copying the repository into the sandbox: {e}"))
            })?;
            tracing::info!(sandbox = id, path = %shown, "repository copied in");
        }
        self.inject_secrets(id, &root, secrets, env_secrets)?;
        let row = self.find_sandbox(id)?;
        self.boot(&row)
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
        // A leftover directory is harmless and the next start's sweep removes it.
        let _ = std::fs::remove_dir_all(self.identity_dir(&row.id));
        self.store.delete_sandbox(&row.id, Some(op))?;
        tracing::info!(sandbox = %row.name, id = %row.id, "sandbox deleted");
        Ok(())
    }
}

/// The setup script the rules pick: `--no-setup` > `--setup-script` > `[lifecycle]
/// setup_script` > none. A failed clone runs none, since the script expects the repository.
fn choose_setup(request: &CreateSandbox, workspace: Option<&Workspace>) -> Option<SetupScript> {
    if request.no_setup || workspace.is_some_and(|w| w.git_error.is_some()) {
        return None;
    }
    if let Some(text) = &request.setup_script {
        return Some(SetupScript::Sent(text.clone()));
    }
    let config = workspace?.config.as_ref()?;
    config.setup_script.clone().map(SetupScript::InRepository)
}

fn check_request(request: &CreateSandbox) -> Result<()> {
    check_limits(request)?;
    if request.no_setup && request.setup_script.is_some() {
        return Err(Error::InvalidRequest(
            "--setup-script and --no-setup contradict each other; drop one".into(),
        ));
    }
    if let Some(script) = &request.setup_script {
        if script.len() > MAX_SETUP_SCRIPT_BYTES || script.contains('\0') {
            return Err(Error::InvalidRequest(format!(
                "the setup script must be text of at most {} KiB",
                MAX_SETUP_SCRIPT_BYTES >> 10
            )));
        }
    }
    Ok(())
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
