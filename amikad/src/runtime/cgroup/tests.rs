//! Cgroup tests. The kernel ones create real cgroups under the host's hierarchies and need
//! root; the others check the parsing and value rules alone.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Instant;

use nix::sys::signal::Signal;

use super::files::write_file;
use super::limits::MIN_QUOTA_US;
use super::mountinfo::v1_roots;
use super::procs::parse_pids;
use super::v2::{cpu_max, events_frozen};
use super::*;
use crate::mountinfo::parse as parse_mountinfo;
use crate::runtime::test_support::{require_root, stat_fields};

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
    require_root("the cgroup tests create real cgroups");
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
    let fields = stat_fields(&stat);
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
