//! Start-up and shutdown, in a fixed order.
//!
//! Start: lock the state directory, open the pool, open the store, reconcile, take the socket
//! (the one systemd passed, else bind our own), then announce readiness to systemd and to a
//! parent waiting on `--daemonize`. Stop: on SIGTERM or SIGINT tell systemd, stop accepting,
//! drain, close the store. The embedded pool stays mounted on purpose, so that sandboxes
//! outlive a daemon restart.

use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Config, StorageSpec};
use crate::detach::StartupPipe;
use crate::lock::StateLock;
use crate::service::{DaemonInfo, Defaults, Service};
use crate::state::Store;
use crate::storage::btrfs::BtrfsStorage;
use crate::storage::pool::{self, PoolOrigin};
use crate::storage::zfs::ZfsStorage;
use crate::storage::Storage;
use crate::systemd::Notifier;
use crate::{api, lock};

/// What the process was handed besides its configuration.
#[derive(Debug, Default)]
pub struct Launch {
    /// The listening socket systemd passed, if it did.
    pub listener: Option<std::os::unix::net::UnixListener>,
    /// The channel to systemd, under `Type=notify`.
    pub notifier: Option<Notifier>,
    /// The parent waiting under `--daemonize`.
    pub parent: Option<StartupPipe>,
    /// The pid file written under `--daemonize`.
    pub pid_file: Option<PathBuf>,
}

impl Launch {
    fn status(&self, text: &str) {
        if let Some(notifier) = &self.notifier {
            notifier.notify(&format!("STATUS={text}"));
        }
    }
}

/// A daemon that has started and not yet served.
struct Started {
    _lock: StateLock,
    service: Arc<Service>,
    listener: UnixListener,
    /// Where the socket is, for the log.
    socket: PathBuf,
    /// Whether the socket file is ours to remove at the end; systemd owns a passed one.
    own_socket: bool,
}

/// Runs the daemon until a shutdown signal. A start-up failure is reported to systemd and to
/// a waiting parent before it is returned.
pub async fn run(config: Config, mut launch: Launch) -> Result<()> {
    let started = match start(&config, &mut launch).await {
        Ok(started) => started,
        Err(e) => {
            launch.status(&format!("start-up failed: {e:#}"));
            // Gone before the parent hears of the failure, so nobody who saw the parent
            // exit finds a pid file naming a daemon that never served.
            if let Some(pid_file) = &launch.pid_file {
                let _ = std::fs::remove_file(pid_file);
            }
            if let Some(parent) = launch.parent.take() {
                parent.failed(&format!("{e:#}"));
            }
            return Err(e);
        }
    };
    let socket = started.socket.display();
    tracing::info!(%socket, "amikad ready");
    if let Some(notifier) = &launch.notifier {
        notifier.notify(&format!("READY=1\nSTATUS=serving on {socket}"));
    }
    if let Some(parent) = launch.parent.take() {
        parent.ready();
    }

    let stopping = shutdown_signal(launch.notifier.as_ref());
    api::serve(started.listener, started.service, stopping).await;
    if started.own_socket {
        let _ = std::fs::remove_file(&started.socket);
    }
    tracing::info!("amikad stopped");
    Ok(())
}

async fn start(config: &Config, launch: &mut Launch) -> Result<Started> {
    if let Some(file) = &config.file {
        tracing::info!(file = %file.display(), "configuration read");
    }
    let state_dir = &config.state_dir;
    create_private_dir(state_dir)?;
    let lock = lock::acquire(state_dir)?;

    if config.cgroup_favordynmods {
        favor_dynmods();
    }

    launch.status("opening the pool");
    let (storage, pool_origin) = open_storage(config)?;
    tracing::info!(backend = storage.backend(), pool = %storage.location(), "pool ready");

    let db = state_dir.join("amika.db");
    let store =
        Store::open(&db).with_context(|| format!("opening the state store {}", db.display()))?;
    let info = DaemonInfo {
        state_dir: state_dir.clone(),
        pool_origin,
    };
    let defaults = Defaults {
        limits: config.default_limits,
        preset: config.default_preset.clone(),
    };
    let service = Service::new(store, storage, info, defaults);

    launch.status("reconciling the state store with the pool");
    let service_for_reconcile = service.clone();
    let reconciled = tokio::task::spawn_blocking(move || service_for_reconcile.reconcile())
        .await?
        .context("reconciling the state store with the pool")?;
    tracing::info!(?reconciled, "reconciled state with the pool");

    let (listener, socket, own_socket) = listen(config, launch.listener.take())?;
    Ok(Started {
        _lock: lock,
        service,
        listener,
        socket,
        own_socket,
    })
}

