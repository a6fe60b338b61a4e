//! Running sandboxes: boot, stop, adoption after a daemon restart, and the reaction to an init
//! that exits on its own.
//!
//! A boot writes the sandbox's identity into its tree, creates its cgroup with its limits,
//! starts its init in fresh namespaces, and records the init by pid, start time and boot id.
//! A stop sends SIGTERM to init (which passes it to every process), waits, then SIGKILLs
//! whatever is left in the cgroup and removes the cgroup.

use std::path::PathBuf;
use std::time::Duration;

use amika_api::{Sandbox, SandboxState};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Service;
use crate::error::{Error, Result};
use crate::runtime::cgroup::Cgroup;
use crate::runtime::identity;
use crate::runtime::spawn::{self, InitSpec};
use crate::safefs::TreeRoot;
use crate::state::{InitRecord, SandboxRow};
use crate::storage::TreeRef;

/// Seconds between SIGTERM and SIGKILL when a stop names no timeout.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where identity files live, under the state directory.
const IDENTITY_AREA: &str = "identity";

/// How long to wait for processes to vanish after SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// The host's current boot id, which tells a daemon restart from a host reboot.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The cgroup name of a sandbox: its id, which unlike its name is never reused.
fn cgroup_name(row: &SandboxRow) -> &str {
    &row.id
}

impl Service {
    /// Starts a stopped (or failed) sandbox.
    pub fn start_sandbox(&self, reference: &str) -> Result<Sandbox> {
        let row = self.find_sandbox(reference)?;
        let lock = self.lifecycle_lock(&row.id);
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        let row = self.find_sandbox(&row.id)?;
        match row.state {
            SandboxState::Stopped | SandboxState::Failed => {}
            SandboxState::Running => return self.sandbox(&row.id),
            other => {
                return Err(Error::Conflict(format!(
                    "sandbox '{}' is {}; wait for it to settle, then start it",
                    row.name,
                    other.as_str()
                )))
            }
        }
        let init = self.boot(&row)?;
        self.store.set_sandbox_running(&row.id, &init, None)?;
        self.sandbox_event(&row.id, &row.name, SandboxState::Running, None);
        self.sandbox(&row.id)
    }

    /// Boots `row`'s tree: identity, cgroup, init. Undoes the cgroup on failure.
    pub(super) fn boot(&self, row: &SandboxRow) -> Result<InitRecord> {
        let path = self.storage.path(&TreeRef::sandbox(&row.id));
        let tree = TreeRoot::open(&path)
            .map_err(|e| Error::Storage(format!("open {}: {e}", path.display())))?;
        let identity_dir = self.identity_dir(&row.id);
        identity::prepare(&identity_dir, &tree, &row.name, row.network).map_err(|e| {
            Error::Internal(format!(
                "writing the identity of sandbox '{}': {e}",
                row.name
            ))
        })?;
        let cgroup = Cgroup::create(cgroup_name(row), &row.limits).map_err(|e| {
            Error::Internal(format!(
                "creating the cgroup of sandbox '{}': {e}",
                row.name
            ))
        })?;
        let spec = InitSpec {
            root: path,
            hostname: row.name.clone(),
            network: row.network,
            identity: Some(identity_dir),
            cgroup_procs: cgroup.procs_files(),
            cgroup_dir: cgroup.clone_target(),
            exe: PathBuf::from("/proc/self/exe"),
        };
        let started = spawn::start_init(&spec).map_err(|e| {
            let _ = cgroup.remove();
            Error::Internal(format!("starting sandbox '{}': {e}", row.name))
        })?;
        tracing::info!(sandbox = %row.name, pid = started.pid, "init started");
        self.supervisor.watch(&row.id, started.pid, true);
        Ok(InitRecord {
            pid: started.pid,
            start_time: started.start_time,
            boot_id: boot_id(),
        })
    }

    /// Where sandbox `id`'s identity files live between boots.
    pub(super) fn identity_dir(&self, id: &str) -> PathBuf {
        self.info.state_dir.join(IDENTITY_AREA).join(id)
    }

