//! Repositories: list, show, the default snapshot, and the snapshots taken from them.

use amika_api::{DefaultSource, Repository, RepositoryDefault, Snapshot, SnapshotState};

use super::Service;
use crate::error::{Error, Result};
use crate::repo::url;
use crate::state::{rfc3339, RepositoryRow};

impl Service {
    /// Every repository.
    pub fn list_repositories(&self) -> Result<Vec<Repository>> {
        let rows = self.store.list_repositories()?;
        rows.into_iter().map(|row| self.describe(row)).collect()
    }

    /// One repository by id, URL or unambiguous name.
    pub fn repository(&self, reference: &str) -> Result<Repository> {
        let row = self.find_repository(reference)?;
        self.describe(row)
    }

    /// Makes `snapshot` the repository's default in the state store.
    pub fn set_default_snapshot(&self, reference: &str, snapshot: &str) -> Result<Repository> {
        let row = self.find_repository(reference)?;
        let target = self.find_snapshot(snapshot)?;
        if target.state != SnapshotState::Active {
            return Err(Error::Conflict(format!(
                "snapshot '{}' is {}; only an active snapshot can be a default",
                target.name,
                target.state.as_str()
            )));
        }
        self.store
            .set_default_snapshot(&row.id, Some((&target.id, &target.name)))?;
        tracing::info!(repository = %row.name, snapshot = %target.name, "default snapshot set");
        self.repository(&row.id)
    }

    /// Clears the repository's state-store default; the configuration file's applies again.
    pub fn clear_default_snapshot(&self, reference: &str) -> Result<Repository> {
        let row = self.find_repository(reference)?;
        self.store.set_default_snapshot(&row.id, None)?;
        tracing::info!(repository = %row.name, "default snapshot cleared");
        self.repository(&row.id)
    }

    /// Every snapshot captured from a sandbox of the repository, newest first.
    pub fn repository_snapshots(&self, reference: &str) -> Result<Vec<Snapshot>> {
        let row = self.find_repository(reference)?;
        self.list_snapshots(None, Some(&row.id))
    }

    pub(super) fn find_repository(&self, reference: &str) -> Result<RepositoryRow> {
        if let Some(row) = self.store.find_repository(reference)? {
            return Ok(row);
        }
        if let Some(parsed) = url::parse_network(reference) {
            if let Some(row) = self.store.find_repository(&parsed.key())? {
                return Ok(row);
            }
        }
        let mut named = self.store.repositories_named(reference)?;
        match named.len() {
            0 => Err(Error::not_found("repository", reference)),
            1 => Ok(named.remove(0)),
            _ => {
                let candidates: Vec<String> = named
                    .iter()
                    .map(|r| format!("{} ({})", r.id, r.key))
                    .collect();
                Err(Error::InvalidRequest(format!(
                    "repository name '{reference}' is ambiguous; give one of these ids or its \
                     URL instead: {}",
                    candidates.join(", ")
                )))
            }
        }
    }

    fn describe(&self, row: RepositoryRow) -> Result<Repository> {
        let default_snapshot = match (&row.default_snapshot_id, &row.config_snapshot) {
            (Some(id), _) => {
                let found = self.store.find_snapshot(id)?;
                Some(RepositoryDefault {
                    snapshot: found
                        .as_ref()
                        .map(|s| s.name.clone())
                        .or_else(|| row.default_snapshot_name.clone())
                        .unwrap_or_else(|| id.clone()),
                    missing: found.is_none(),
                    snapshot_id: found.map(|s| s.id),
                    source: DefaultSource::StateStore,
                })
            }
            (None, Some(name)) => {
                let found = self.store.find_snapshot(name)?;
                Some(RepositoryDefault {
                    snapshot: name.clone(),
                    missing: found.is_none(),
                    snapshot_id: found.map(|s| s.id),
                    source: DefaultSource::Config,
                })
            }
            (None, None) => None,
        };
        Ok(Repository {
            id: row.id,
            name: row.name,
            key: row.key,
            url: row.url,
            default_snapshot,
            config_snapshot: row.config_snapshot,
            sandboxes: row.sandboxes,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        })
    }
}
