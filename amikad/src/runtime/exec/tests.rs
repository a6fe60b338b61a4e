//! The exec helper's tests. Those that start it enter real namespaces and so run as root,
//! in the stand-in sandbox of the `fixture` module.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use self::fixture::{drain, exit_code, processes_running, run, run_ok, Helper, Sandbox};
use super::launch::Launch;
use super::spec::SpecError;
use super::ExecSpec;
use crate::runtime::test_support::{
    cap_mask, process_state, stat_fields, v2_cgroup_of, wait_for, TestCgroup, CAP_SYS_ADMIN,
};

mod fixture;

/// A spec for tests that never start it.
fn offline_spec(env: &[(&str, &str)]) -> ExecSpec {
    ExecSpec {
        init_pid: 1,
        cgroup_procs: Vec::new(),
        cgroup_dir: None,
        uid: 1000,
        gid: 1000,
        groups: Vec::new(),
        workdir: PathBuf::from("/"),
        env: env
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        command: vec![OsString::from("true")],
        tty: false,
        exe: PathBuf::from("/proc/self/exe"),
    }
}

#[test]
fn spec_survives_encoding() {
    let spec = ExecSpec {
        init_pid: 42,
        cgroup_procs: vec![PathBuf::from("/sys/fs/cgroup/a b/cgroup.procs")],
        cgroup_dir: Some(PathBuf::from("/sys/fs/cgroup/a b")),
        uid: 1000,
        gid: 1001,
        groups: vec![1001, 27],
        workdir: PathBuf::from("/home/amika/workspace"),
        env: vec![
            (
                "TOKEN".to_owned(),
                "line1\nline2=x; 'quoted' \u{e9}".to_owned(),
            ),
            ("EMPTY".to_owned(), String::new()),
        ],
        command: vec![
            OsString::from("sh"),
            OsString::from_vec(b"\xff\x01 x".to_vec()),
        ],
        tty: true,
        exe: PathBuf::new(),
    };
    assert_eq!(ExecSpec::decode(&spec.encode()).unwrap(), spec);
}

#[test]
fn damaged_specs_are_rejected() {
    let encoded = offline_spec(&[("A", "b")]).encode();
    let short = &encoded[..encoded.len() - 1];
    assert!(matches!(ExecSpec::decode(short), Err(SpecError::Truncated)));
    let long = [encoded.as_slice(), b"x"].concat();
    assert!(matches!(
        ExecSpec::decode(&long),
        Err(SpecError::Trailing(1))
    ));
    assert!(matches!(
        ExecSpec::decode(b"nonsense"),
        Err(SpecError::BadMagic)
    ));
}

#[test]
fn secret_values_stay_out_of_argv_and_debug() {
    let secret = "sk-very-secret-value";
    let spec = offline_spec(&[("API_KEY", secret)]);
    let cmd = spec.command();
    let argv: Vec<_> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert!(argv.iter().all(|a| !a.contains(secret)), "{argv:?}");
    assert!(cmd.get_envs().all(|(name, _)| name != "API_KEY"));
    let debug = format!("{spec:?}");
    assert!(
        debug.contains("API_KEY") && !debug.contains(secret),
        "{debug}"
    );
}

#[test]
fn invalid_environment_names_are_refused_before_fork() {
    let spec = offline_spec(&[("A=B", "c")]);
    assert!(matches!(Launch::new(&spec), Err(SpecError::BadEnvName(_))));
    let spec = offline_spec(&[("A", "nul\0inside")]);
    assert!(matches!(Launch::new(&spec), Err(SpecError::Nul(_))));
}

#[test]
fn command_runs_as_the_requested_user_and_groups() {
    let sandbox = Sandbox::start();
    let mut spec = sandbox.spec(1000, &["sh", "-c", "id -u; id -g; id -G"]);
    spec.groups = vec![1000, 27];
    assert_eq!(run_ok(&spec), "1000\n1000\n1000 27\n");
}

#[test]
fn exit_code_is_passed_through() {
    let sandbox = Sandbox::start();
    let out = run(&sandbox.spec(1000, &["sh", "-c", "exit 7"]), b"");
    assert_eq!(out.code, 7);
}

#[test]
fn stdout_and_stderr_stay_apart() {
    let sandbox = Sandbox::start();
    let spec = sandbox.spec(1000, &["sh", "-c", "echo to-out; echo to-err >&2"]);
    let out = run(&spec, b"");
    assert_eq!((out.code, out.stdout.as_str()), (0, "to-out\n"));
    assert_eq!(out.stderr, "to-err\n");
}

#[test]
fn stdin_reaches_the_command_until_eof() {
    let sandbox = Sandbox::start();
    let out = run(&sandbox.spec(1000, &["cat"]), b"hello\nsandbox\n");
    assert_eq!((out.code, out.stdout.as_str()), (0, "hello\nsandbox\n"));
}

