//! Watching init processes: one thread per running sandbox waits for its init to exit,
//! reaps it when it is our child, and reports the exit.
//!
//! A pidfd is the waiting primitive because it works the same for an init we started and for
//! one adopted from a previous daemon (which is not our child and cannot be waited for), and
//! because it names exactly one process, never a later one that reuses the pid.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How an init ended: its wait status when we could reap it, `None` when it was adopted
/// (another process reaps it) or already gone.
pub type ExitStatus = Option<i32>;

/// Called once when a watched init exits, with the sandbox id, the pid and how it ended.
pub type ExitHandler = Arc<dyn Fn(&str, i32, ExitStatus) + Send + Sync>;

#[derive(Default)]
struct Watch {
    exited: Mutex<Option<ExitStatus>>,
    changed: Condvar,
}

/// Keeps a watch per running sandbox.
pub struct Supervisor {
    watches: Mutex<HashMap<String, Arc<Watch>>>,
    on_exit: ExitHandler,
}

impl Supervisor {
    /// A supervisor that reports every exit to `on_exit`.
    pub fn new(on_exit: ExitHandler) -> Self {
        Self {
            watches: Mutex::new(HashMap::new()),
            on_exit,
        }
    }

    /// Starts watching `pid` as the init of `sandbox_id`. `own_child` says whether this daemon
    /// started it (and so must reap it).
    pub fn watch(&self, sandbox_id: &str, pid: i32, own_child: bool) {
        let watch = Arc::new(Watch::default());
        self.lock().insert(sandbox_id.to_owned(), watch.clone());
        let on_exit = self.on_exit.clone();
        let id = sandbox_id.to_owned();
        let spawned = std::thread::Builder::new()
            .name(format!("init-{pid}"))
            .spawn(move || {
                let status = wait_for_exit(pid, own_child);
                tracing::debug!(sandbox = %id, pid, ?status, "init exited");
                *watch.exited.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
                watch.changed.notify_all();
                on_exit(&id, pid, status);
            });
        if let Err(e) = spawned {
            tracing::error!(sandbox = sandbox_id, pid, error = %e, "cannot start a watcher");
        }
    }

    /// Waits up to `timeout` for the watched init of `sandbox_id` to exit. Returns true when it
    /// has exited (or was never watched).
    pub fn wait_exit(&self, sandbox_id: &str, timeout: Duration) -> bool {
        let Some(watch) = self.lock().get(sandbox_id).cloned() else {
            return true;
        };
        let guard = watch.exited.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = watch
            .changed
            .wait_timeout_while(guard, timeout, |exited| exited.is_none())
            .unwrap_or_else(|p| p.into_inner());
        guard.is_some()
    }

    /// Forgets a sandbox's watch once its exit has been handled.
    pub fn forget(&self, sandbox_id: &str) {
        self.lock().remove(sandbox_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Watch>>> {
        self.watches.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Blocks until `pid` exits; reaps it when it is our child.
fn wait_for_exit(pid: i32, own_child: bool) -> ExitStatus {
    match pidfd_open(pid) {
        Ok(fd) => poll_readable(&fd),
        Err(e) => tracing::debug!(pid, error = %e, "pidfd_open failed; process already gone"),
    }
    if !own_child {
        return None;
    }
    let mut status = 0;
    // SAFETY: waitpid writes the status into a local integer we own.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    (rc == pid).then_some(status)
}

fn pidfd_open(pid: i32) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

fn poll_readable(fd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, owned by this frame, for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, -1) };
        if rc >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}
