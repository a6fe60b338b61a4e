//! `status`: the daemon and its pool at a glance.

use amika_api::Status;

use super::Service;
use crate::error::Result;

impl Service {
    /// Version, backend and pool usage.
    pub fn status(&self) -> Result<Status> {
        let usage = self.storage.usage()?;
        Ok(Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: self.storage.backend().to_owned(),
            pool: self.storage.location(),
            pool_origin: self.info.pool_origin.to_owned(),
            size_bytes: usage.total,
            used_bytes: usage.used,
            free_bytes: usage.free,
            state_dir: self.info.state_dir.display().to_string(),
        })
    }
}