#[test]
fn missing_command_exits_127_with_a_message() {
    let sandbox = Sandbox::start();
    let out = run(&sandbox.spec(1000, &["no-such-tool", "--flag"]), b"");
    assert_eq!(out.code, 127);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "amika: no-such-tool: command not found\n");
}

#[test]
fn non_executable_file_exits_126() {
    let sandbox = Sandbox::start();
    let out = run(&sandbox.spec(1000, &["not-executable"]), b"");
    assert_eq!(out.code, 126);
    assert_eq!(out.stderr, "amika: not-executable: permission denied\n");
}

#[test]
fn program_given_as_a_path_is_not_searched() {
    let sandbox = Sandbox::start();
    assert_eq!(run_ok(&sandbox.spec(1000, &["/bin/id", "-u"])), "1000\n");
    let out = run(&sandbox.spec(1000, &["/usr/bin/id"]), b"");
    assert_eq!(out.code, 127);
    assert_eq!(
        out.stderr,
        "amika: /usr/bin/id: no such file or directory\n"
    );
}

#[test]
fn command_starts_in_the_working_directory() {
    let sandbox = Sandbox::start();
    assert_eq!(run_ok(&sandbox.spec(1000, &["pwd"])), "/home/amika\n");
}

#[test]
fn unreachable_working_directory_falls_back_to_root() {
    let sandbox = Sandbox::start();
    let mut spec = sandbox.spec(1000, &["pwd"]);
    spec.workdir = PathBuf::from("/does/not/exist");
    let out = run(&spec, b"");
    assert_eq!((out.code, out.stdout.as_str()), (0, "/\n"));
    assert_eq!(
        out.stderr,
        "amika: cannot enter /does/not/exist: No such file or directory; starting in /\n"
    );
}

#[test]
fn environment_is_exactly_the_given_one() {
    let sandbox = Sandbox::start();
    let mut spec = sandbox.spec(1000, &["env"]);
    spec.env
        .push(("GREETING".to_owned(), "hello world".to_owned()));
    spec.env
        .push(("MULTI".to_owned(), "a\nb=c $HOME 'q'".to_owned()));
    spec.env.push(("EMPTY".to_owned(), String::new()));
    let expected = "PATH=/bin\nGREETING=hello world\nMULTI=a\nb=c $HOME 'q'\nEMPTY=\n";
    assert_eq!(run_ok(&spec), expected);
}

#[test]
fn command_enters_the_sandbox_namespaces() {
    let sandbox = Sandbox::start();
    let spec = sandbox.spec(1000, &["sh", "-c", "hostname; echo $$; cat /proc/net/dev"]);
    let out = run_ok(&spec);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("amika-test"));
    // Pid 1 is the sandbox's init, so anything we start is numbered above it.
    let pid: i32 = lines.next().and_then(|l| l.parse().ok()).expect("a pid");
    assert!(
        pid > 1 && pid < 100,
        "pid {pid} is not from the sandbox's namespace"
    );
    let interfaces: Vec<&str> = lines.skip(2).filter_map(|l| l.split(':').next()).collect();
    assert_eq!(
        interfaces.iter().map(|i| i.trim()).collect::<Vec<_>>(),
        ["lo"]
    );
}

#[test]
fn shared_host_network_is_left_alone() {
    let sandbox = Sandbox::start_with(&[]);
    let host = std::fs::read_to_string("/proc/net/dev").expect("read /proc/net/dev");
    assert_eq!(
        run_ok(&sandbox.spec(1000, &["cat", "/proc/net/dev"]))
            .lines()
            .count(),
        host.lines().count()
    );
    assert_eq!(run_ok(&sandbox.spec(1000, &["hostname"])), "amika-test\n");
}

#[test]
fn root_command_lacks_dropped_capabilities() {
    let sandbox = Sandbox::start();
    let status = run_ok(&sandbox.spec(0, &["cat", "/proc/self/status"]));
    let admin = 1u64 << CAP_SYS_ADMIN;
    assert_eq!(cap_mask(&status, "CapBnd") & admin, 0, "{status}");
    assert_eq!(cap_mask(&status, "CapEff") & admin, 0, "{status}");
    assert_eq!(cap_mask(&status, "CapInh"), 0, "{status}");
    // Root keeps what it needs to administer the sandbox.
    assert_ne!(
        cap_mask(&status, "CapEff") & 1,
        0,
        "CAP_CHOWN missing: {status}"
    );
}

#[test]
fn no_descriptor_leaks_into_the_command() {
    let sandbox = Sandbox::start();
    // Fd 3 is the directory `ls` itself opens to list.
    assert_eq!(
        run_ok(&sandbox.spec(1000, &["ls", "/proc/self/fd"])),
        "0\n1\n2\n3\n"
    );
}

