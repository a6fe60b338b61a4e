//! Per-sandbox control groups, on cgroup v2 where the host has it and cgroup v1 otherwise.
//!
//! A sandbox's cgroup is `amika/<name>` directly under the mount point of every hierarchy it
//! uses: the one cgroup2 mount on v2; the `memory`, `cpu`, `pids` and `freezer` hierarchies on
//! v1, found in `/proc/self/mountinfo` wherever they are mounted.
//!
//! The hierarchy root is used rather than a sibling of the daemon's own cgroup because the
//! path then does not depend on how amikad was started (systemd unit, shell, managed slice),
//! so a restarted daemon finds the cgroups of the sandboxes it adopts; and on v2 the root is
//! exempt from the rule that a cgroup holding processes cannot hand controllers to its
//! children. For a root daemon the root is writable whenever the daemon's own subtree is (only
//! a read-only mount stops root), so a fallback location would not help; the error names the
//! mount to fix instead.
//!
//! Limits: memory (v1 also caps memory+swap at the same value and v2 sets `memory.swap.max`
//! to 0, so swapping cannot dodge the limit), CPU as a CFS quota over a 100 ms period, and
//! `pids.max`. An unset limit writes the "unlimited" value, so applying limits again lifts
//! the ones that were dropped. The OOM killer stays enabled on purpose: it kills one process
//! in the sandbox, not the whole sandbox.
//!
//! Everything here blocks (freezing polls for up to 2 s); async callers use a blocking thread.
//!
//! The kernel tests at the end run against the host's real hierarchy and need root. On a
//! v1-only host (a cgroup2 mount without controllers) they exercise the v1 files only; the v2
//! file handling then runs only on v2 hosts, and only its pure parts (mount choice,
//! `cpu.max`, `cgroup.events`) are unit-tested everywhere.
//!
//! Known shortcomings: [`Cgroup::kill_all`] signals the processes it read in one pass, so a
//! process forked meanwhile survives that pass and callers repeat until [`Cgroup::pids`] is
//! empty. On v1 the other hierarchies (cpuset, devices, blkio, ...) are left alone, so
//! sandbox processes stay in the daemon's cgroups there. The shared `amika` parent
//! directories are never removed.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use amika_api::Limits;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
use nix::unistd::Pid;
use tracing::{debug, warn};

/// Directory under each hierarchy's mount point that holds every sandbox cgroup.
const BASE: &str = "amika";
const MOUNTINFO: &str = "/proc/self/mountinfo";
/// Where a pure cgroup v2 host mounts its single hierarchy.
const UNIFIED_DEFAULT: &str = "/sys/fs/cgroup";
const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "pids", "freezer"];
const V2_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];
const CPU_PERIOD_US: u64 = 100_000;
/// The kernel refuses CFS quotas below 1 ms.
const MIN_QUOTA_US: u64 = 1_000;
const FREEZE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to retry removing a cgroup the kernel still holds after its last process exited.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(1);
const POLL_INTERVAL: Duration = Duration::from_millis(10);

type Result<T> = std::result::Result<T, CgroupError>;

/// The cgroup interface the host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// One hierarchy per controller.
    V1,
    /// The unified hierarchy.
    V2,
}

/// A failure to set up, inspect or tear down a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A control file or `/proc/self/mountinfo` could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A control file rejected a value.
    #[error("cannot write {value:?} to {}: {source}{hint}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The underlying error.
        source: io::Error,
        /// How to fix it, when known (empty or starting with "; ").
        hint: &'static str,
    },
    /// A cgroup directory could not be created or removed.
    #[error("cannot {action} cgroup {}: {source}{hint}", .path.display())]
    Dir {
        /// "create" or "remove".
        action: &'static str,
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
        /// How to fix it, when known.
        hint: &'static str,
    },
    /// A control file held something other than what the kernel documents.
    #[error("unexpected content {content:?} in {}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The offending text.
        content: String,
    },
    /// Neither a usable cgroup2 mount nor the needed v1 hierarchies exist.
    #[error("no usable cgroup hierarchy: {reason}")]
    Unsupported {
        /// What is missing and how to provide it.
        reason: String,
    },
    /// A cgroup2 directory does not offer a controller amika needs.
    #[error(
        "{} does not offer the {controller} controller; it is bound to a cgroup v1 hierarchy \
         or not delegated here: boot with systemd.unified_cgroup_hierarchy=1 and no v1 \
         controller mounts",
        .path.display()
    )]
    MissingController {
        /// The cgroup directory.
        path: PathBuf,
        /// The controller.
        controller: &'static str,
    },
    /// Freezing did not complete in time; the cgroup was thawed again.
    #[error(
        "{} did not report frozen within {FREEZE_TIMEOUT:?}; a process in uninterruptible \
         sleep (state D) can hold up freezing, retry once its I/O completes",
        .path.display()
    )]
    FreezeTimeout {
        /// The file that was polled.
        path: PathBuf,
    },
    /// A process in the cgroup could not be signalled.
    #[error("cannot send {signal} to process {pid} in cgroup {name}: {source}")]
    Signal {
        /// The cgroup's name.
        name: String,
        /// The process.
        pid: i32,
        /// The signal.
        signal: Signal,
        /// The underlying error.
        source: Errno,
    },
    /// The name cannot be used as one directory.
    #[error("invalid cgroup name {name:?}: it must be one path component, not . or ..")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// The CPU limit is not a positive number of cores.
    #[error("invalid CPU limit {cpus} for cgroup {name}: give a positive number of cores")]
    InvalidCpus {
        /// The cgroup's name.
        name: String,
        /// The rejected value.
        cpus: f64,
    },
}

