//! Choosing the tree a new sandbox clones.
//!
//! The rules, first match wins: `--snapshot` > `--no-snapshot` (which skips the next two) >
//! the repository's default in the state store > `[sandbox] snapshot` in its configuration
//! file > `--image` or `--preset` > `[sandbox] preset` > the daemon's default preset. A
//! default that names a snapshot which is gone is an error, never a quiet fallback: the
//! user asked for that snapshot's contents and would not notice a sandbox without them.

use amika_api::{BaseKind, ChosenBy, CreateSandbox, ImageSource, ImageState, SnapshotState};

use super::Service;
use crate::error::{Error, Result};
use crate::repo::config::RepoConfig;
use crate::state::{ImageRow, RepositoryRow, SnapshotRow};
use crate::storage::TreeRef;

/// The tree a new sandbox clones, and how to describe it.
pub(super) struct BaseChoice {
    pub kind: BaseKind,
    pub id: String,
    pub name: String,
    pub preset: Option<String>,
    pub tree: TreeRef,
    pub chosen_by: ChosenBy,
    /// Flags the choice overrode, said back to the user.
    pub warnings: Vec<String>,
}

impl Service {
    /// Applies the rules to a request and its repository.
    pub(super) fn choose_base(
        &self,
        request: &CreateSandbox,
        repository: Option<&RepositoryRow>,
        config: Option<&RepoConfig>,
    ) -> Result<BaseChoice> {
        let given = [&request.image, &request.preset, &request.snapshot];
        if given.iter().filter(|g| g.is_some()).count() > 1 {
            return Err(Error::InvalidRequest(
                "give at most one of an image, a preset and a snapshot".into(),
            ));
        }
        if request.no_snapshot && request.snapshot.is_some() {
            return Err(Error::InvalidRequest(
                "--snapshot and --no-snapshot contradict each other; drop one".into(),
            ));
        }
        if let Some(snapshot) = &request.snapshot {
            return self.snapshot_base(snapshot, ChosenBy::Flag);
        }
        if !request.no_snapshot {
            if let Some(mut choice) = self.default_snapshot_base(repository, config)? {
                if let Some(flag) = request.image.as_ref().or(request.preset.as_ref()) {
                    choice.warnings.push(format!(
                        "'{flag}' was not used: the repository's default snapshot '{}' comes \
                         first; pass --no-snapshot to boot from '{flag}'",
                        choice.name
                    ));
                }
                return Ok(choice);
            }
        }
        let (image, chosen_by) = match (&request.image, &request.preset) {
            (Some(image), _) => (self.ready_image(image)?, ChosenBy::Flag),
            (None, Some(preset)) => (self.ensure_preset(preset)?, ChosenBy::Flag),
            (None, None) => match config.and_then(|c| c.preset.as_ref()) {
                Some(preset) => (self.ensure_preset(preset)?, ChosenBy::Config),
                None => (self.ensure_preset(&self.defaults.preset)?, ChosenBy::Preset),
            },
        };
        Ok(image_base(image, chosen_by))
    }

    /// The repository's default snapshot: the state store's, else the configuration file's.
    fn default_snapshot_base(
        &self,
        repository: Option<&RepositoryRow>,
        config: Option<&RepoConfig>,
    ) -> Result<Option<BaseChoice>> {
        let Some(repository) = repository else {
            return Ok(None);
        };
        if let Some(id) = &repository.default_snapshot_id {
            let shown = repository.default_snapshot_name.as_deref().unwrap_or(id);
            let fix = format!(
                "set another with `amika-ctl repo set-default-snapshot {name} SNAPSHOT`, clear \
                 it with `amika-ctl repo clear-default-snapshot {name}`, or pass --no-snapshot",
                name = repository.name
            );
            let row = self.store.find_snapshot(id)?.ok_or_else(|| {
                Error::Conflict(format!(
                    "repository '{}' ({}) has default snapshot '{shown}', which no longer \
                     exists; {fix}",
                    repository.name, repository.key
                ))
            })?;
            return self
                .active_snapshot(row, ChosenBy::RepoDefault)
                .map(Some)
                .map_err(|e| Error::Conflict(format!("{e}; {fix}")));
        }
        let Some(name) = config.and_then(|c| c.snapshot.as_ref()) else {
            return Ok(None);
        };
        let fix = "create that snapshot, change [sandbox] snapshot in .amika/config.toml, or \
                   pass --no-snapshot";
        let row = self.store.find_snapshot(name)?.ok_or_else(|| {
            Error::Conflict(format!(
                "repository '{}' names snapshot '{name}' in .amika/config.toml ([sandbox] \
                 snapshot), and no snapshot has that name; {fix}",
                repository.name
            ))
        })?;
        self.active_snapshot(row, ChosenBy::Config)
            .map(Some)
            .map_err(|e| Error::Conflict(format!("{e}; {fix}")))
    }

    pub(super) fn ready_image(&self, image: &str) -> Result<ImageRow> {
        let row = self.find_image(image)?;
        match row.state {
            ImageState::Ready => Ok(row),
            ImageState::Building => Err(Error::Conflict(format!(
                "image '{image}' is still being built; wait for it to finish"
            ))),
            ImageState::Failed => Err(Error::Conflict(format!(
                "image '{image}' failed ({}); delete it and import it again",
                row.error.as_deref().unwrap_or("no reason recorded")
            ))),
        }
    }

    fn snapshot_base(&self, snapshot: &str, chosen_by: ChosenBy) -> Result<BaseChoice> {
        let row = self.find_snapshot(snapshot)?;
        self.active_snapshot(row, chosen_by)
    }

    fn active_snapshot(&self, row: SnapshotRow, chosen_by: ChosenBy) -> Result<BaseChoice> {
        if row.state != SnapshotState::Active {
            return Err(Error::Conflict(format!(
                "snapshot '{}' is {}; only an active snapshot can be booted",
                row.name,
                row.state.as_str()
            )));
        }
        Ok(BaseChoice {
            kind: BaseKind::Snapshot,
            tree: TreeRef::snapshot(&row.id),
            id: row.id,
            name: row.name,
            preset: row.preset,
            chosen_by,
            warnings: Vec::new(),
        })
    }
}

fn image_base(image: ImageRow, chosen_by: ChosenBy) -> BaseChoice {
    let preset = match &image.source {
        ImageSource::Preset { preset } => Some(preset.clone()),
        ImageSource::Import => None,
    };
    BaseChoice {
        kind: BaseKind::Image,
        tree: TreeRef::image(&image.id),
        id: image.id,
        name: image.name,
        preset,
        chosen_by,
        warnings: Vec::new(),
    }
}
