//! Sandbox rows.

use amika_api::{BaseKind, ChosenBy, Limits, NetworkMode, SandboxState, SetupState};
use rusqlite::{params, OptionalExtension, Row};

use super::{now, OperationKind, Store};

/// The init process of a running sandbox, as recorded. All three parts must match for the
/// process to be taken as the sandbox's init: a pid alone may have been reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitRecord {
    /// Host pid.
    pub pid: i32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
    /// The host's boot id when it started.
    pub boot_id: String,
}

/// A sandbox as stored.
#[derive(Debug, Clone)]
pub struct SandboxRow {
    /// Stable id; also the name of its tree in the pool.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Life-cycle state.
    pub state: SandboxState,
    /// Setup-script track.
    pub setup: SetupState,
    /// Kind of the tree it was cloned from.
    pub base_kind: BaseKind,
    /// Id of the tree it was cloned from.
    pub base_id: String,
    /// Name of that tree at creation time.
    pub base_name: String,
    /// Why it failed.
    pub error: Option<String>,
    /// Network mode.
    pub network: NetworkMode,
    /// Resource limits.
    pub limits: Limits,
    /// Its init process while running.
    pub init: Option<InitRecord>,
    /// The preset at the root of its base chain, when there is one.
    pub preset: Option<String>,
    /// The filesystem generation when its tree was made, for change tracking.
    pub created_generation: Option<u64>,
    /// The rule that chose its base; `None` for sandboxes older than the rule.
    pub chosen_by: Option<ChosenBy>,
    /// Its repository's checkout, if it has one.
    pub repository: Option<SandboxCheckout>,
    /// Variables every session gets besides the injected secrets: `AMIKA_AGENT_CWD` and the
    /// plain `[env]` values of the repository's configuration.
    pub session_env: Vec<(String, String)>,
    /// Why setup is `git-failed` or `setup-failed`.
    pub setup_error: Option<String>,
    /// The setup script's exit code.
    pub setup_exit_code: Option<i32>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Last state change (Unix seconds).
    pub updated_at: i64,
}

/// What a new sandbox row holds besides its id and name.
#[derive(Debug, Clone)]
pub struct NewSandbox<'a> {
    /// Kind of the base tree.
    pub base_kind: BaseKind,
    /// Id of the base tree.
    pub base_id: &'a str,
    /// Name of the base tree.
    pub base_name: &'a str,
    /// Network mode.
    pub network: NetworkMode,
    /// Resource limits.
    pub limits: Limits,
    /// The preset at the root of the base chain.
    pub preset: Option<String>,
    /// The rule that chose the base.
    pub chosen_by: ChosenBy,
    /// The repository checkout it gets.
    pub repository: Option<SandboxCheckout>,
    /// See [`SandboxRow::session_env`].
    pub session_env: Vec<(String, String)>,
    /// The setup track it starts on: `none`, or `git-failed` with `setup_error`.
    pub setup: SetupState,
    /// Why, for `git-failed`.
    pub setup_error: Option<String>,
}

/// A sandbox's repository checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxCheckout {
    /// The repository's id.
    pub repository_id: String,
    /// The checkout's path inside the sandbox.
    pub path: String,
    /// The branch checked out.
    pub branch: Option<String>,
}

const COLUMNS: &str = "id, name, state, setup_state, base_kind, base_id, base_name, error, \
    created_at, updated_at, network, memory_bytes, cpus, pids_limit, init_pid, init_start_time, \
    init_boot_id, preset, created_generation, chosen_by, repository_id, repository_path, \
    repository_branch, session_env, setup_error, setup_exit_code";

fn parse_chosen_by(text: Option<String>) -> Option<ChosenBy> {
    let text = text?;
    [
        ChosenBy::Flag,
        ChosenBy::RepoDefault,
        ChosenBy::Config,
        ChosenBy::Preset,
    ]
    .into_iter()
    .find(|c| c.as_str() == text)
}

