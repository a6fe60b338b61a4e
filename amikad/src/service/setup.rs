//! The setup script: run once after a sandbox is created, as `amika`, in the repository,
//! with its output in `/var/log/amika/setup.log` inside the sandbox.
//!
//! The script runs in the background: the create returns with the track at `setup-running`
//! and the track moves to `ok` or `setup-failed` when it exits. The sandbox keeps running
//! either way. The log file is the script's stdout and stderr, opened by the daemon through
//! the in-root writer and handed to the exec helper, so the daemon never copies the output
//! and the log survives a daemon restart.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use amika_api::{ExecRequest, SetupState};
use nix::fcntl::OFlag;

use super::Service;
use crate::error::{Error, Result};
use crate::safefs::TreeRoot;
use crate::state::SandboxRow;
use crate::storage::TreeRef;

/// The log's path inside the sandbox, relative to its root.
pub const SETUP_LOG: &str = "var/log/amika/setup.log";

/// Where a script sent by the client is written inside the sandbox.
const SENT_SCRIPT: &str = "var/lib/amika/setup-script";

/// Runs the script at `$0` directly when it is executable (its `#!` line decides the
/// interpreter), through `sh` otherwise, so a script committed without its mode bit works.
const LAUNCHER: &str = "if [ -x \"$0\" ]; then exec \"$0\"; else exec /bin/sh \"$0\"; fi";

/// Which script a sandbox runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SetupScript {
    /// Text the client sent (`--setup-script PATH`).
    Sent(String),
    /// `[lifecycle] setup_script`: a path relative to the repository's checkout.
    InRepository(String),
}

