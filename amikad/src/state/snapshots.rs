//! Snapshot rows, and the sandbox-side bookkeeping of a capture in progress.

use amika_api::{BaseKind, SnapshotMode, SnapshotState};
use rusqlite::{params, OptionalExtension, Row};

use super::{now, OperationKind, Store};

/// A snapshot as stored.
#[derive(Debug, Clone)]
pub struct SnapshotRow {
    /// Stable id; also the name of its tree.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The source sandbox's id.
    pub source_id: String,
    /// The source sandbox's name.
    pub source_name: String,
    /// The source's repository.
    pub repository: Option<String>,
    /// What the source booted from.
    pub base_kind: BaseKind,
    /// Its id.
    pub base_id: String,
    /// Its name.
    pub base_name: String,
    /// The preset at the root of the chain.
    pub preset: Option<String>,
    /// Capture mode.
    pub mode: SnapshotMode,
    /// Life-cycle state.
    pub state: SnapshotState,
    /// Why it failed.
    pub error: Option<String>,
    /// Bytes of file data.
    pub size_bytes: Option<u64>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Last change (Unix seconds).
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, description, source_id, source_name, repository, base_kind, \
    base_id, base_name, preset, mode, state, error, size_bytes, created_at, updated_at";

fn parse_mode(text: &str) -> SnapshotMode {
    [SnapshotMode::Scrub, SnapshotMode::Full]
        .into_iter()
        .find(|m| m.as_str() == text)
        .unwrap_or(SnapshotMode::ScrubAndDelete)
}

fn parse_state(text: &str) -> SnapshotState {
    [
        SnapshotState::Capturing,
        SnapshotState::Finalizing,
        SnapshotState::Active,
    ]
    .into_iter()
    .find(|s| s.as_str() == text)
    .unwrap_or(SnapshotState::Failed)
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<SnapshotRow> {
    let base_kind: String = r.get(6)?;
    let mode: String = r.get(10)?;
    let state: String = r.get(11)?;
    Ok(SnapshotRow {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        source_id: r.get(3)?,
        source_name: r.get(4)?,
        repository: r.get(5)?,
        base_kind: if base_kind == "snapshot" {
            BaseKind::Snapshot
        } else {
            BaseKind::Image
        },
        base_id: r.get(7)?,
        base_name: r.get(8)?,
        preset: r.get(9)?,
        mode: parse_mode(&mode),
        state: parse_state(&state),
        error: r.get(12)?,
        size_bytes: r.get::<_, Option<i64>>(13)?.map(|v| v as u64),
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

impl Store {
    /// Starts a capture in one transaction: the snapshot row (`capturing`), its intent, and
    /// the source marked `snapshotting` with its current state kept aside. Returns the
    /// journal id.
    pub fn begin_capture(&self, snapshot: &SnapshotRow) -> rusqlite::Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let t = now();
        let base_kind = match snapshot.base_kind {
            BaseKind::Image => "image",
            BaseKind::Snapshot => "snapshot",
        };
        tx.execute(
            &format!(
                "INSERT INTO snapshots ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
                ?9, ?10, ?11, 'capturing', NULL, NULL, ?12, ?12)"
            ),
            params![
                snapshot.id,
                snapshot.name,
                snapshot.description,
                snapshot.source_id,
                snapshot.source_name,
                snapshot.repository,
                base_kind,
                snapshot.base_id,
                snapshot.base_name,
                snapshot.preset,
                snapshot.mode.as_str(),
                t
            ],
        )?;
        tx.execute(
            "UPDATE sandboxes SET state_before_snapshot = state, state = 'snapshotting',
                 updated_at = ?2 WHERE id = ?1",
            params![snapshot.source_id, t],
        )?;
        tx.execute(
            "INSERT INTO operations (kind, object_id, started_at) VALUES (?1, ?2, ?3)",
            params![OperationKind::CaptureSnapshot.as_str(), snapshot.id, t],
        )?;
        let op = tx.last_insert_rowid();
        tx.commit()?;
        Ok(op)
    }

    /// Moves a snapshot to `state`, with an error for `failed`.
    pub fn set_snapshot_state(
        &self,
        id: &str,
        state: SnapshotState,
        error: Option<&str>,
    ) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "UPDATE snapshots SET state = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, state.as_str(), error, now()],
            )
            .map(drop)
    }

    /// Marks a snapshot active. When the capture keeps its source, `keeps` names the journal
    /// entry to close and the source to give back its state, in the same transaction.
    pub fn activate_snapshot(&self, id: &str, keeps: Option<(i64, &str)>) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE snapshots SET state = 'active', error = NULL, updated_at = ?2 WHERE id = ?1",
            params![id, now()],
        )?;
        if let Some((op, source)) = keeps {
            tx.execute("DELETE FROM operations WHERE id = ?1", [op])?;
            restore_source(&tx, source)?;
        }
        tx.commit()
    }

    /// Records a snapshot's size once it has been measured.
    pub fn set_snapshot_size(&self, id: &str, size_bytes: u64) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "UPDATE snapshots SET size_bytes = ?2 WHERE id = ?1",
                params![id, size_bytes as i64],
            )
            .map(drop)
    }

    /// Gives a source sandbox back the state it had before the capture.
    pub fn end_capture(&self, sandbox_id: &str) -> rusqlite::Result<()> {
        restore_source(&self.conn(), sandbox_id)
    }

    /// Deletes a snapshot row together with a journal entry, if given.
    pub fn delete_snapshot(&self, id: &str, op: Option<i64>) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM snapshots WHERE id = ?1", [id])?;
        if let Some(op) = op {
            tx.execute("DELETE FROM operations WHERE id = ?1", [op])?;
        }
        tx.commit()
    }

    /// Looks a snapshot up by name or id.
    pub fn find_snapshot(&self, reference: &str) -> rusqlite::Result<Option<SnapshotRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM snapshots WHERE name = ?1 OR id = ?1"),
                [reference],
                from_row,
            )
            .optional()
    }

    /// Snapshots, by name, optionally only those of one source sandbox (name or id) or one
    /// repository.
    pub fn list_snapshots(
        &self,
        sandbox: Option<&str>,
        repository: Option<&str>,
    ) -> rusqlite::Result<Vec<SnapshotRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM snapshots
             WHERE (?1 IS NULL OR source_name = ?1 OR source_id = ?1)
               AND (?2 IS NULL OR repository = ?2)
             ORDER BY name"
        ))?;
        let rows = stmt.query_map(params![sandbox, repository], from_row)?;
        rows.collect()
    }
}

/// The source's state before the capture, put back.
fn restore_source(conn: &rusqlite::Connection, sandbox_id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sandboxes SET state = COALESCE(state_before_snapshot, 'stopped'),
             state_before_snapshot = NULL, updated_at = ?2 WHERE id = ?1",
        params![sandbox_id, now()],
    )
    .map(drop)
}
