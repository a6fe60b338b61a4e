//! Start-up and shutdown, in a fixed order.
//!
//! Start: lock the state directory, open the pool, open the store, reconcile, bind the socket,
//! then announce readiness. Stop: on SIGTERM or SIGINT stop accepting, drain, close the store.
//! The embedded pool stays mounted on purpose, so that sandboxes outlive a daemon restart.

use std::os::unix::fs::{chown, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Flags, StorageSpec};
use crate::service::{DaemonInfo, Service};
use crate::state::Store;
use crate::storage::btrfs::BtrfsStorage;
use crate::storage::pool::{self, PoolOrigin};
use crate::storage::Storage;
use crate::{api, lock};

/// Runs the daemon until a shutdown signal.
pub async fn run(flags: Flags) -> Result<()> {
    let state_dir = &flags.state_dir;
    create_private_dir(state_dir)?;
    let _lock = lock::acquire(state_dir)?;

    let (storage, pool_origin) = open_storage(&flags)?;
    tracing::info!(backend = storage.backend(), pool = %storage.location(), "pool ready");

    let db = state_dir.join("amika.db");
    let store =
        Store::open(&db).with_context(|| format!("opening the state store {}", db.display()))?;
    let info = DaemonInfo {
        state_dir: state_dir.clone(),
        pool_origin,
    };
    let service = Service::new(store, storage, info);

    let service_for_reconcile = service.clone();
    let reconciled = tokio::task::spawn_blocking(move || service_for_reconcile.reconcile())
        .await?
        .context("reconciling the state store with the pool")?;
    tracing::info!(?reconciled, "reconciled state with the pool");

    let listener = bind_socket(&flags.socket)?;
    tracing::info!(socket = %flags.socket.display(), "amikad ready");

    api::serve(listener, service, shutdown_signal()).await;
    let _ = std::fs::remove_file(&flags.socket);
    tracing::info!("amikad stopped");
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the state directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting mode 0700 on {}", dir.display()))
}

fn open_storage(flags: &Flags) -> Result<(Box<dyn Storage>, &'static str)> {
    match &flags.storage {
        Some(StorageSpec::Btrfs(path)) => {
            let storage = BtrfsStorage::open(path).map_err(anyhow::Error::msg)?;
            Ok((Box::new(storage), "explicit"))
        }
        Some(StorageSpec::Zfs(dataset)) => bail!(
            "ZFS storage ({dataset}) is not supported by this amikad yet; use btrfs:PATH or \
             the embedded pool"
        ),
        None => {
            let pool = pool::prepare(&flags.state_dir, flags.pool_size)?;
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

async fn shutdown_signal() {
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
}