impl Service {
    /// Starts `script` in the running sandbox `row` and returns at once; the track is
    /// `setup-running` when this returns `Ok`.
    pub(super) fn start_setup(&self, row: &SandboxRow, script: &SetupScript) -> Result<()> {
        let path = self.storage.path(&TreeRef::sandbox(&row.id));
        let tree = TreeRoot::open(&path)
            .map_err(|e| Error::Storage(format!("open {}: {e}", path.display())))?;
        let log = open_log(&tree).map_err(|e| {
            Error::Internal(format!(
                "creating the setup log of sandbox '{}': {e}",
                row.name
            ))
        })?;
        let workdir = row
            .repository
            .as_ref()
            .map(|r| r.path.clone())
            .unwrap_or_else(|| "/home/amika".to_owned());
        let script_path = match script {
            SetupScript::Sent(text) => {
                tree.create_dir_all(Path::new("var/lib/amika"), 0o755)
                    .and_then(|()| {
                        tree.write_file(Path::new(SENT_SCRIPT), text.as_bytes(), 0o755, None)
                    })
                    .map_err(|e| {
                        Error::Internal(format!(
                            "writing the setup script into sandbox '{}': {e}",
                            row.name
                        ))
                    })?;
                format!("/{SENT_SCRIPT}")
            }
            SetupScript::InRepository(rel) => {
                let inside = Path::new(workdir.trim_start_matches('/')).join(rel);
                if tree.resolve(&inside, OFlag::O_PATH).is_err() {
                    let reason = format!(
                        "the setup script {rel} named in .amika/config.toml does not exist in \
                         the repository"
                    );
                    self.finish_setup(row, SetupState::SetupFailed, Some(&reason), None);
                    return Ok(());
                }
                format!("{workdir}/{rel}")
            }
        };
        let request = ExecRequest {
            command: vec![
                "/bin/sh".into(),
                "-c".into(),
                LAUNCHER.into(),
                script_path.clone(),
            ],
            workdir: Some(workdir),
            ..ExecRequest::default()
        };
        let plan = self.plan_exec(&row.id, &request)?;
        let stdout = log
            .try_clone()
            .map_err(|e| Error::Internal(format!("duplicating the setup log: {e}")))?;
        let mut command = plan.spec.command();
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(log));
        self.store
            .set_setup(&row.id, SetupState::SetupRunning, None, None)?;
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let reason = format!("cannot start the setup script: {e}");
                self.finish_setup(row, SetupState::SetupFailed, Some(&reason), None);
                return Ok(());
            }
        };
        tracing::info!(sandbox = %row.name, script = %script_path, "setup script started");
        self.setup_event(&row.id, &row.name, SetupState::SetupRunning, None);
        let service = self.me.upgrade();
        let row = row.clone();
        std::thread::Builder::new()
            .name(format!("setup-{}", row.id))
            .spawn(move || {
                let status = child.wait();
                let Some(service) = service else { return };
                let code = match status {
                    Ok(status) => exit_code(status),
                    Err(e) => {
                        let reason = format!("lost the setup script: {e}");
                        service.finish_setup(&row, SetupState::SetupFailed, Some(&reason), None);
                        return;
                    }
                };
                if code == 0 {
                    service.finish_setup(&row, SetupState::Ok, None, Some(0));
                } else {
                    let reason = format!("the setup script exited with code {code}");
                    service.finish_setup(&row, SetupState::SetupFailed, Some(&reason), Some(code));
                }
            })
            .map_err(|e| Error::Internal(format!("starting the setup watcher: {e}")))?;
        Ok(())
    }

    fn finish_setup(
        &self,
        row: &SandboxRow,
        setup: SetupState,
        reason: Option<&str>,
        code: Option<i32>,
    ) {
        if let Err(e) = self.store.set_setup(&row.id, setup, reason, code) {
            tracing::error!(sandbox = %row.name, error = %e, "cannot record the setup outcome");
            return;
        }
        match reason {
            Some(reason) => {
                tracing::warn!(sandbox = %row.name, reason, "setup script failed")
            }
            None => tracing::info!(sandbox = %row.name, "setup script finished"),
        }
        self.setup_event(&row.id, &row.name, setup, reason);
    }

    /// Marks setup scripts that a previous daemon was watching as interrupted: their exit
    /// status went with that daemon. Called once at start-up.
    pub(super) fn settle_interrupted_setups(&self) -> Result<()> {
        for row in self.store.sandboxes_in_setup()? {
            let reason = "amikad restarted while the setup script ran, so its outcome is \
                          unknown; its output so far is in the setup log";
            self.finish_setup(&row, SetupState::SetupFailed, Some(reason), None);
        }
        Ok(())
    }

    /// The sandbox and its setup log opened for reading, or `None` when it has none.
    pub fn setup_log(&self, reference: &str) -> Result<(String, Option<File>)> {
        let row = self.find_sandbox(reference)?;
        let path = self.storage.path(&TreeRef::sandbox(&row.id));
        let tree = TreeRoot::open(&path)
            .map_err(|e| Error::Storage(format!("open {}: {e}", path.display())))?;
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        match tree.resolve(Path::new(SETUP_LOG), flags) {
            Ok(fd) => {
                let file = File::from(fd);
                let is_file = file.metadata().map(|m| m.is_file()).unwrap_or(false);
                Ok((row.id, is_file.then_some(file)))
            }
            Err(nix::errno::Errno::ENOENT) => Ok((row.id, None)),
            Err(e) => Err(Error::Internal(format!(
                "opening the setup log of sandbox '{}': {e}",
                row.name
            ))),
        }
    }

    /// True while the sandbox's setup script runs.
    pub fn setup_running(&self, sandbox_id: &str) -> Result<bool> {
        Ok(self
            .store
            .find_sandbox(sandbox_id)?
            .is_some_and(|row| row.setup == SetupState::SetupRunning))
    }
}

/// Creates (or empties) the log and opens it for appending.
fn open_log(tree: &TreeRoot) -> std::io::Result<File> {
    let rel = PathBuf::from(SETUP_LOG);
    if let Some(dir) = rel.parent() {
        tree.create_dir_all(dir, 0o755)?;
    }
    tree.write_file(&rel, b"", 0o644, None)?;
    let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    tree.resolve(&rel, flags)
        .map(File::from)
        .map_err(std::io::Error::from)
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}