/// A sandbox's cgroup: its directory in every hierarchy it uses.
#[derive(Debug, Clone)]
pub struct Cgroup {
    name: String,
    tree: Tree,
}

/// The directories of one cgroup, or of the hierarchy roots before a path is joined.
#[derive(Debug, Clone)]
enum Tree {
    V1(V1Dirs),
    V2(PathBuf),
}

/// One directory per v1 controller; several are equal when controllers share a hierarchy.
#[derive(Debug, Clone)]
struct V1Dirs {
    memory: PathBuf,
    cpu: PathBuf,
    pids: PathBuf,
    freezer: PathBuf,
}

/// One line of `/proc/self/mountinfo`, reduced to what discovery needs.
#[derive(Debug)]
struct Mount {
    fstype: String,
    point: PathBuf,
    super_options: Vec<String>,
}

/// Reports which cgroup interface sandboxes get on this host.
pub fn detect() -> Result<Version> {
    discover().map(|roots| roots.version())
}

/// Moves the calling process into every given `cgroup.procs` file.
///
/// Meant for a forked child before it execs (pass [`Cgroup::procs_files`] collected before
/// the fork): it only opens, writes and closes, and converts paths under 1024 bytes on the
/// stack, so it neither allocates nor takes locks. For the same reason it logs nothing.
pub fn enter(procs_files: &[PathBuf]) -> nix::Result<()> {
    for file in procs_files {
        let raw = nix::fcntl::open(
            file.as_path(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // SAFETY: `open` just returned this descriptor and nothing else holds it, so the
        // `OwnedFd` is its only owner and closes it exactly once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        nix::unistd::write(&fd, b"0")?;
    }
    Ok(())
}

impl Cgroup {
    /// Creates the cgroup `name` (or reuses it if it exists) and applies `limits` to it.
    pub fn create(name: &str, limits: &Limits) -> Result<Cgroup> {
        check_name(name)?;
        let quota = cpu_quota(name, limits.cpus)?;
        let roots = discover()?;
        prepare_roots(&roots)?;
        let cgroup = Cgroup::at(name, &roots);
        cgroup.dirs().iter().try_for_each(|dir| make_dir(dir))?;
        cgroup.apply(limits, quota)?;
        debug!(name, version = ?cgroup.version(), ?limits, "cgroup ready");
        Ok(cgroup)
    }

    /// Finds the cgroup `name` left by an earlier run, if any of its directories exists.
    pub fn open(name: &str) -> Result<Option<Cgroup>> {
        check_name(name)?;
        let cgroup = Cgroup::at(name, &discover()?);
        Ok(cgroup
            .dirs()
            .iter()
            .any(|dir| dir.is_dir())
            .then_some(cgroup))
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this cgroup lives in v1 hierarchies or the unified one.
    pub fn version(&self) -> Version {
        self.tree.version()
    }

    /// Every directory of this cgroup, once each.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.tree.dirs()
    }

    /// Every `cgroup.procs` file a new process must be written into to be fully inside.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs()
            .iter()
            .map(|dir| dir.join("cgroup.procs"))
            .collect()
    }

    /// Moves the running process `pid` (and, on v1, all its threads) into this cgroup.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        let value = pid.to_string();
        self.procs_files()
            .iter()
            .try_for_each(|file| write_file(file, &value))
    }

    /// The processes in this cgroup and its child cgroups, sorted.
    ///
    /// A directory that does not exist contributes none.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        collect_pids(self.tree.pids_dir(), &mut pids)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Freezes every process and waits until the kernel reports the cgroup frozen.
    ///
    /// If that takes longer than two seconds the cgroup is thawed again and an error returned,
    /// so a failed freeze never leaves the sandbox half stopped.
    pub fn freeze(&self) -> Result<()> {
        let (file, value) = self.tree.freeze_control(true);
        write_file(&file, value)?;
        let waited = self.wait_frozen();
        if waited.is_err() {
            if let Err(err) = self.thaw() {
                warn!(name = %self.name, error = %err, "thawing after a failed freeze");
            }
        }
        waited
    }

    /// Lets frozen processes run again.
    pub fn thaw(&self) -> Result<()> {
        let (file, value) = self.tree.freeze_control(false);
        write_file(&file, value)
    }

    /// Sends `signal` to every process in the cgroup; returns how many received it.
    ///
    /// With `SIGKILL` the cgroup is thawed afterwards, because frozen v1 processes only die
    /// once they run again; other signals reach a frozen cgroup when it is thawed.
    pub fn kill_all(&self, signal: Signal) -> Result<usize> {
        let pids = self.pids()?;
        let mut sent = 0;
        for &pid in &pids {
            sent += usize::from(self.signal(pid, signal)?);
        }
        if signal == Signal::SIGKILL && !pids.is_empty() {
            self.thaw()?;
        }
        debug!(name = %self.name, %signal, sent, "signalled cgroup");
        Ok(sent)
    }

    /// Removes the cgroup's directories, child cgroups first; a missing directory is fine.
    ///
    /// Only an empty cgroup can go. The kernel lets go of a cgroup a moment after its last
    /// process exits, so a busy directory is retried for up to a second.
    pub fn remove(&self) -> Result<()> {
        self.dirs().iter().try_for_each(|dir| remove_tree(dir))?;
        debug!(name = %self.name, "cgroup removed");
        Ok(())
    }

    /// Memory in use by the cgroup, in bytes, or `None` when it cannot be read.
    pub fn memory_current(&self) -> Option<u64> {
        let file = match &self.tree {
            Tree::V1(dirs) => dirs.memory.join("memory.usage_in_bytes"),
            Tree::V2(dir) => dir.join("memory.current"),
        };
        fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    fn at(name: &str, roots: &Tree) -> Cgroup {
        let relative = Path::new(BASE).join(name);
        Cgroup {
            name: name.to_owned(),
            tree: roots.join(&relative),
        }
    }

    fn apply(&self, limits: &Limits, quota: Option<u64>) -> Result<()> {
        match &self.tree {
            Tree::V1(dirs) => apply_v1(dirs, limits, quota),
            Tree::V2(dir) => apply_v2(dir, limits, quota),
        }
    }

    fn wait_frozen(&self) -> Result<()> {
        let (file, frozen): (PathBuf, fn(&str) -> bool) = match &self.tree {
            Tree::V1(dirs) => (dirs.freezer.join("freezer.state"), |s| s.trim() == "FROZEN"),
            Tree::V2(dir) => (dir.join("cgroup.events"), events_frozen),
        };
        let deadline = Instant::now() + FREEZE_TIMEOUT;
        while !frozen(&read_file(&file)?) {
            if Instant::now() >= deadline {
                return Err(CgroupError::FreezeTimeout { path: file });
            }
            thread::sleep(POLL_INTERVAL);
        }
        Ok(())
    }

    /// Sends one signal; `false` when the process is already gone.
    fn signal(&self, pid: i32, signal: Signal) -> Result<bool> {
        match kill(Pid::from_raw(pid), signal) {
            Ok(()) => Ok(true),
            Err(Errno::ESRCH) => Ok(false),
            Err(source) => Err(CgroupError::Signal {
                name: self.name.clone(),
                pid,
                signal,
                source,
            }),
        }
    }
}

impl Tree {
    fn version(&self) -> Version {
        match self {
            Tree::V1(_) => Version::V1,
            Tree::V2(_) => Version::V2,
        }
    }

    fn join(&self, relative: &Path) -> Tree {
        match self {
            Tree::V1(dirs) => Tree::V1(V1Dirs {
                memory: dirs.memory.join(relative),
                cpu: dirs.cpu.join(relative),
                pids: dirs.pids.join(relative),
                freezer: dirs.freezer.join(relative),
            }),
            Tree::V2(dir) => Tree::V2(dir.join(relative)),
        }
    }

    fn dirs(&self) -> Vec<PathBuf> {
        let dirs = match self {
            Tree::V1(d) => vec![&d.memory, &d.cpu, &d.pids, &d.freezer],
            Tree::V2(dir) => vec![dir],
        };
        let mut unique: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            if !unique.contains(dir) {
                unique.push(dir.clone());
            }
        }
        unique
    }

    fn pids_dir(&self) -> &Path {
        match self {
            Tree::V1(dirs) => &dirs.pids,
            Tree::V2(dir) => dir,
        }
    }

    /// The file that freezes or thaws the cgroup, and the value that does it.
    fn freeze_control(&self, frozen: bool) -> (PathBuf, &'static str) {
        match self {
            Tree::V1(dirs) => {
                let value = if frozen { "FROZEN" } else { "THAWED" };
                (dirs.freezer.join("freezer.state"), value)
            }
            Tree::V2(dir) => (dir.join("cgroup.freeze"), if frozen { "1" } else { "0" }),
        }
    }
}

