//! The injection ledger and each sandbox's clean `/etc/environment`.
//!
//! Every target is recorded here before the daemon writes it into a sandbox, so a scrub
//! works from what was meant to be written, including a write that a crash cut short.

use rusqlite::{params, OptionalExtension};

use super::{now, Store};

/// What kind of place a secret was injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectionKind {
    /// A file (absolute path inside the sandbox).
    File,
    /// An environment variable.
    Env,
    /// A git host's credential.
    Git,
}

impl InjectionKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Env => "env",
            Self::Git => "git",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "env" => Self::Env,
            "git" => Self::Git,
            _ => Self::File,
        }
    }
}

/// One recorded injection.
#[derive(Clone)]
pub struct InjectionRow {
    /// The secret's name.
    pub secret: String,
    /// Where it went.
    pub kind: InjectionKind,
    /// The file path, variable name or git host.
    pub target: String,
    /// The injected value.
    pub value: String,
}

impl std::fmt::Debug for InjectionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InjectionRow")
            .field("secret", &self.secret)
            .field("kind", &self.kind)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Records an injection before it is written.
    pub fn record_injection(&self, sandbox_id: &str, row: &InjectionRow) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "INSERT INTO injections (sandbox_id, secret_name, kind, target, value, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    sandbox_id,
                    row.secret,
                    row.kind.as_str(),
                    row.target,
                    row.value.as_bytes(),
                    now()
                ],
            )
            .map(drop)
    }

    /// Every injection into a sandbox, in the order recorded.
    pub fn injections(&self, sandbox_id: &str) -> rusqlite::Result<Vec<InjectionRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT secret_name, kind, target, value FROM injections
             WHERE sandbox_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([sandbox_id], |r| {
            let kind: String = r.get(1)?;
            let value: Vec<u8> = r.get(3)?;
            Ok(InjectionRow {
                secret: r.get(0)?,
                kind: InjectionKind::parse(&kind),
                target: r.get(2)?,
                value: String::from_utf8_lossy(&value).into_owned(),
            })
        })?;
        rows.collect()
    }

    /// Keeps a sandbox's clean `/etc/environment`, before secrets are added to it.
    pub fn set_env_baseline(&self, sandbox_id: &str, content: &[u8]) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "INSERT INTO env_baselines (sandbox_id, content) VALUES (?1, ?2)
                 ON CONFLICT(sandbox_id) DO UPDATE SET content = excluded.content",
                params![sandbox_id, content],
            )
            .map(drop)
    }

    /// A sandbox's clean `/etc/environment`, when one was kept.
    pub fn env_baseline(&self, sandbox_id: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        self.conn()
            .query_row(
                "SELECT content FROM env_baselines WHERE sandbox_id = ?1",
                [sandbox_id],
                |r| r.get(0),
            )
            .optional()
    }
}
