//! Fixtures shared by the runtime's kernel tests: the built daemon binary, a busybox root
//! tree, a scratch cgroup, and readers for what `/proc` says about a process.
//!
//! These tests need root, a static `/bin/busybox` and a prior `cargo build --bins`; each
//! missing piece fails with a message that names it rather than skipping the test.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::unistd::Uid;
use tempfile::TempDir;

/// CAP_SYS_ADMIN's bit number in a capability mask.
pub const CAP_SYS_ADMIN: u32 = 21;

/// How long [`wait_for`] polls before it gives up.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Busybox applets linked into [`busybox_tree`]: the union of what the tests run.
const APPLETS: &[&str] = &[
    "sh", "cat", "env", "grep", "hostname", "id", "ip", "ls", "ps", "pwd", "sleep", "touch",
];

/// Fails the test unless it runs as root; `what` says why root is needed.
pub fn require_root(what: &str) {
    assert!(Uid::effective().is_root(), "{what}: run them as root");
}

/// `target/<profile>/amikad`, next to the `deps` directory holding this test binary: unit
/// tests cannot ask Cargo for the path of a binary.
pub fn amikad_binary() -> PathBuf {
    let test_exe = std::env::current_exe().expect("locate the test executable");
    let bin = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps")
        .join("amikad");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --bins` before these tests",
        bin.display()
    );
    bin
}

/// A minimal root filesystem: busybox, its applets and the usual top-level directories.
pub fn busybox_tree() -> TempDir {
    let tree = tempfile::tempdir().expect("create a temporary tree");
    // Temporary directories are private; commands run as other users must reach the tree.
    fs::set_permissions(tree.path(), fs::Permissions::from_mode(0o755))
        .expect("open up the tree root");
    for dir in ["bin", "etc", "proc", "dev", "sys", "tmp"] {
        fs::create_dir(tree.path().join(dir)).expect("create a tree directory");
    }
    fs::copy("/bin/busybox", tree.path().join("bin/busybox")).expect("copy /bin/busybox");
    for applet in APPLETS {
        symlink("busybox", tree.path().join("bin").join(applet)).expect("link an applet");
    }
    tree
}

/// Polls `probe` until it yields a value, panicking after [`TIMEOUT`].
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The fields of a `/proc/<pid>/stat` line after the command name, starting at field 3 (the
/// state). The name may hold spaces and parentheses, so the split is at the last `)`.
pub fn stat_fields(stat: &str) -> Vec<&str> {
    let (_, rest) = stat.rsplit_once(") ").expect("a /proc/<pid>/stat line");
    rest.split(' ').collect()
}

/// The state letter of process `pid` (`Z` for a zombie), or `None` once it is reaped.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&stat).first()?.chars().next()
}

/// A capability mask from a `Cap...:` line of a `/proc/<pid>/status` text.
pub fn cap_mask(status: &str, field: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{field} missing from {status}"));
    u64::from_str_radix(hex.trim(), 16).expect("a hex capability mask")
}

/// A scratch cgroup made by hand, removed (once empty) on drop.
///
/// It sits in the unified hierarchy where the host has one, else in the v1 pids hierarchy, so
/// tests of code that only joins cgroups do not depend on the cgroup module.
pub struct TestCgroup {
    /// The cgroup's directory.
    pub path: PathBuf,
    /// The directory's name, unique to this test process.
    pub name: String,
    /// The controller field of this hierarchy's lines in `/proc/<pid>/cgroup`.
    pub controllers: &'static str,
}

impl TestCgroup {
    /// Creates a cgroup whose name starts with `amika-<tag>-test-`.
    pub fn create(tag: &str) -> TestCgroup {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("amika-{tag}-test-{}-{seq}", std::process::id());
        let (base, controllers) = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            ("/sys/fs/cgroup", "")
        } else {
            ("/sys/fs/cgroup/pids", "pids")
        };
        let path = Path::new(base).join(&name);
        fs::create_dir(&path).expect("create a test cgroup");
        TestCgroup {
            path,
            name,
            controllers,
        }
    }

    /// Creates a cgroup on the cgroup2 mount, which a host with cgroup v1 controllers has
    /// beside them (at `/sys/fs/cgroup/unified`), whose name starts with `amika-<tag>-test-`.
    pub fn create_v2(tag: &str) -> TestCgroup {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("amika-{tag}-v2-test-{}-{seq}", std::process::id());
        let base = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .into_iter()
            .find(|base| Path::new(base).join("cgroup.subtree_control").exists())
            .expect("no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified");
        let path = Path::new(base).join(&name);
        fs::create_dir(&path).expect("create a test cgroup");
        TestCgroup {
            path,
            name,
            controllers: "",
        }
    }

    /// The `cgroup.procs` file that moves a process in.
    pub fn procs(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }
}

/// The cgroup v2 path of process `pid`: its `0::` line in `/proc/<pid>/cgroup`, if any.
pub fn v2_cgroup_of(pid: i32) -> Option<String> {
    let view = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    view.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::to_owned)
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // The kernel lets go of a cgroup a moment after its last process is reaped.
        wait_for("the test cgroup to empty", || {
            fs::remove_dir(&self.path).ok()
        });
    }
}