fn parse_state(text: &str) -> SandboxState {
    [
        SandboxState::Creating,
        SandboxState::Running,
        SandboxState::Stopping,
        SandboxState::Stopped,
        SandboxState::Snapshotting,
    ]
    .into_iter()
    .find(|s| s.as_str() == text)
    .unwrap_or(SandboxState::Failed)
}

fn parse_setup(text: &str) -> SetupState {
    [
        SetupState::SetupRunning,
        SetupState::Ok,
        SetupState::SetupFailed,
        SetupState::GitFailed,
    ]
    .into_iter()
    .find(|s| s.as_str() == text)
    .unwrap_or(SetupState::None)
}

fn base_kind_text(kind: BaseKind) -> &'static str {
    match kind {
        BaseKind::Image => "image",
        BaseKind::Snapshot => "snapshot",
    }
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<SandboxRow> {
    let state: String = r.get(2)?;
    let setup: String = r.get(3)?;
    let base_kind: String = r.get(4)?;
    let network: String = r.get(10)?;
    let init = match (r.get::<_, Option<i32>>(14)?, r.get::<_, Option<i64>>(15)?) {
        (Some(pid), Some(start_time)) => Some(InitRecord {
            pid,
            start_time: start_time as u64,
            boot_id: r.get::<_, Option<String>>(16)?.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(SandboxRow {
        id: r.get(0)?,
        name: r.get(1)?,
        state: parse_state(&state),
        setup: parse_setup(&setup),
        base_kind: if base_kind == "snapshot" {
            BaseKind::Snapshot
        } else {
            BaseKind::Image
        },
        base_id: r.get(5)?,
        base_name: r.get(6)?,
        error: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        network: if network == "none" {
            NetworkMode::None
        } else {
            NetworkMode::Host
        },
        limits: Limits {
            memory_bytes: r.get::<_, Option<i64>>(11)?.map(|v| v as u64),
            cpus: r.get(12)?,
            pids: r.get::<_, Option<i64>>(13)?.map(|v| v as u64),
        },
        init,
        preset: r.get(17)?,
        created_generation: r.get::<_, Option<i64>>(18)?.map(|g| g as u64),
        chosen_by: parse_chosen_by(r.get(19)?),
        repository: match (
            r.get::<_, Option<String>>(20)?,
            r.get::<_, Option<String>>(21)?,
        ) {
            (Some(repository_id), Some(path)) => Some(SandboxCheckout {
                repository_id,
                path,
                branch: r.get(22)?,
            }),
            _ => None,
        },
        session_env: r
            .get::<_, Option<String>>(23)?
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default(),
        setup_error: r.get(24)?,
        setup_exit_code: r.get(25)?,
    })
}

impl Store {
    /// Inserts a `creating` sandbox row and its create intent in one transaction; returns
    /// the journal id. A duplicate name fails with a UNIQUE violation and writes nothing.
    pub fn insert_creating_sandbox(
        &self,
        id: &str,
        name: &str,
        new: &NewSandbox<'_>,
    ) -> rusqlite::Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let t = now();
        tx.execute(
            "INSERT INTO sandboxes
                 (id, name, state, base_kind, base_id, base_name, created_at, updated_at,
                  network, memory_bytes, cpus, pids_limit, preset, chosen_by, repository_id,
                  repository_path, repository_branch, session_env, setup_state, setup_error)
             VALUES (?1, ?2, 'creating', ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                     ?14, ?15, ?16, ?17, ?18)",
            params![
                id,
                name,
                base_kind_text(new.base_kind),
                new.base_id,
                new.base_name,
                t,
                new.network.as_str(),
                new.limits.memory_bytes.map(|v| v as i64),
                new.limits.cpus,
                new.limits.pids.map(|v| v as i64),
                new.preset,
                new.chosen_by.as_str(),
                new.repository.as_ref().map(|r| &r.repository_id),
                new.repository.as_ref().map(|r| &r.path),
                new.repository.as_ref().and_then(|r| r.branch.as_ref()),
                serde_json::to_string(&new.session_env).unwrap_or_else(|_| "[]".into()),
                new.setup.as_str(),
                new.setup_error,
            ],
        )?;
        tx.execute(
            "INSERT INTO operations (kind, object_id, started_at) VALUES (?1, ?2, ?3)",
            params![OperationKind::CreateSandbox.as_str(), id, t],
        )?;
        let op = tx.last_insert_rowid();
        tx.commit()?;
        Ok(op)
    }

    /// Sets a sandbox's state and, when given, closes a journal entry in the same transaction.
    /// Leaving `running` (any state but `running`, `stopping` and `snapshotting`) forgets the
    /// init record.
    pub fn set_sandbox_state(
        &self,
        id: &str,
        state: SandboxState,
        error: Option<&str>,
        op: Option<i64>,
    ) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE sandboxes SET state = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, state.as_str(), error, now()],
        )?;
        let keeps_init = matches!(
            state,
            SandboxState::Running | SandboxState::Stopping | SandboxState::Snapshotting
        );
        if !keeps_init {
            tx.execute(
                "UPDATE sandboxes SET init_pid = NULL, init_start_time = NULL,
                     init_boot_id = NULL WHERE id = ?1",
                [id],
            )?;
        }
        if let Some(op) = op {
            tx.execute("DELETE FROM operations WHERE id = ?1", [op])?;
        }
        tx.commit()
    }

    /// Records a started init and marks the sandbox `running`, closing a journal entry if
    /// given, in one transaction.
    pub fn set_sandbox_running(
        &self,
        id: &str,
        init: &InitRecord,
        op: Option<i64>,
    ) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE sandboxes SET state = 'running', error = NULL, init_pid = ?2,
                 init_start_time = ?3, init_boot_id = ?4, updated_at = ?5 WHERE id = ?1",
            params![id, init.pid, init.start_time as i64, init.boot_id, now()],
        )?;
        if let Some(op) = op {
            tx.execute("DELETE FROM operations WHERE id = ?1", [op])?;
        }
        tx.commit()
    }

    /// Records the filesystem generation at which a sandbox's tree was made.
    pub fn set_created_generation(&self, id: &str, generation: u64) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "UPDATE sandboxes SET created_generation = ?2 WHERE id = ?1",
                params![id, generation as i64],
            )
            .map(drop)
    }

    /// Moves a sandbox's setup track, with the reason and exit code of a finished script.
    pub fn set_setup(
        &self,
        id: &str,
        setup: SetupState,
        error: Option<&str>,
        exit_code: Option<i32>,
    ) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "UPDATE sandboxes SET setup_state = ?2, setup_error = ?3, setup_exit_code = ?4,
                     updated_at = ?5 WHERE id = ?1",
                params![id, setup.as_str(), error, exit_code, now()],
            )
            .map(drop)
    }

    /// Sandboxes whose setup script was running, for start-up reconciliation.
    pub fn sandboxes_in_setup(&self) -> rusqlite::Result<Vec<SandboxRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM sandboxes WHERE setup_state = 'setup-running'"
        ))?;
        let rows = stmt.query_map([], from_row)?;
        rows.collect()
    }

    /// Deletes a sandbox row together with a journal entry, if given, in one transaction.
    pub fn delete_sandbox(&self, id: &str, op: Option<i64>) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM sandboxes WHERE id = ?1", [id])?;
        if let Some(op) = op {
            tx.execute("DELETE FROM operations WHERE id = ?1", [op])?;
        }
        tx.commit()
    }

    /// Looks a sandbox up by name or id.
    pub fn find_sandbox(&self, reference: &str) -> rusqlite::Result<Option<SandboxRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM sandboxes WHERE name = ?1 OR id = ?1"),
                [reference],
                from_row,
            )
            .optional()
    }

    /// True when a sandbox of that name exists.
    pub fn sandbox_name_taken(&self, name: &str) -> rusqlite::Result<bool> {
        self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM sandboxes WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )
    }

    /// Every sandbox, by name.
    pub fn list_sandboxes(&self) -> rusqlite::Result<Vec<SandboxRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM sandboxes ORDER BY name"))?;
        let rows = stmt.query_map([], from_row)?;
        rows.collect()
    }
}
