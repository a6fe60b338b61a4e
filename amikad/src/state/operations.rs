//! The operation journal: an intent is written before a multi-step change touches the pool,
//! and removed in the same transaction that records the change as done. Whatever is left in
//! it at start-up is a change a crash interrupted, and reconciliation resolves it.

use rusqlite::params;

use super::{now, Store};

/// The kinds of journaled change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// An image tree is being filled from an upload; rolled back on crash.
    ImportImage,
    /// A preset image is being built; rolled back on crash.
    BuildImage,
    /// An image is being deleted; rolled forward on crash.
    DeleteImage,
    /// A sandbox tree is being cloned; rolled back on crash.
    CreateSandbox,
    /// A sandbox is being deleted; rolled forward on crash.
    DeleteSandbox,
    /// A snapshot is being captured: rolled back on crash unless it reached `active`, in
    /// which case what remained (deleting the source) is rolled forward.
    CaptureSnapshot,
    /// A snapshot is being deleted; rolled forward on crash.
    DeleteSnapshot,
}

impl OperationKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::ImportImage => "import-image",
            Self::BuildImage => "build-image",
            Self::DeleteImage => "delete-image",
            Self::CreateSandbox => "create-sandbox",
            Self::DeleteSandbox => "delete-sandbox",
            Self::CaptureSnapshot => "capture-snapshot",
            Self::DeleteSnapshot => "delete-snapshot",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::ImportImage,
            Self::BuildImage,
            Self::DeleteImage,
            Self::CreateSandbox,
            Self::DeleteSandbox,
            Self::CaptureSnapshot,
            Self::DeleteSnapshot,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// One unfinished change found in the journal.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Journal row id.
    pub id: i64,
    /// What was being done. `None` for a kind this daemon does not know.
    pub kind: Option<OperationKind>,
    /// The kind as stored, for messages about unknown kinds.
    pub kind_text: String,
    /// The image or sandbox id it concerns.
    pub object_id: String,
}

impl Store {
    /// Records that `kind` is about to happen to `object_id`; returns the journal id.
    pub fn begin_operation(&self, kind: OperationKind, object_id: &str) -> rusqlite::Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO operations (kind, object_id, started_at) VALUES (?1, ?2, ?3)",
            params![kind.as_str(), object_id, now()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Removes a journal entry on its own, for a change that ended with no row to update.
    pub fn delete_operation(&self, id: i64) -> rusqlite::Result<()> {
        self.conn()
            .execute("DELETE FROM operations WHERE id = ?1", [id])
            .map(drop)
    }

    /// Every unfinished change, oldest first.
    pub fn pending_operations(&self) -> rusqlite::Result<Vec<Operation>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, kind, object_id FROM operations ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            let kind_text: String = r.get(1)?;
            Ok(Operation {
                id: r.get(0)?,
                kind: OperationKind::parse(&kind_text),
                kind_text,
                object_id: r.get(2)?,
            })
        })?;
        rows.collect()
    }
}
