//! Planning a command inside a running sandbox: who runs it, where, with what environment.
//! The API layer spawns the plan and carries its streams.

use std::path::{Path, PathBuf};

use amika_api::{ExecRequest, SandboxState};

use super::Service;
use crate::error::{Error, Result};
use crate::runtime::cgroup::Cgroup;
use crate::runtime::exec::ExecSpec;
use crate::runtime::users;
use crate::safefs::TreeRoot;
use crate::state::{InjectionKind, SandboxRow};
use crate::storage::TreeRef;

/// The `PATH` of every session; images that want another set it in the request's env.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A command ready to spawn.
pub struct ExecPlan {
    /// The helper invocation's parameters.
    pub spec: ExecSpec,
    /// The sandbox's name, for logs.
    pub sandbox: String,
    /// Initial terminal size when the plan uses a terminal.
    pub size: Option<(u16, u16)>,
}

impl Service {
    /// Checks that the sandbox runs and resolves the request into an [`ExecPlan`].
    pub fn plan_exec(&self, reference: &str, request: &ExecRequest) -> Result<ExecPlan> {
        let row = self.find_sandbox(reference)?;
        let init = match (&row.state, &row.init) {
            (SandboxState::Running | SandboxState::Snapshotting, Some(init))
                if self.is_our_init(init) =>
            {
                init.clone()
            }
            _ => {
                return Err(Error::Conflict(format!(
                    "sandbox '{}' is not running; start it with: amika-ctl sandbox start {}",
                    row.name, row.name
                )))
            }
        };
        let path = self.storage.path(&TreeRef::sandbox(&row.id));
        let tree = TreeRoot::open(&path)
            .map_err(|e| Error::Storage(format!("open {}: {e}", path.display())))?;
        let user = request.user.as_deref().unwrap_or("amika");
        let account = users::lookup(&tree, user).ok_or_else(|| {
            Error::InvalidRequest(format!(
                "user '{user}' does not exist in sandbox '{}'; use amika or root",
                row.name
            ))
        })?;
        let cgroup = Cgroup::open(&row.id)
            .map_err(|e| Error::Internal(format!("cgroup of sandbox '{}': {e}", row.name)))?
            .ok_or_else(|| Error::Internal(format!("sandbox '{}' has no cgroup", row.name)))?;

        let injected: Vec<(String, String)> = self
            .store
            .injections(&row.id)?
            .into_iter()
            .filter(|i| i.kind == InjectionKind::Env)
            .map(|i| (i.target, i.value))
            .collect();
        let env = session_env(&account, &row, &injected, request)?;
        let command = if request.command.is_empty() {
            vec![account.shell.clone().into(), "-l".into()]
        } else {
            request.command.iter().map(Into::into).collect()
        };
        // Sessions start in the repository, where the work is; others at home.
        let workdir = match (&request.workdir, &row.repository) {
            (Some(dir), _) => PathBuf::from(dir),
            (None, Some(checkout)) if account.name == "amika" => PathBuf::from(&checkout.path),
            (None, _) => PathBuf::from(&account.home),
        };
        tracing::info!(sandbox = %row.name, user, tty = request.tty,
            program = %command.first().map(|c: &std::ffi::OsString| c.to_string_lossy())
                .unwrap_or_default(), "exec");
        Ok(ExecPlan {
            spec: ExecSpec {
                init_pid: init.pid,
                cgroup_procs: cgroup.procs_files(),
                cgroup_dir: cgroup.clone_target(),
                uid: account.uid,
                gid: account.gid,
                groups: account.groups.clone(),
                workdir,
                env,
                command,
                tty: request.tty,
                exe: Path::new("/proc/self/exe").to_owned(),
            },
            sandbox: row.name,
            size: request
                .tty
                .then(|| (request.rows.unwrap_or(24), request.cols.unwrap_or(80))),
        })
    }
}

/// The login environment, then the sandbox's own variables (the repository's `[env]` and
/// `AMIKA_AGENT_CWD`), then the injected secrets, with the request's variables applied last.
fn session_env(
    account: &users::Account,
    row: &SandboxRow,
    injected: &[(String, String)],
    request: &ExecRequest,
) -> Result<Vec<(String, String)>> {
    let hostname = &row.name;
    let mut env = vec![
        ("PATH".to_owned(), DEFAULT_PATH.to_owned()),
        ("HOME".to_owned(), account.home.clone()),
        ("USER".to_owned(), account.name.clone()),
        ("LOGNAME".to_owned(), account.name.clone()),
        ("SHELL".to_owned(), account.shell.clone()),
        ("HOSTNAME".to_owned(), hostname.to_owned()),
    ];
    for (key, value) in row.session_env.iter().chain(injected) {
        env.retain(|(k, _)| k != key);
        env.push((key.clone(), value.clone()));
    }
    if request.tty {
        let term = request
            .term
            .clone()
            .unwrap_or_else(|| "xterm-256color".into());
        env.push(("TERM".to_owned(), term));
    }
    for pair in &request.env {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Error::InvalidRequest(format!(
                "environment entry '{pair}' has no '='; write KEY=VALUE"
            )));
        };
        if key.is_empty() || key.contains('\0') || value.contains('\0') {
            return Err(Error::InvalidRequest(format!(
                "environment entry for '{key}' is not a valid KEY=VALUE"
            )));
        }
        env.retain(|(k, _)| k != key);
        env.push((key.to_owned(), value.to_owned()));
    }
    Ok(env)
}