    /// Removes the identity files of sandboxes that no longer exist.
    pub(super) fn sweep_identities(&self) -> Result<usize> {
        let area = self.info.state_dir.join(IDENTITY_AREA);
        let entries = match std::fs::read_dir(&area) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::Internal(format!("reading {}: {e}", area.display()))),
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if self.store.find_sandbox(&id)?.is_none() {
                let _ = std::fs::remove_dir_all(entry.path());
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Stops a running sandbox: SIGTERM, then SIGKILL after `timeout`.
    pub fn stop_sandbox(&self, reference: &str, timeout: Duration) -> Result<Sandbox> {
        let row = self.find_sandbox(reference)?;
        let lock = self.lifecycle_lock(&row.id);
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        let row = self.find_sandbox(&row.id)?;
        match row.state {
            SandboxState::Running => {}
            SandboxState::Stopped | SandboxState::Failed => return self.sandbox(&row.id),
            other => {
                return Err(Error::Conflict(format!(
                    "sandbox '{}' is {}; it cannot be stopped now",
                    row.name,
                    other.as_str()
                )))
            }
        }
        self.store
            .set_sandbox_state(&row.id, SandboxState::Stopping, None, None)?;
        self.sandbox_event(&row.id, &row.name, SandboxState::Stopping, None);
        self.halt(&row, timeout)?;
        self.store
            .set_sandbox_state(&row.id, SandboxState::Stopped, None, None)?;
        self.sandbox_event(&row.id, &row.name, SandboxState::Stopped, None);
        tracing::info!(sandbox = %row.name, "sandbox stopped");
        self.sandbox(&row.id)
    }

    /// Ends every process of `row` and removes its cgroup.
    pub(super) fn halt(&self, row: &SandboxRow, timeout: Duration) -> Result<()> {
        if let Some(init) = &row.init {
            if self.is_our_init(init) {
                let _ = kill(Pid::from_raw(init.pid), Signal::SIGTERM);
                if !self.supervisor.wait_exit(&row.id, timeout) {
                    tracing::info!(sandbox = %row.name, ?timeout, "still running; SIGKILL");
                    let _ = kill(Pid::from_raw(init.pid), Signal::SIGKILL);
                    self.supervisor.wait_exit(&row.id, KILL_GRACE);
                }
            }
        }
        self.supervisor.forget(&row.id);
        self.kill_cgroup(row)
    }

    /// SIGKILLs anything left in the sandbox's cgroup and removes it.
    pub(super) fn kill_cgroup(&self, row: &SandboxRow) -> Result<()> {
        self.kill_sandbox_processes(cgroup_name(row))
    }

    /// SIGKILLs every process in the cgroup of sandbox `id` and removes the cgroup; for
    /// reconciliation, which may know only the id.
    pub(super) fn kill_sandbox_processes(&self, id: &str) -> Result<()> {
        let cgroup = Cgroup::open(id)
            .map_err(|e| Error::Internal(format!("cgroup of sandbox {id}: {e}")))?;
        let Some(cgroup) = cgroup else {
            return Ok(());
        };
        let deadline = std::time::Instant::now() + KILL_GRACE;
        while cgroup.kill_all(Signal::SIGKILL).unwrap_or(0) > 0 {
            if std::time::Instant::now() > deadline {
                return Err(Error::Internal(format!(
                    "processes of sandbox {id} survive SIGKILL; see its cgroup"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        cgroup
            .remove()
            .map_err(|e| Error::Internal(format!("removing the cgroup of sandbox {id}: {e}")))
    }

    /// Whether the recorded init is still the same live process.
    pub(super) fn is_our_init(&self, init: &InitRecord) -> bool {
        init.boot_id == boot_id()
            && spawn::process_start_time(init.pid).is_ok_and(|t| t == init.start_time)
    }

    /// Called from a watcher thread when an init exits. A stop in progress handles its own
    /// transition; any other exit means the sandbox ended on its own.
    pub(super) fn init_exited(&self, id: &str, pid: i32, status: Option<i32>) {
        let lock = self.lifecycle_lock(id);
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        // Read under the lock: a stop or delete that ended this init holds the lock while it
        // waits, and has settled the row by the time this runs.
        let Ok(Some(row)) = self.store.find_sandbox(id) else {
            return;
        };
        let ours = row.init.as_ref().is_some_and(|i| i.pid == pid);
        if !ours || row.state != SandboxState::Running {
            return;
        }
        let clean = status.is_none_or(|s| libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0);
        let (state, message) = if clean {
            (SandboxState::Stopped, None)
        } else {
            (
                SandboxState::Failed,
                Some(format!(
                    "its init ended unexpectedly (wait status {})",
                    status.unwrap_or_default()
                )),
            )
        };
        tracing::warn!(sandbox = %row.name, pid, ?status, "init exited on its own");
        self.supervisor.forget(id);
        if let Err(e) = self.kill_cgroup(&row) {
            tracing::error!(sandbox = %row.name, error = %e, "cleanup after init exit failed");
        }
        if let Err(e) = self
            .store
            .set_sandbox_state(id, state, message.as_deref(), None)
        {
            tracing::error!(sandbox = %row.name, error = %e, "recording the exit failed");
        }
        self.sandbox_event(id, &row.name, state, message.as_deref());
    }

    /// At start-up: keeps sandboxes whose init survived the daemon's restart, and marks the
    /// others stopped (after a host reboot) with their leftovers cleaned.
    pub(super) fn adopt_running(&self) -> Result<(usize, usize)> {
        let (mut adopted, mut lost) = (0, 0);
        for row in self.store.list_sandboxes()? {
            let live = matches!(
                row.state,
                SandboxState::Running | SandboxState::Stopping | SandboxState::Snapshotting
            );
            if !live {
                continue;
            }
            match &row.init {
                Some(init) if row.state == SandboxState::Running && self.is_our_init(init) => {
                    tracing::info!(sandbox = %row.name, pid = init.pid, "adopted running sandbox");
                    self.supervisor.watch(&row.id, init.pid, false);
                    adopted += 1;
                }
                _ => {
                    tracing::info!(sandbox = %row.name, "init gone; marking stopped");
                    self.halt(&row, Duration::ZERO)?;
                    self.store
                        .set_sandbox_state(&row.id, SandboxState::Stopped, None, None)?;
                    lost += 1;
                }
            }
        }
        Ok((adopted, lost))
    }
}
