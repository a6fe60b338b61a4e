//! Image rows.

use amika_api::{ImageSource, ImageState};
use rusqlite::{params, OptionalExtension, Row};

use super::{now, OperationKind, Store};

/// An image as stored.
#[derive(Debug, Clone)]
pub struct ImageRow {
    /// Stable id; also the name of its tree in the pool.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Where it came from.
    pub source: ImageSource,
    /// Life-cycle state.
    pub state: ImageState,
    /// Bytes of file data, once known.
    pub size_bytes: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

const COLUMNS: &str = "id, name, source, preset, state, size_bytes, error, created_at";

fn state_text(state: ImageState) -> &'static str {
    match state {
        ImageState::Building => "building",
        ImageState::Ready => "ready",
        ImageState::Failed => "failed",
    }
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<ImageRow> {
    let source: String = r.get(2)?;
    let preset: Option<String> = r.get(3)?;
    let state: String = r.get(4)?;
    Ok(ImageRow {
        id: r.get(0)?,
        name: r.get(1)?,
        source: match (source.as_str(), preset) {
            ("preset", Some(preset)) => ImageSource::Preset { preset },
            _ => ImageSource::Import,
        },
        state: match state.as_str() {
            "ready" => ImageState::Ready,
            "building" => ImageState::Building,
            _ => ImageState::Failed,
        },
        size_bytes: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
        error: r.get(6)?,
        created_at: r.get(7)?,
    })
}

impl Store {
    /// Inserts a `building` image row and the journal intent for filling its tree, in one
    /// transaction. Returns the journal id. A duplicate name fails with a UNIQUE violation.
    pub fn insert_building_image(
        &self,
        id: &str,
        name: &str,
        source: &ImageSource,
        intent: OperationKind,
    ) -> rusqlite::Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (source_text, preset) = match source {
            ImageSource::Preset { preset } => ("preset", Some(preset.as_str())),
            ImageSource::Import => ("import", None),
        };
        let t = now();
        tx.execute(
            "INSERT INTO images (id, name, source, preset, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'building', ?5, ?5)",
            params![id, name, source_text, preset, t],
        )?;
        tx.execute(
            "INSERT INTO operations (kind, object_id, started_at) VALUES (?1, ?2, ?3)",
            params![intent.as_str(), id, t],
        )?;
        let op = tx.last_insert_rowid();
        tx.commit()?;
        Ok(op)
    }

    /// Marks an image ready and closes its journal entry in one transaction.
    pub fn finish_image(&self, id: &str, op: i64, size_bytes: u64) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE images SET state = 'ready', size_bytes = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, size_bytes as i64, now()],
        )?;
        tx.execute("DELETE FROM operations WHERE id = ?1", [op])?;
        tx.commit()
    }

    /// Marks an image failed with a reason.
    pub fn fail_image(&self, id: &str, error: &str) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "UPDATE images SET state = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, state_text(ImageState::Failed), error, now()],
            )
            .map(drop)
    }

    /// Deletes an image row together with a journal entry, if given, in one transaction.
    pub fn delete_image(&self, id: &str, op: Option<i64>) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM images WHERE id = ?1", [id])?;
        if let Some(op) = op {
            tx.execute("DELETE FROM operations WHERE id = ?1", [op])?;
        }
        tx.commit()
    }

    /// Looks an image up by name or id.
    pub fn find_image(&self, reference: &str) -> rusqlite::Result<Option<ImageRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM images WHERE name = ?1 OR id = ?1"),
                [reference],
                from_row,
            )
            .optional()
    }

    /// Every image, by name.
    pub fn list_images(&self) -> rusqlite::Result<Vec<ImageRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM images ORDER BY name"))?;
        let rows = stmt.query_map([], from_row)?;
        rows.collect()
    }
}