/// Finds the hierarchy roots: a cgroup2 mount with every controller, else the v1 mounts.
fn discover() -> Result<Tree> {
    let text = read_file(Path::new(MOUNTINFO))?;
    let mounts = parse_mountinfo(&text);
    if let Some(root) = unified_root(&mounts) {
        return Ok(Tree::V2(root));
    }
    v1_roots(&mounts).map_err(|missing| CgroupError::Unsupported {
        reason: format!(
            "no cgroup2 mount offers {} and the cgroup v1 hierarchies for {missing} are not \
             mounted; boot with systemd.unified_cgroup_hierarchy=1, or mount each missing v1 \
             controller, e.g. `mount -t cgroup -o pids cgroup /sys/fs/cgroup/pids`",
            V2_CONTROLLERS.join(", ")
        ),
    })
}

/// A cgroup2 mount that offers every controller, else `/sys/fs/cgroup` if it is cgroup2.
fn unified_root(mounts: &[Mount]) -> Option<PathBuf> {
    let complete = mounts
        .iter()
        .filter(|mount| mount.fstype == "cgroup2")
        .find(|mount| offers_v2_controllers(&mount.point));
    if let Some(mount) = complete {
        return Some(mount.point.clone());
    }
    let default = Path::new(UNIFIED_DEFAULT);
    let is_unified = statfs(default).is_ok_and(|fs| fs.filesystem_type() == CGROUP2_SUPER_MAGIC);
    is_unified.then(|| default.to_owned())
}

