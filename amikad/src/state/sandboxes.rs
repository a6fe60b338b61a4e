//! Sandbox rows.

use amika_api::{BaseKind, SandboxState, SetupState};
use rusqlite::{params, OptionalExtension, Row};

use super::{now, OperationKind, Store};

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
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Last state change (Unix seconds).
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, name, state, setup_state, base_kind, base_id, base_name, error, created_at, updated_at";

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
    })
}

impl Store {
    /// Inserts a `creating` sandbox row and its create intent in one transaction; returns
    /// the journal id. A duplicate name fails with a UNIQUE violation and writes nothing.
    pub fn insert_creating_sandbox(
        &self,
        id: &str,
        name: &str,
        base_kind: BaseKind,
        base_id: &str,
        base_name: &str,
    ) -> rusqlite::Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let t = now();
        tx.execute(
            "INSERT INTO sandboxes
                 (id, name, state, base_kind, base_id, base_name, created_at, updated_at)
             VALUES (?1, ?2, 'creating', ?3, ?4, ?5, ?6, ?6)",
            params![id, name, base_kind_text(base_kind), base_id, base_name, t],
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
        if let Some(op) = op {
            tx.execute("DELETE FROM operations WHERE id = ?1", [op])?;
        }
        tx.commit()
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
