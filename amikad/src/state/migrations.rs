//! Versioned schema migrations, applied in order inside one transaction each.
//!
//! `PRAGMA user_version` records how many have run. A migration, once released, never
//! changes: new needs get a new entry at the end.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: images, sandboxes and the operation journal.
    "CREATE TABLE images (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        source      TEXT NOT NULL,
        preset      TEXT,
        state       TEXT NOT NULL,
        size_bytes  INTEGER,
        error       TEXT,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE sandboxes (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        state       TEXT NOT NULL,
        setup_state TEXT NOT NULL DEFAULT 'none',
        base_kind   TEXT NOT NULL,
        base_id     TEXT NOT NULL,
        base_name   TEXT NOT NULL,
        error       TEXT,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE operations (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        kind        TEXT NOT NULL,
        object_id   TEXT NOT NULL,
        started_at  INTEGER NOT NULL
    );",
    // 2: what a running sandbox needs: network mode, limits, and its init process, identified
    // by pid, start time and boot so that a reused pid or a rebooted host is never mistaken
    // for the sandbox.
    "ALTER TABLE sandboxes ADD COLUMN network TEXT NOT NULL DEFAULT 'host';
    ALTER TABLE sandboxes ADD COLUMN memory_bytes INTEGER;
    ALTER TABLE sandboxes ADD COLUMN cpus REAL;
    ALTER TABLE sandboxes ADD COLUMN pids_limit INTEGER;
    ALTER TABLE sandboxes ADD COLUMN init_pid INTEGER;
    ALTER TABLE sandboxes ADD COLUMN init_start_time INTEGER;
    ALTER TABLE sandboxes ADD COLUMN init_boot_id TEXT;",
    // 3: secrets, the injection ledger, each sandbox's clean /etc/environment, and snapshots.
    // The ledger keeps the injected value itself: the scrub must find it in the capture even
    // after the stored secret has been changed or deleted.
    "CREATE TABLE secrets (
        name        TEXT PRIMARY KEY,
        env_vars    TEXT NOT NULL DEFAULT '[]',
        file_path   TEXT,
        git_host    TEXT,
        value       BLOB NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE injections (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        sandbox_id  TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
        secret_name TEXT NOT NULL,
        kind        TEXT NOT NULL,
        target      TEXT NOT NULL,
        value       BLOB NOT NULL,
        recorded_at INTEGER NOT NULL
    );
    CREATE INDEX injections_by_sandbox ON injections(sandbox_id);
    CREATE TABLE env_baselines (
        sandbox_id  TEXT PRIMARY KEY REFERENCES sandboxes(id) ON DELETE CASCADE,
        content     BLOB NOT NULL
    );
    CREATE TABLE snapshots (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL UNIQUE,
        description     TEXT,
        source_id       TEXT NOT NULL,
        source_name     TEXT NOT NULL,
        repository      TEXT,
        base_kind       TEXT NOT NULL,
        base_id         TEXT NOT NULL,
        base_name       TEXT NOT NULL,
        preset          TEXT,
        mode            TEXT NOT NULL,
        state           TEXT NOT NULL,
        error           TEXT,
        size_bytes      INTEGER,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    );
    ALTER TABLE sandboxes ADD COLUMN preset TEXT;
    ALTER TABLE sandboxes ADD COLUMN state_before_snapshot TEXT;",
    // 4: the filesystem generation at which each sandbox's tree was made, so a scrub can ask
    // the filesystem what changed since instead of reading the whole tree.
    "ALTER TABLE sandboxes ADD COLUMN created_generation INTEGER;",
    // 5: repositories, the rule that chose each sandbox's base, its checkout, the variables
    // its sessions get, and the outcome of its setup script.
    "CREATE TABLE repositories (
        id                      TEXT PRIMARY KEY,
        key                     TEXT NOT NULL UNIQUE,
        name                    TEXT NOT NULL,
        url                     TEXT,
        default_snapshot_id     TEXT,
        default_snapshot_name   TEXT,
        config_snapshot         TEXT,
        created_at              INTEGER NOT NULL,
        updated_at              INTEGER NOT NULL
    );
    ALTER TABLE sandboxes ADD COLUMN chosen_by TEXT;
    ALTER TABLE sandboxes ADD COLUMN repository_id TEXT REFERENCES repositories (id);
    ALTER TABLE sandboxes ADD COLUMN repository_path TEXT;
    ALTER TABLE sandboxes ADD COLUMN repository_branch TEXT;
    ALTER TABLE sandboxes ADD COLUMN session_env TEXT;
    ALTER TABLE sandboxes ADD COLUMN setup_error TEXT;
    ALTER TABLE sandboxes ADD COLUMN setup_exit_code INTEGER;",
];

/// Runs every migration newer than the database's `user_version`.
pub fn apply(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > MIGRATIONS.len() {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the database schema is version {current}, newer than this amikad knows \
             ({}); run a newer amikad",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied state migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).unwrap();
        let version: usize = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
    }
}
