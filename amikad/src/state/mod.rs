//! The state store: SQLite holding images, sandboxes and the operation journal.
//!
//! SQL lives in this module and nowhere else. Every function takes `&Store` and runs its
//! statements under one lock on one connection: the daemon's writes are small and few, and a
//! single connection makes "database is locked" impossible from our own side.

mod images;
mod ledger;
mod migrations;
mod operations;
mod repositories;
mod sandboxes;
mod secrets;
mod snapshots;

use std::fs::Permissions;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use images::ImageRow;
pub use ledger::{InjectionKind, InjectionRow};
pub use operations::OperationKind;
pub use repositories::RepositoryRow;
pub use sandboxes::{InitRecord, NewSandbox, SandboxCheckout, SandboxRow};
pub use secrets::SecretRow;
pub use snapshots::SnapshotRow;

/// A handle on the SQLite database.
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> rusqlite::Result<Store> {
        let mut conn = Connection::open(path)?;
        // WAL keeps readers off the writer's back. NORMAL sync in WAL mode makes every
        // commit survive a crash of the daemon, which is what the intent journal needs; a
        // power loss may drop the last commits but never corrupts, and reconciliation treats
        // a tree without its row, or a row without its tree, like any other leftover. FULL
        // would add an fsync to every step of every create.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::apply(&mut conn)?;
        // The database holds secret values; SQLite gives later -wal/-shm files its mode.
        restrict_to_owner(path)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent (the transaction
        // rolls back on drop), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sets mode 0600 on the database file and on its WAL and shared-memory files if present.
fn restrict_to_owner(db: &Path) -> rusqlite::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        let path = PathBuf::from(path);
        match std::fs::set_permissions(&path, Permissions::from_mode(0o600)) {
            Ok(()) => {}
            // The WAL and shared-memory files exist only while a connection needs them.
            Err(e) if !suffix.is_empty() && e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                let code = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_PERM);
                let why = format!("setting mode 0600 on {}: {e}", path.display());
                return Err(rusqlite::Error::SqliteFailure(code, Some(why)));
            }
        }
    }
    Ok(())
}

/// Seconds since the Unix epoch, the unit every timestamp column uses.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Renders a stored timestamp as RFC 3339 for the API.
pub fn rfc3339(secs: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// True when `e` is a UNIQUE constraint failure, i.e. a duplicate name.
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}
