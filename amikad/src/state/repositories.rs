//! Repository rows: one per repository key, made when a sandbox is first created from it.

use rusqlite::{params, OptionalExtension, Row};

use super::{now, Store};

/// A repository as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRow {
    /// Stable id.
    pub id: String,
    /// The normalised origin URL, or `commit:<sha>`.
    pub key: String,
    /// Short name.
    pub name: String,
    /// The origin URL without credentials.
    pub url: Option<String>,
    /// The default snapshot set in the state store: its id when set.
    pub default_snapshot_id: Option<String>,
    /// That snapshot's name when it was set, for messages once it is gone.
    pub default_snapshot_name: Option<String>,
    /// `[sandbox] snapshot` from the configuration file, as last read.
    pub config_snapshot: Option<String>,
    /// Sandboxes that use it now.
    pub sandboxes: u64,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Last change (Unix seconds).
    pub updated_at: i64,
}

const SELECT: &str = "SELECT r.id, r.key, r.name, r.url, r.default_snapshot_id,
        r.default_snapshot_name, r.config_snapshot, r.created_at, r.updated_at,
        (SELECT COUNT(*) FROM sandboxes s WHERE s.repository_id = r.id)
    FROM repositories r";

fn from_row(r: &Row<'_>) -> rusqlite::Result<RepositoryRow> {
    Ok(RepositoryRow {
        id: r.get(0)?,
        key: r.get(1)?,
        name: r.get(2)?,
        url: r.get(3)?,
        default_snapshot_id: r.get(4)?,
        default_snapshot_name: r.get(5)?,
        config_snapshot: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        sandboxes: r.get::<_, i64>(9)? as u64,
    })
}

impl Store {
    /// The repository with `key`, made with `id`, `name` and `url` if it is new. An existing
    /// one keeps its id and name and takes the newer URL.
    pub fn upsert_repository(
        &self,
        id: &str,
        key: &str,
        name: &str,
        url: Option<&str>,
    ) -> rusqlite::Result<RepositoryRow> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let t = now();
        tx.execute(
            "INSERT INTO repositories (id, key, name, url, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (key) DO UPDATE SET url = COALESCE(excluded.url, url)",
            params![id, key, name, url, t],
        )?;
        let row = tx.query_row(&format!("{SELECT} WHERE r.key = ?1"), [key], from_row)?;
        tx.commit()?;
        Ok(row)
    }

    /// Records what the configuration file said about the default snapshot.
    pub fn set_config_snapshot(&self, id: &str, snapshot: Option<&str>) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "UPDATE repositories SET config_snapshot = ?2 WHERE id = ?1",
                params![id, snapshot],
            )
            .map(drop)
    }

    /// Sets (`Some((id, name))`) or clears the state-store default snapshot.
    pub fn set_default_snapshot(
        &self,
        id: &str,
        snapshot: Option<(&str, &str)>,
    ) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "UPDATE repositories SET default_snapshot_id = ?2, default_snapshot_name = ?3,
                     updated_at = ?4 WHERE id = ?1",
                params![id, snapshot.map(|s| s.0), snapshot.map(|s| s.1), now()],
            )
            .map(drop)
    }

    /// One repository by id or key.
    pub fn find_repository(&self, id_or_key: &str) -> rusqlite::Result<Option<RepositoryRow>> {
        self.conn()
            .query_row(
                &format!("{SELECT} WHERE r.id = ?1 OR r.key = ?1"),
                [id_or_key],
                from_row,
            )
            .optional()
    }

    /// Repositories with this short name (names need not be unique).
    pub fn repositories_named(&self, name: &str) -> rusqlite::Result<Vec<RepositoryRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("{SELECT} WHERE r.name = ?1 ORDER BY r.key"))?;
        let rows = stmt.query_map([name], from_row)?;
        rows.collect()
    }

    /// Every repository, by name.
    pub fn list_repositories(&self) -> rusqlite::Result<Vec<RepositoryRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY r.name, r.key"))?;
        let rows = stmt.query_map([], from_row)?;
        rows.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_key_is_one_repository_however_often_it_is_seen() {
        let (_dir, store) = store();
        let first = store
            .upsert_repository("r1", "github.com/o/tool", "tool", None)
            .unwrap();
        let again = store
            .upsert_repository("r2", "github.com/o/tool", "other", Some("https://x/o/tool"))
            .unwrap();
        assert_eq!(again.id, first.id);
        assert_eq!(again.name, "tool");
        assert_eq!(again.url.as_deref(), Some("https://x/o/tool"));
        assert_eq!(store.list_repositories().unwrap().len(), 1);
        assert_eq!(store.repositories_named("tool").unwrap().len(), 1);
        assert!(store
            .find_repository("github.com/o/tool")
            .unwrap()
            .is_some());
    }

    #[test]
    fn the_default_snapshot_is_set_and_cleared() {
        let (_dir, store) = store();
        store.upsert_repository("r1", "k", "n", None).unwrap();
        store
            .set_default_snapshot("r1", Some(("s1", "base")))
            .unwrap();
        let row = store.find_repository("r1").unwrap().unwrap();
        assert_eq!(row.default_snapshot_id.as_deref(), Some("s1"));
        assert_eq!(row.default_snapshot_name.as_deref(), Some("base"));
        store.set_default_snapshot("r1", None).unwrap();
        let row = store.find_repository("r1").unwrap().unwrap();
        assert_eq!(row.default_snapshot_id, None);
    }
}
