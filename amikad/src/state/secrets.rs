//! Secret rows: a name, where the value goes, and the value itself.
//!
//! The value is kept as a BLOB of UTF-8 bytes. Nothing here logs or formats it: [`SecretRow`]
//! hides it from `Debug`, so a stray `{:?}` cannot leak it.

use amika_api::{SecretTargets, SetSecret};
use rusqlite::types::Type;
use rusqlite::{params, OptionalExtension, Row};

use super::{now, Store};

/// A secret as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRow {
    /// Unique name.
    pub name: String,
    /// Where it goes inside a sandbox.
    pub targets: SecretTargets,
    /// The value itself.
    pub value: String,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// When the value or the targets last changed (Unix seconds).
    pub updated_at: i64,
}

impl std::fmt::Debug for SecretRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRow")
            .field("name", &self.name)
            .field("targets", &self.targets)
            .field("value", &"<hidden>")
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

const COLUMNS: &str = "name, env_vars, file_path, git_host, value, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<SecretRow> {
    let env_json: String = r.get(1)?;
    let env = serde_json::from_str(&env_json)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, Type::Text, Box::new(e)))?;
    let value: Vec<u8> = r.get(4)?;
    // The error names neither the bytes nor their position, so it cannot carry the value.
    let value = String::from_utf8(value).map_err(|_| {
        let why = "stored secret value is not UTF-8";
        rusqlite::Error::FromSqlConversionFailure(4, Type::Blob, why.into())
    })?;
    Ok(SecretRow {
        name: r.get(0)?,
        targets: SecretTargets {
            env,
            file: r.get(2)?,
            git_host: r.get(3)?,
        },
        value,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

impl Store {
    /// Stores secret `name`, replacing the targets and value of an existing one while keeping
    /// its creation time. The caller has validated both.
    pub fn put_secret(&self, name: &str, secret: &SetSecret) -> rusqlite::Result<()> {
        let env = serde_json::to_string(&secret.targets.env)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        self.conn()
            .execute(
                "INSERT INTO secrets
                    (name, env_vars, file_path, git_host, value, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT(name) DO UPDATE SET
                    env_vars = excluded.env_vars,
                    file_path = excluded.file_path,
                    git_host = excluded.git_host,
                    value = excluded.value,
                    updated_at = excluded.updated_at",
                params![
                    name,
                    env,
                    secret.targets.file,
                    secret.targets.git_host,
                    secret.value.as_bytes(),
                    now()
                ],
            )
            .map(drop)
    }

    /// Every secret, by name.
    pub fn list_secrets(&self) -> rusqlite::Result<Vec<SecretRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM secrets ORDER BY name"))?;
        let rows = stmt.query_map([], from_row)?;
        rows.collect()
    }

    /// One secret by name.
    pub fn find_secret(&self, name: &str) -> rusqlite::Result<Option<SecretRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM secrets WHERE name = ?1"),
                [name],
                from_row,
            )
            .optional()
    }

    /// Deletes a secret; returns whether there was one.
    pub fn delete_secret(&self, name: &str) -> rusqlite::Result<bool> {
        let deleted = self
            .conn()
            .execute("DELETE FROM secrets WHERE name = ?1", [name])?;
        Ok(deleted > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("amika.db")).unwrap();
        (dir, store)
    }

    fn set(env: &[&str], file: Option<&str>, value: &str) -> SetSecret {
        SetSecret {
            targets: SecretTargets {
                env: env.iter().map(|v| v.to_string()).collect(),
                file: file.map(str::to_owned),
                git_host: None,
            },
            value: value.into(),
        }
    }

    #[test]
    fn secrets_round_trip_and_replace_in_place() {
        let (_dir, store) = store();
        store
            .put_secret("openai", &set(&["OPENAI_API_KEY"], None, "sk-1"))
            .unwrap();
        store
            .put_secret("claude", &set(&[], Some(".claude.json"), "{}"))
            .unwrap();
        let first = store.find_secret("openai").unwrap().unwrap();
        assert_eq!(first.targets.env, ["OPENAI_API_KEY"]);
        assert_eq!(first.value, "sk-1");

        let replaced = set(&["OPENAI_API_KEY", "OPENAI_KEY"], Some("x/key"), "sk-2");
        store.put_secret("openai", &replaced).unwrap();
        let second = store.find_secret("openai").unwrap().unwrap();
        assert_eq!(second.targets, replaced.targets);
        assert_eq!(second.value, "sk-2");
        assert_eq!(second.created_at, first.created_at);

        let names: Vec<String> = store
            .list_secrets()
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["claude", "openai"]);
    }

    #[test]
    fn deleting_reports_whether_a_secret_was_there() {
        let (_dir, store) = store();
        store.put_secret("a", &set(&["A"], None, "v")).unwrap();
        assert!(store.delete_secret("a").unwrap());
        assert!(!store.delete_secret("a").unwrap());
        assert!(store.find_secret("a").unwrap().is_none());
    }

    #[test]
    fn the_database_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, _store) = store();
        let db = dir.path().join("amika.db");
        for file in ["amika.db", "amika.db-wal", "amika.db-shm"] {
            let path = dir.path().join(file);
            if path == db || path.exists() {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{file}");
            }
        }
    }

    #[test]
    fn debug_output_hides_the_value() {
        let (_dir, store) = store();
        store
            .put_secret("a", &set(&["A"], None, "hunter2-value"))
            .unwrap();
        let row = store.find_secret("a").unwrap().unwrap();
        assert!(!format!("{row:?}").contains("hunter2"));
    }
}