fn offers_v2_controllers(dir: &Path) -> bool {
    let Ok(text) = fs::read_to_string(dir.join("cgroup.controllers")) else {
        return false;
    };
    V2_CONTROLLERS.iter().all(|c| has_word(&text, c))
}

/// The v1 mount of every needed controller, or the names of the missing ones.
fn v1_roots(mounts: &[Mount]) -> std::result::Result<Tree, String> {
    let found = V1_CONTROLLERS.map(|controller| v1_mount(mounts, controller));
    if let [Some(memory), Some(cpu), Some(pids), Some(freezer)] = found.clone() {
        return Ok(Tree::V1(V1Dirs {
            memory,
            cpu,
            pids,
            freezer,
        }));
    }
    let missing: Vec<&str> = V1_CONTROLLERS
        .iter()
        .zip(&found)
        .filter(|(_, mount)| mount.is_none())
        .map(|(controller, _)| *controller)
        .collect();
    Err(missing.join(", "))
}

fn v1_mount(mounts: &[Mount], controller: &str) -> Option<PathBuf> {
    mounts
        .iter()
        .filter(|mount| mount.fstype == "cgroup")
        .find(|mount| mount.super_options.iter().any(|o| o == controller))
        .map(|mount| mount.point.clone())
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_mount_line).collect()
}

/// Fields: id, parent, dev, root, mount point, options, optional fields, "-", fstype,
/// source, super options.
fn parse_mount_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let point = left.split(' ').nth(4)?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let super_options = right.nth(1)?;
    Some(Mount {
        fstype: fstype.to_owned(),
        point: unescape(point),
        super_options: super_options.split(',').map(str::to_owned).collect(),
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 4).and_then(octal)) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

fn octal(digits: &[u8]) -> Option<u8> {
    let value = digits.iter().try_fold(0u32, |acc, d| {
        (b'0'..=b'7')
            .contains(d)
            .then(|| acc * 8 + u32::from(d - b'0'))
    })?;
    u8::try_from(value).ok()
}