#[test]
fn terminal_stdin_becomes_the_controlling_terminal() {
    let sandbox = Sandbox::start();
    let pty = nix::pty::openpty(None, None).expect("open a pseudo-terminal");
    let mut spec = sandbox.spec(1000, &["cat", "/proc/self/stat"]);
    spec.tty = true;
    let slave = Stdio::from(pty.slave);
    let mut helper = Helper::start(&spec, slave, Stdio::piped(), Stdio::piped());
    let stdout = drain(helper.0.stdout.take());
    let stderr = drain(helper.0.stderr.take());
    assert_eq!(exit_code(helper.wait()), 0, "{}", stderr.join().unwrap());
    drop(pty.master);
    let stat = stdout.join().unwrap();
    let (pid, _) = stat.split_once(" (").expect("a stat line");
    let fields = stat_fields(&stat);
    // After the name: state, ppid, pgrp, session, tty_nr.
    assert_eq!(
        fields[3], pid,
        "the command should lead its session: {stat}"
    );
    assert_ne!(
        fields[4], "0",
        "the command has no controlling terminal: {stat}"
    );
}

/// Asserts that `out`, a command's `/proc/self/cgroup`, places it in `cgroup`.
fn assert_in_cgroup(out: &str, cgroup: &TestCgroup) {
    let joined = out.lines().any(|line| {
        let mut fields = line.splitn(3, ':').skip(1);
        fields.next() == Some(cgroup.controllers)
            && fields.next().is_some_and(|p| p.ends_with(&cgroup.name))
    });
    assert!(joined, "not in {}: {out}", cgroup.name);
}

#[test]
fn command_joins_the_given_cgroup() {
    let sandbox = Sandbox::start();
    let cgroup = TestCgroup::create("exec");
    let mut spec = sandbox.spec(1000, &["cat", "/proc/self/cgroup"]);
    spec.cgroup_procs = vec![cgroup.procs()];
    assert_in_cgroup(&run_ok(&spec), &cgroup);
}

#[test]
fn a_cgroup_directory_the_kernel_refuses_falls_back_to_joining() {
    let sandbox = Sandbox::start();
    let cgroup = TestCgroup::create("exec-fallback");
    // Not a cgroup at all: clone3 refuses it, as an older kernel refuses the flag.
    let not_a_cgroup = tempfile::tempdir().unwrap();
    let mut spec = sandbox.spec(1000, &["cat", "/proc/self/cgroup"]);
    spec.cgroup_procs = vec![cgroup.procs()];
    spec.cgroup_dir = Some(not_a_cgroup.path().to_owned());
    assert_in_cgroup(&run_ok(&spec), &cgroup);
}

#[test]
fn on_cgroup_v2_the_command_starts_in_the_cgroup_and_the_helper_stays_out() {
    let sandbox = Sandbox::start();
    let cgroup = TestCgroup::create_v2("exec");
    let mut spec = sandbox.spec(1000, &["sleep", "603"]);
    // No cgroup.procs file: only a start inside the cgroup puts the command there.
    spec.cgroup_dir = Some(cgroup.path.clone());
    let mut helper = Helper::spawn(&spec);
    let command = helper.command_pid(&["sleep", "603"]);
    let inside = Some(format!("/{}", cgroup.name));
    assert_eq!(
        v2_cgroup_of(command),
        inside,
        "the command is in the cgroup"
    );
    assert_ne!(
        v2_cgroup_of(helper.pid()),
        inside,
        "the helper stays outside"
    );
    let namespace = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/cgroup")).unwrap();
    assert_eq!(
        namespace(command),
        namespace(spec.init_pid),
        "the command joined the sandbox's cgroup namespace itself"
    );
    kill(Pid::from_raw(helper.pid()), Signal::SIGKILL).unwrap();
    helper.wait();
    wait_for("the command to die", || {
        let alive = process_state(command).is_some_and(|state| state != 'Z');
        (!alive).then_some(())
    });
}

#[test]
fn killing_the_helper_kills_the_command() {
    let sandbox = Sandbox::start();
    let mut helper = Helper::spawn(&sandbox.spec(1000, &["sleep", "602"]));
    let command = helper.command_pid(&["sleep", "602"]);
    kill(Pid::from_raw(helper.pid()), Signal::SIGKILL).unwrap();
    assert_eq!(helper.wait().signal(), Some(libc::SIGKILL));
    // The sandbox's stand-in init never reaps, so the dead command may linger as a zombie.
    wait_for("the command to die", || {
        let alive = process_state(command).is_some_and(|state| state != 'Z');
        (!alive).then_some(())
    });
}

#[test]
fn sigterm_reaches_the_whole_command_group() {
    let sandbox = Sandbox::start();
    let mut helper = Helper::spawn(&sandbox.spec(1000, &["sh", "-c", "sleep 601; exit 0"]));
    wait_for("the grandchild", || {
        processes_running(&["sleep", "601"]).first().copied()
    });
    kill(Pid::from_raw(helper.pid()), Signal::SIGTERM).unwrap();
    assert_eq!(exit_code(helper.wait()), 128 + libc::SIGTERM);
    wait_for("the grandchild to die", || {
        processes_running(&["sleep", "601"])
            .is_empty()
            .then_some(())
    });
}
