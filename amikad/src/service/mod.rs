//! Service functions: the product's rules, callable without HTTP.
//!
//! Each function is synchronous (it does file-system, ioctl and SQLite work) and is run on a
//! blocking thread by the API layer. Tests and start-up reconciliation call them directly.

mod images;
mod reconcile;
mod sandboxes;
mod status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::state::Store;
use crate::storage::Storage;

/// Facts about how this daemon was started, for status output.
#[derive(Debug, Clone)]
pub struct DaemonInfo {
    /// The state directory.
    pub state_dir: PathBuf,
    /// How the pool came to be: `embedded-loop`, `embedded-dir` or `explicit`.
    pub pool_origin: &'static str,
}

/// The daemon's state and pool, and the rules that tie them together.
pub struct Service {
    store: Store,
    storage: Box<dyn Storage>,
    info: DaemonInfo,
    /// One lock per preset, so that concurrent requests for an unbuilt preset wait for a
    /// single build instead of racing to make two.
    preset_builds: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl Service {
    /// Ties a store and a pool together.
    pub fn new(store: Store, storage: Box<dyn Storage>, info: DaemonInfo) -> Self {
        Self {
            store,
            storage,
            info,
            preset_builds: Mutex::new(HashMap::new()),
        }
    }
}