/// Makes the shared `amika` directories; on v2 also hands the controllers down to them.
fn prepare_roots(roots: &Tree) -> Result<()> {
    match roots {
        Tree::V1(_) => roots
            .join(Path::new(BASE))
            .dirs()
            .iter()
            .try_for_each(|d| make_dir(d)),
        Tree::V2(root) => {
            let base = root.join(BASE);
            enable_controllers(root)?;
            make_dir(&base)?;
            enable_controllers(&base)
        }
    }
}

/// Enables the controllers amika needs for the children of `dir`, writing only missing ones.
fn enable_controllers(dir: &Path) -> Result<()> {
    let available = read_file(&dir.join("cgroup.controllers"))?;
    if let Some(&controller) = V2_CONTROLLERS.iter().find(|c| !has_word(&available, c)) {
        let path = dir.to_owned();
        return Err(CgroupError::MissingController { path, controller });
    }
    let control = dir.join("cgroup.subtree_control");
    let enabled = read_file(&control)?;
    let wanted: Vec<String> = V2_CONTROLLERS
        .iter()
        .filter(|c| !has_word(&enabled, c))
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    write_file(&control, &wanted.join(" "))
}

fn apply_v2(dir: &Path, limits: &Limits, quota: Option<u64>) -> Result<()> {
    write_file(&dir.join("memory.max"), &max_or(limits.memory_bytes))?;
    let swap = dir.join("memory.swap.max");
    if swap.exists() {
        let value = if limits.memory_bytes.is_some() {
            "0"
        } else {
            "max"
        };
        write_file(&swap, value)?;
    }
    write_file(&dir.join("cpu.max"), &cpu_max(quota))?;
    write_file(&dir.join("pids.max"), &max_or(limits.pids))
}

fn apply_v1(dirs: &V1Dirs, limits: &Limits, quota: Option<u64>) -> Result<()> {
    apply_v1_memory(&dirs.memory, limits.memory_bytes)?;
    write_file(
        &dirs.cpu.join("cpu.cfs_period_us"),
        &CPU_PERIOD_US.to_string(),
    )?;
    let quota = quota.map_or_else(|| "-1".to_owned(), |q| q.to_string());
    write_file(&dirs.cpu.join("cpu.cfs_quota_us"), &quota)?;
    write_file(&dirs.pids.join("pids.max"), &max_or(limits.pids))
}

/// Sets the memory limit and, where swap accounting exists, memory+swap to the same value.
///
/// The kernel keeps memory+swap at or above memory alone, so the larger of the two moves first.
fn apply_v1_memory(dir: &Path, limit: Option<u64>) -> Result<()> {
    let memory = dir.join("memory.limit_in_bytes");
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    let value = limit.map_or_else(|| "-1".to_owned(), |bytes| bytes.to_string());
    if !memsw.exists() {
        return write_file(&memory, &value);
    }
    let current = read_u64(&memory)?;
    let raising = !matches!(limit, Some(bytes) if bytes < current);
    let order = if raising {
        [&memsw, &memory]
    } else {
        [&memory, &memsw]
    };
    order.iter().try_for_each(|file| write_file(file, &value))
}

/// The CFS quota for `cpus` cores over one period, or `None` for no limit.
fn cpu_quota(name: &str, cpus: Option<f64>) -> Result<Option<u64>> {
    let Some(cpus) = cpus else {
        return Ok(None);
    };
    if !cpus.is_finite() || cpus <= 0.0 {
        let name = name.to_owned();
        return Err(CgroupError::InvalidCpus { name, cpus });
    }
    // Saturating float-to-int conversion is the wanted behaviour for absurdly large values.
    let quota = (cpus * CPU_PERIOD_US as f64).round() as u64;
    Ok(Some(quota.max(MIN_QUOTA_US)))
}

/// The `cpu.max` line: quota (or `max`) and period, in microseconds.
fn cpu_max(quota: Option<u64>) -> String {
    format!("{} {CPU_PERIOD_US}", max_or(quota))
}

fn max_or(value: Option<u64>) -> String {
    value.map_or_else(|| "max".to_owned(), |v| v.to_string())
}

/// Whether a `cgroup.events` text says the cgroup is frozen.
fn events_frozen(text: &str) -> bool {
    text.lines()
        .any(|line| line.split_whitespace().eq(["frozen", "1"]))
}

fn has_word(text: &str, word: &str) -> bool {
    text.split_whitespace().any(|w| w == word)
}