/// The socket systemd passed, else one bound at the configured path; with where it is and
/// whether its file is ours to remove.
fn listen(
    config: &Config,
    passed: Option<std::os::unix::net::UnixListener>,
) -> Result<(UnixListener, PathBuf, bool)> {
    let Some(passed) = passed else {
        return Ok((bind_socket(&config.socket)?, config.socket.clone(), true));
    };
    let socket = passed
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_owned))
        .unwrap_or_else(|| config.socket.clone());
    tracing::info!(socket = %socket.display(), "serving the socket systemd passed");
    passed
        .set_nonblocking(true)
        .context("making the passed socket non-blocking")?;
    let listener = UnixListener::from_std(passed).context("adopting the passed socket")?;
    Ok((listener, socket, false))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the state directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting mode 0700 on {}", dir.display()))
}

/// Turns on the kernel's `favordynmods` cgroup option, as configured. A kernel without it
/// only makes cgroup moves slower, so a failure is logged, not fatal.
fn favor_dynmods() {
    use crate::runtime::cgroup::dynmods::{self, Outcome};
    match dynmods::favor_dynmods() {
        Ok(Outcome::Enabled(mount)) => {
            tracing::info!(mount = %mount.display(), "cgroup favordynmods turned on")
        }
        Ok(Outcome::AlreadyOn(mount)) => {
            tracing::info!(mount = %mount.display(), "cgroup favordynmods already on")
        }
        Err(e) => tracing::warn!(error = %e, "cgroup favordynmods not turned on; every \
            sandbox start and exec waits for the kernel's cgroup lock"),
    }
}

fn open_storage(config: &Config) -> Result<(Box<dyn Storage>, &'static str)> {
    match &config.storage {
        Some(StorageSpec::Btrfs(path)) => {
            let storage = BtrfsStorage::open(path).map_err(anyhow::Error::msg)?;
            Ok((Box::new(storage), "explicit"))
        }
        Some(StorageSpec::Zfs(dataset)) => {
            let storage = ZfsStorage::open(dataset).map_err(anyhow::Error::msg)?;
            Ok((Box::new(storage), "explicit"))
        }
        None => {
            let pool = pool::prepare(&config.state_dir, config.pool_size)?;
            let origin = match pool.origin {
                PoolOrigin::StateDir => "embedded-dir",
                PoolOrigin::LoopImage { .. } => "embedded-loop",
            };
            let storage = BtrfsStorage::open(&pool.mountpoint).map_err(anyhow::Error::msg)?;
            Ok((Box::new(storage), origin))
        }
    }
}

/// Binds the API socket with mode 0660, group `amika` when that group exists.
fn bind_socket(path: &Path) -> Result<UnixListener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the socket directory {}", parent.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another daemon is serving {}; stop it or pass a different --socket",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting mode 0660 on {}", path.display()))?;
    if let Ok(Some(group)) = nix::unistd::Group::from_name("amika") {
        chown(path, Some(0), Some(group.gid.as_raw()))
            .with_context(|| format!("giving {} to group amika", path.display()))?;
    }
    Ok(listener)
}

/// Resolves on SIGTERM or SIGINT, after telling systemd the daemon is stopping.
async fn shutdown_signal(notifier: Option<&Notifier>) {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the daemon with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    if let Some(notifier) = notifier {
        notifier.notify("STOPPING=1\nSTATUS=stopping: draining requests");
    }
}
