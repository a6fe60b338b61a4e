//! Service functions: the product's rules, callable without HTTP.
//!
//! Each function is synchronous (it does file-system, ioctl and SQLite work) and is run on a
//! blocking thread by the API layer. Tests and start-up reconciliation call them directly.

mod base;
mod events;
mod exec;
mod images;
mod inject;
mod lifecycle;
mod reconcile;
mod repos;
mod sandboxes;
mod secrets;
mod setup;
mod snapshots;
mod status;
mod workspace;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use amika_api::{Event, Limits};
use tokio::sync::broadcast;

use crate::runtime::supervisor::Supervisor;
use crate::state::Store;
use crate::storage::Storage;

pub use events::EVENT_BUFFER;
pub use exec::ExecPlan;
pub use images::{DEFAULT_PRESET, PRESETS};
pub use lifecycle::DEFAULT_STOP_TIMEOUT;
pub use setup::SETUP_LOG;
pub use workspace::{CreateUpload, WorkDir};

/// Facts about how this daemon was started, for status output.
#[derive(Debug, Clone)]
pub struct DaemonInfo {
    /// The state directory.
    pub state_dir: PathBuf,
    /// How the pool came to be: `embedded-loop`, `embedded-dir` or `explicit`.
    pub pool_origin: &'static str,
}

/// What a sandbox gets when its create request leaves it out.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// Limits, field by field.
    pub limits: Limits,
    /// The preset of a sandbox whose request names no image, preset or snapshot.
    pub preset: String,
}

/// The daemon's state and pool, and the rules that tie them together.
pub struct Service {
    store: Store,
    storage: Box<dyn Storage>,
    info: DaemonInfo,
    /// What a create request leaves out (the daemon's configuration).
    defaults: Defaults,
    /// One lock per preset, so that concurrent requests for an unbuilt preset wait for a
    /// single build instead of racing to make two.
    preset_builds: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// One lock per sandbox id, held across start, stop and delete, so that two life-cycle
    /// changes to the same sandbox never interleave.
    lifecycle_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Watches the init of every running sandbox.
    supervisor: Supervisor,
    /// The service itself, for work that outlives a request (a capture runs on after its
    /// 202 answer).
    me: Weak<Service>,
    events: broadcast::Sender<Event>,
}

impl Service {
    /// Ties a store and a pool together; `defaults` fill in what a create request leaves out.
    pub fn new(
        store: Store,
        storage: Box<dyn Storage>,
        info: DaemonInfo,
        defaults: Defaults,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me: &Weak<Service>| {
            let weak = me.clone();
            let on_exit = Arc::new(move |id: &str, pid: i32, status: Option<i32>| {
                if let Some(service) = weak.upgrade() {
                    service.init_exited(id, pid, status);
                }
            });
            Self {
                store,
                storage,
                info,
                defaults,
                preset_builds: Mutex::new(HashMap::new()),
                lifecycle_locks: Mutex::new(HashMap::new()),
                supervisor: Supervisor::new(on_exit),
                me: me.clone(),
                events: broadcast::channel(EVENT_BUFFER).0,
            }
        })
    }

    fn lifecycle_lock(&self, sandbox_id: &str) -> Arc<Mutex<()>> {
        let mut locks = self
            .lifecycle_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        locks.entry(sandbox_id.to_owned()).or_default().clone()
    }
}