fn check_name(name: &str) -> Result<()> {
    let bad = name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']);
    if bad {
        return Err(CgroupError::InvalidName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let file = dir.join("cgroup.procs");
    let text = match fs::read_to_string(&file) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(CgroupError::Read { path: file, source }),
    };
    out.extend(parse_pids(&file, &text)?);
    child_dirs(dir)?
        .iter()
        .try_for_each(|child| collect_pids(child, out))
}

/// Parses `cgroup.procs`; 0 stands for a process outside our pid namespace and is skipped.
fn parse_pids(file: &Path, text: &str) -> Result<Vec<i32>> {
    let mut pids = Vec::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let pid: i32 = line.parse().map_err(|_| CgroupError::Parse {
            path: file.to_owned(),
            content: line.to_owned(),
        })?;
        if pid > 0 {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// The child cgroups of `dir`; none when `dir` has gone.
fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let read_error = |source| CgroupError::Read {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(read_error(err)),
    };
    let mut children = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_error)?;
        if entry.file_type().map_err(read_error)?.is_dir() {
            children.push(entry.path());
        }
    }
    Ok(children)
}

fn remove_tree(dir: &Path) -> Result<()> {
    child_dirs(dir)?
        .iter()
        .try_for_each(|child| remove_tree(child))?;
    debug!(path = %dir.display(), "removing cgroup directory");
    let deadline = Instant::now() + REMOVE_TIMEOUT;
    loop {
        let err = match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => err,
        };
        if err.raw_os_error() != Some(libc::EBUSY) || Instant::now() >= deadline {
            return Err(dir_error("remove", dir, err));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

fn make_dir(dir: &Path) -> Result<()> {
    debug!(path = %dir.display(), "creating cgroup directory");
    match fs::create_dir(dir) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => {
            Err(dir_error("create", dir, err))
        }
        _ => Ok(()),
    }
}

fn dir_error(action: &'static str, dir: &Path, source: io::Error) -> CgroupError {
    let hint = hint(&source);
    let path = dir.to_owned();
    CgroupError::Dir {
        action,
        path,
        source,
        hint,
    }
}

fn read_file(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_u64(path: &Path) -> Result<u64> {
    let text = read_file(path)?;
    text.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.to_owned(),
        content: text.trim().to_owned(),
    })
}

/// Writes `value` in one `write` call, as control files expect; never creates the file.
fn write_file(path: &Path, value: &str) -> Result<()> {
    debug!(path = %path.display(), value, "writing cgroup file");
    let written = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut file| file.write_all(value.as_bytes()));
    written.map_err(|source| CgroupError::Write {
        path: path.to_owned(),
        value: value.to_owned(),
        hint: hint(&source),
        source,
    })
}

/// The likely fix for an error from a cgroup file or directory.
fn hint(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::EROFS) => {
            "; the cgroup filesystem is mounted read-only: mount it read-write (under systemd, \
             remove ProtectControlGroups= from the unit)"
        }
        Some(libc::EACCES | libc::EPERM) => "; amikad must run as root with CAP_SYS_ADMIN",
        Some(libc::EBUSY) => {
            "; the cgroup is busy: it still has processes, or the limit is below current use"
        }
        Some(libc::ENOENT) => "; it does not exist: the cgroup is gone or lacks that controller",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Child, Command, Stdio};

    const MIB: u64 = 1024 * 1024;

    /// Kills and removes its cgroup however the test ends.
    struct Scratch(Cgroup);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = self.0.kill_all(Signal::SIGKILL);
            let _ = self.0.remove();
        }
    }

    fn limits(memory_bytes: Option<u64>, cpus: Option<f64>, pids: Option<u64>) -> Limits {
        Limits {
            memory_bytes,
            cpus,
            pids,
        }
    }

    fn scratch(tag: &str, limits: &Limits) -> Scratch {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the cgroup tests create real cgroups: run them as root"
        );
        let name = format!("test-{}-{tag}", std::process::id());
        Scratch(Cgroup::create(&name, limits).expect("creating the test cgroup"))
    }

    /// Starts `sh -c script` already inside `cgroup`, the way the daemon starts sandbox inits.
    fn spawn_inside(cgroup: &Cgroup, script: &str) -> Child {
        let files = cgroup.procs_files();
        let mut command = Command::new("sh");
        command
            .args(["-c", script])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: the closure only calls `enter`, which opens, writes and closes files
        // without allocating or locking, so it is sound between fork and exec.
        unsafe {
            command.pre_exec(move || enter(&files).map_err(io::Error::from));
        }
        command.spawn().expect("spawning sh")
    }

    fn read(dir: &Path, file: &str) -> String {
        fs::read_to_string(dir.join(file))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// User plus system CPU time of `pid`, in clock ticks.
    fn cpu_ticks(pid: u32) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    fn assert_limits(cgroup: &Cgroup, memory: u64, quota: &str, pids: &str) {
        match &cgroup.tree {
            Tree::V1(dirs) => {
                assert_eq!(
                    read(&dirs.memory, "memory.limit_in_bytes"),
                    memory.to_string()
                );
                let memsw = dirs.memory.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    assert_eq!(
                        read(&dirs.memory, "memory.memsw.limit_in_bytes"),
                        memory.to_string()
                    );
                }
                assert_eq!(read(&dirs.cpu, "cpu.cfs_period_us"), "100000");
                assert_eq!(read(&dirs.cpu, "cpu.cfs_quota_us"), quota);
                assert_eq!(read(&dirs.pids, "pids.max"), pids);
            }
            Tree::V2(dir) => {
                assert_eq!(read(dir, "memory.max"), memory.to_string());
                assert_eq!(read(dir, "cpu.max"), format!("{quota} 100000"));
                assert_eq!(read(dir, "pids.max"), pids);
            }
        }
    }

    #[test]
    fn create_writes_limits_and_open_adopts_the_cgroup() {
        let scratch = scratch("limits", &limits(Some(64 * MIB), Some(0.5), Some(16)));
        let cgroup = &scratch.0;
        assert_eq!(cgroup.version(), detect().unwrap());
        assert_limits(cgroup, 64 * MIB, "50000", "16");

        let again = Cgroup::create(cgroup.name(), &limits(Some(128 * MIB), Some(2.0), None));
        assert_limits(&again.unwrap(), 128 * MIB, "200000", "max");

        let adopted = Cgroup::open(cgroup.name())
            .unwrap()
            .expect("open finds the cgroup");
        assert_eq!(adopted.dirs(), cgroup.dirs());

        cgroup.remove().unwrap();
        assert!(cgroup.dirs().iter().all(|dir| !dir.exists()));
        assert!(Cgroup::open(cgroup.name()).unwrap().is_none());
        cgroup.remove().expect("removing twice is fine");
    }

    #[test]
    fn spawned_process_joins_freezes_thaws_and_dies_with_its_cgroup() {
        let scratch = scratch("lifecycle", &limits(Some(64 * MIB), Some(0.5), Some(16)));
        let cgroup = &scratch.0;
        let mut child = spawn_inside(cgroup, "while :; do :; done");
        let pid = child.id();
        assert_eq!(cgroup.pids().unwrap(), vec![pid as i32]);
        assert!(cgroup.memory_current().is_some());

        cgroup.freeze().unwrap();
        if let Tree::V1(dirs) = &cgroup.tree {
            assert_eq!(read(&dirs.freezer, "freezer.state"), "FROZEN");
        }
        let frozen_at = cpu_ticks(pid);
        thread::sleep(Duration::from_millis(300));
        assert_eq!(cpu_ticks(pid), frozen_at, "a frozen process must not run");

        cgroup.thaw().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while cpu_ticks(pid) == frozen_at {
            assert!(Instant::now() < deadline, "the thawed process never ran");
            thread::sleep(Duration::from_millis(50));
        }

        // Killing while frozen checks that a frozen v1 process still dies.
        cgroup.freeze().unwrap();
        assert_eq!(cgroup.kill_all(Signal::SIGKILL).unwrap(), 1);
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert!(cgroup.pids().unwrap().is_empty());
        cgroup.remove().unwrap();
        assert!(cgroup.dirs().iter().all(|dir| !dir.exists()));
    }

    #[test]
    fn add_process_moves_a_running_process_in() {
        let scratch = scratch("adopt", &limits(None, None, None));
        let cgroup = &scratch.0;
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        cgroup.add_process(child.id() as i32).unwrap();
        assert_eq!(cgroup.pids().unwrap(), vec![child.id() as i32]);
        assert_eq!(cgroup.kill_all(Signal::SIGTERM).unwrap(), 1);
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
    }

    #[test]
    fn pids_limit_stops_the_fifth_process() {
        let scratch = scratch("pids", &limits(None, None, Some(4)));
        let cgroup = &scratch.0;
        let script = "for i in 1 2 3 4 5 6; do sleep 5 & done; wait";
        let child = spawn_inside(cgroup, script);
        let mut most = 0;
        for _ in 0..20 {
            most = most.max(cgroup.pids().unwrap().len());
            thread::sleep(Duration::from_millis(10));
        }
        cgroup.kill_all(Signal::SIGKILL).unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
        assert!(most <= 4, "{most} processes ran under a limit of 4");
        assert!(
            stderr.contains("fork") || stderr.contains("resource"),
            "the shell did not report a failed fork: {stderr:?}"
        );
    }

    #[test]
    fn mountinfo_lines_are_parsed_and_unescaped() {
        let text = "\
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
50 23 0:40 / /mnt/my\\040dir rw - tmpfs none rw
garbage";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(mounts[0].super_options, ["rw", "memory"]);
        assert_eq!(mounts[1].fstype, "cgroup2");
        assert_eq!(mounts[2].point, Path::new("/mnt/my dir"));
    }

    #[test]
    fn v1_discovery_shares_combined_hierarchies_and_names_missing_ones() {
        let text = "\
1 0 0:1 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
2 0 0:2 / /cg/memory rw - cgroup cgroup rw,memory
3 0 0:3 / /cg/pids rw - cgroup cgroup rw,pids
4 0 0:4 / /cg/unified rw - cgroup2 cgroup2 rw";
        let mounts = parse_mountinfo(text);
        assert_eq!(v1_roots(&mounts).unwrap_err(), "freezer");

        let freezer = "5 0 0:5 / /cg/freezer rw - cgroup cgroup rw,freezer";
        let mounts = parse_mountinfo(&format!("{text}\n{freezer}"));
        let roots = v1_roots(&mounts).unwrap();
        let cgroup = Cgroup::at("box", &roots);
        assert_eq!(cgroup.dirs()[1], Path::new("/cg/cpu,cpuacct/amika/box"));
        assert_eq!(cgroup.procs_files().len(), 4);
    }

    #[test]
    fn v2_cgroup_has_one_directory() {
        let cgroup = Cgroup::at("box", &Tree::V2(PathBuf::from("/cg")));
        assert_eq!(
            cgroup.procs_files(),
            [Path::new("/cg/amika/box/cgroup.procs")]
        );
        let (file, value) = cgroup.tree.freeze_control(true);
        assert_eq!(
            (file.as_path(), value),
            (Path::new("/cg/amika/box/cgroup.freeze"), "1")
        );
    }

    #[test]
    fn cpu_limits_become_quotas() {
        assert_eq!(cpu_quota("box", Some(0.5)).unwrap(), Some(50_000));
        assert_eq!(cpu_quota("box", Some(1.5)).unwrap(), Some(150_000));
        assert_eq!(cpu_quota("box", Some(0.0001)).unwrap(), Some(MIN_QUOTA_US));
        assert_eq!(cpu_quota("box", None).unwrap(), None);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                cpu_quota("box", Some(bad)),
                Err(CgroupError::InvalidCpus { .. })
            ));
        }
        assert_eq!(cpu_max(Some(50_000)), "50000 100000");
        assert_eq!(cpu_max(None), "max 100000");
    }

    #[test]
    fn cgroup_events_report_frozen() {
        assert!(events_frozen("populated 1\nfrozen 1\n"));
        assert!(!events_frozen("populated 1\nfrozen 0\n"));
        assert!(!events_frozen("populated 0\n"));
    }

    #[test]
    fn names_must_be_one_path_component() {
        for bad in ["", ".", "..", "a/b", "/abs"] {
            assert!(
                matches!(check_name(bad), Err(CgroupError::InvalidName { .. })),
                "{bad}"
            );
        }
        check_name("red-paris").unwrap();
    }

    #[test]
    fn errors_name_the_file_and_the_fix() {
        let missing = Path::new("/nonexistent-amika/box/pids.max");
        let message = write_file(missing, "4").unwrap_err().to_string();
        assert!(
            message.contains("/nonexistent-amika/box/pids.max"),
            "{message}"
        );
        assert!(message.contains("does not exist"), "{message}");
        let timeout = CgroupError::FreezeTimeout {
            path: PathBuf::from("/cg/cgroup.events"),
        };
        assert!(timeout.to_string().contains("within 2s"), "{timeout}");
    }

    #[test]
    fn procs_files_parse_skipping_foreign_pids() {
        let file = Path::new("cgroup.procs");
        assert_eq!(parse_pids(file, "12\n0\n\n7\n").unwrap(), [12, 7]);
        let err = parse_pids(file, "12\nx\n").unwrap_err();
        assert!(err.to_string().contains("cgroup.procs"), "{err}");
    }
}
