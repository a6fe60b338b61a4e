//! Running one command inside a running sandbox.
//!
//! Joining a mount namespace is refused to a multi-threaded process, and the daemon runs on a
//! thread pool, so it starts a copy of itself in a small single-threaded mode instead: the exec
//! helper. The daemon builds the invocation with [`ExecSpec::command`], sets the command's
//! stdio on it (pipes, or a terminal slave) and spawns it; the helper then
//!
//! 1. reads the spec from a sealed memfd (the environment may hold secrets, and a process's
//!    argv is readable by every user on the host, so nothing but a descriptor number travels
//!    there),
//! 2. opens the namespaces and root of the sandbox's init before touching any of them,
//! 3. joins the sandbox's cgroup and namespaces, the mount namespace last,
//! 4. forks, because joining a pid namespace only applies to children: the child takes the
//!    sandbox's root, drops privileges and executes the command; the parent forwards signals
//!    to it and exits with its status.
//!
//! Exit status: the command's own, or 128 plus the signal that killed it. The helper adds
//! 127 (command not found), 126 (found but not executable) and 125 (the helper itself failed
//! before the command started). Stdout and stderr belong to the command; the helper writes
//! only `amika: ...` lines on stderr, when it fails or cannot enter the working directory.
//!
//! Limits: the parent-death signal that ends the command when the helper is killed reaches
//! the command alone, and the kernel drops it when the command runs a setuid program such as
//! `sudo`. Whatever else the command started is left to the sandbox's init if the helper is
//! killed outright; a SIGHUP or SIGTERM first (forwarded to the command's whole process group)
//! lets it exit, and killing the sandbox's cgroup is the sure way.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, SealFlag};
use nix::sched::CloneFlags;
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::sys::signal::{kill, killpg, SigSet, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Gid, Pid, Uid};

use super::caps;

/// The hidden first argument that selects this program.
pub const ARG: &str = "__amika-exec";

/// Exit status when the helper fails before the command starts.
const EXIT_SETUP_FAILED: i32 = 125;

/// Exit status when the command exists but cannot be executed.
const EXIT_CANNOT_EXECUTE: i32 = 126;

/// Exit status when the command does not exist.
const EXIT_NOT_FOUND: i32 = 127;

/// Signals the helper passes on to the command.
const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// The namespaces joined, in order. The mount namespace comes last because joining it changes
/// what every later path lookup means.
const NAMESPACES: [(&str, CloneFlags); 6] = [
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// The search path used when the environment has no `PATH`.
const FALLBACK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Marks the start of an encoded spec, so a stray descriptor is not mistaken for one.
const MAGIC: &[u8] = b"amika-exec/1\n";

/// Far above anything `execve` accepts; only guards against reading a wrong file whole.
const MAX_SPEC_BYTES: u64 = 16 << 20;

/// Everything the helper needs to run one command in a sandbox.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecSpec {
    /// The sandbox's init, whose namespaces and root the command enters.
    pub init_pid: i32,
    /// `cgroup.procs` files the helper joins before entering the namespaces.
    pub cgroup_procs: Vec<PathBuf>,
    /// The command's user id.
    pub uid: u32,
    /// The command's primary group id.
    pub gid: u32,
    /// The command's supplementary groups.
    pub groups: Vec<u32>,
    /// The working directory, inside the sandbox; `/` is used when it cannot be entered.
    pub workdir: PathBuf,
    /// The complete environment of the command. Values may be secrets.
    pub env: Vec<(String, String)>,
    /// Program and arguments; a program without `/` is looked up on the `PATH` of `env`.
    pub command: Vec<OsString>,
    /// Stdin is a terminal slave that the command takes as its controlling terminal.
    pub tty: bool,
    /// The helper binary: `/proc/self/exe` in the daemon.
    pub exe: PathBuf,
}

impl fmt::Debug for ExecSpec {
    // Written by hand so that environment values never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ExecSpec")
            .field("init_pid", &self.init_pid)
            .field("cgroup_procs", &self.cgroup_procs)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("groups", &self.groups)
            .field("workdir", &self.workdir)
            .field("env_names", &env_names)
            .field("command", &self.command)
            .field("tty", &self.tty)
            .field("exe", &self.exe)
            .finish()
    }
}

impl ExecSpec {
    /// Builds the helper invocation; the caller sets its stdio and spawns it.
    ///
    /// The spec travels in a sealed memfd that only the spawned helper inherits. If that memfd
    /// cannot be made, spawning the returned command fails with the reason.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg(ARG);
        match spec_memfd(&self.encode()) {
            Ok(fd) => {
                cmd.arg(fd.as_raw_fd().to_string());
                // SAFETY: the closure runs between fork and exec and only calls fcntl, which is
                // async-signal-safe, on a descriptor the closure itself keeps open.
                unsafe {
                    cmd.pre_exec(move || {
                        // The memfd is close-on-exec so that no other spawn inherits it; only
                        // this child, after fork, lets it through.
                        nix::fcntl::fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty()))?;
                        Ok(())
                    });
                }
            }
            Err(errno) => {
                cmd.arg("-");
                // SAFETY: the closure only builds an OS error value, which does not allocate.
                unsafe { cmd.pre_exec(move || Err(io::Error::from(errno))) };
            }
        }
        cmd
    }

    /// Serialises the spec as length-prefixed fields after [`MAGIC`].
    fn encode(&self) -> Vec<u8> {
        let mut out = Encoder(MAGIC.to_vec());
        out.u32(self.init_pid as u32);
        out.u32(self.uid);
        out.u32(self.gid);
        out.u32(u32::from(self.tty));
        out.u32(self.groups.len() as u32);
        self.groups.iter().for_each(|g| out.u32(*g));
        out.u32(self.cgroup_procs.len() as u32);
        self.cgroup_procs
            .iter()
            .for_each(|p| out.bytes(p.as_os_str().as_bytes()));
        out.bytes(self.workdir.as_os_str().as_bytes());
        out.u32(self.env.len() as u32);
        for (name, value) in &self.env {
            out.bytes(name.as_bytes());
            out.bytes(value.as_bytes());
        }
        out.u32(self.command.len() as u32);
        self.command
            .iter()
            .for_each(|arg| out.bytes(arg.as_bytes()));
        out.0
    }

    /// The inverse of [`ExecSpec::encode`]; `exe` is not encoded and comes back empty.
    fn decode(bytes: &[u8]) -> Result<ExecSpec, SpecError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(SpecError::BadMagic)?;
        let mut input = Decoder(rest);
        let init_pid = input.u32()? as i32;
        let uid = input.u32()?;
        let gid = input.u32()?;
        let tty = input.u32()? != 0;
        let groups = (0..input.count()?)
            .map(|_| input.u32())
            .collect::<Result<_, _>>()?;
        let cgroup_procs = (0..input.count()?)
            .map(|_| input.bytes().map(|b| PathBuf::from(OsStr::from_bytes(b))))
            .collect::<Result<_, _>>()?;
        let workdir = PathBuf::from(OsStr::from_bytes(input.bytes()?));
        let env = (0..input.count()?)
            .map(|_| Ok::<_, SpecError>((input.string()?, input.string()?)))
            .collect::<Result<_, _>>()?;
        let command = (0..input.count()?)
            .map(|_| input.bytes().map(|b| OsString::from_vec(b.to_vec())))
            .collect::<Result<_, _>>()?;
        if !input.0.is_empty() {
            return Err(SpecError::Trailing(input.0.len()));
        }
        Ok(ExecSpec {
            init_pid,
            cgroup_procs,
            uid,
            gid,
            groups,
            workdir,
            env,
            command,
            tty,
            exe: PathBuf::new(),
        })
    }
}

/// Appends length-prefixed fields to a buffer.
struct Encoder(Vec<u8>);

impl Encoder {
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn bytes(&mut self, value: &[u8]) {
        self.u32(value.len() as u32);
        self.0.extend_from_slice(value);
    }
}

/// Reads fields written by [`Encoder`], never past the end of its input.
struct Decoder<'a>(&'a [u8]);

impl<'a> Decoder<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], SpecError> {
        if self.0.len() < len {
            return Err(SpecError::Truncated);
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, SpecError> {
        let raw = self.take(4)?;
        Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
    }

    /// A list length, checked against the input left so a corrupt one cannot drive a huge loop.
    fn count(&mut self) -> Result<usize, SpecError> {
        let count = self.u32()? as usize;
        if count > self.0.len() / 4 {
            return Err(SpecError::Truncated);
        }
        Ok(count)
    }

    fn bytes(&mut self) -> Result<&'a [u8], SpecError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn string(&mut self) -> Result<String, SpecError> {
        let raw = self.bytes()?;
        String::from_utf8(raw.to_vec()).map_err(|_| SpecError::NotUtf8)
    }
}

/// Writes the encoded spec into a sealed, close-on-exec memfd.
fn spec_memfd(encoded: &[u8]) -> Result<OwnedFd, Errno> {
    let flags = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    let mut file = File::from(memfd_create(c"amika-exec-spec", flags)?);
    file.write_all(encoded).map_err(|e| io_errno(&e))?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    nix::fcntl::fcntl(file.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    Ok(file.into())
}

/// Why an encoded spec was rejected.
#[derive(Debug, thiserror::Error)]
enum SpecError {
    #[error("it does not start with the exec spec marker")]
    BadMagic,
    #[error("it ends in the middle of a field")]
    Truncated,
    #[error("{0} bytes follow the last field")]
    Trailing(usize),
    #[error("an environment entry is not UTF-8")]
    NotUtf8,
    #[error("the command is empty")]
    EmptyCommand,
    #[error("{0} contains a NUL byte")]
    Nul(String),
    #[error("environment variable name {0:?} is empty or contains '='")]
    BadEnvName(String),
}

/// Why the helper gave up before the command started.
#[derive(Debug, thiserror::Error)]
enum HelperError {
    #[error("expected one spec descriptor argument after {ARG}")]
    Usage,
    #[error("cannot read the exec spec: {0}")]
    ReadSpec(#[source] io::Error),
    #[error("invalid exec spec: {0}")]
    Spec(#[from] SpecError),
    #[error("cannot open {path} of the sandbox's init: {source}")]
    OpenInit {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot inspect {path}: {source}")]
    Inspect {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot join the cgroup through {}: {source}", path.display())]
    JoinCgroup {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot enter the sandbox's {ns} namespace: {source}")]
    Setns {
        ns: &'static str,
        #[source]
        source: Errno,
    },
    #[error("cannot {what}: {source}")]
    Os {
        what: &'static str,
        #[source]
        source: Errno,
    },
}

impl HelperError {
    /// A closure that wraps an errno from the step named `what`.
    fn os(what: &'static str) -> impl FnOnce(Errno) -> HelperError {
        move |source| HelperError::Os { what, source }
    }
}

/// Entry point of the helper: runs the command the spec describes and exits with its status.
pub fn main(args: Vec<OsString>) -> ! {
    let code = run_helper(&args).unwrap_or_else(|err| {
        say(format_args!("{err}"));
        EXIT_SETUP_FAILED
    });
    std::process::exit(code)
}

/// Writes one `amika: ...` line on stderr, ignoring failure: stderr may be gone already.
fn say(message: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "amika: {message}");
}

fn run_helper(args: &[OsString]) -> Result<i32, HelperError> {
    // Blocked from the start: a signal that arrives during setup waits and reaches the command
    // instead of killing the helper half-way.
    let mut signals = SigSet::empty();
    FORWARDED.iter().for_each(|s| signals.add(*s));
    signals.add(Signal::SIGCHLD);
    signals
        .thread_block()
        .map_err(HelperError::os("block signals"))?;
    // An inherited "ignore" would make the kernel reap the child before we can read its status.
    default_disposition(libc::SIGCHLD);

    let spec = read_spec(args)?;
    let launch = Launch::new(&spec)?;
    let init = InitHandles::open(spec.init_pid)?;
    for procs in &spec.cgroup_procs {
        join_cgroup(procs)?;
    }
    let entered_pid_ns = init.enter()?;
    // The child sees its parent as pid 0 when the parent lives outside its pid namespace.
    let parent_seen = if entered_pid_ns {
        Pid::from_raw(0)
    } else {
        nix::unistd::getpid()
    };

    // SAFETY: the helper is single-threaded (it runs straight from `main`, before any runtime
    // or thread exists), so the child may do anything the parent could.
    match unsafe { nix::unistd::fork() }.map_err(HelperError::os("fork"))? {
        ForkResult::Child => start_command(&spec, &launch, &init.root, parent_seen),
        ForkResult::Parent { child } => {
            drop(init);
            supervise(child, spec.tty, &signals)
        }
    }
}

/// Takes the spec from the memfd whose number is the only argument.
fn read_spec(args: &[OsString]) -> Result<ExecSpec, HelperError> {
    let [fd_arg] = args else {
        return Err(HelperError::Usage);
    };
    let fd: i32 = fd_arg
        .to_str()
        .and_then(|s| s.parse().ok())
        .ok_or(HelperError::Usage)?;
    if fd < 3 {
        return Err(HelperError::Usage);
    }
    nix::fcntl::fcntl(fd, FcntlArg::F_GETFD)
        .map_err(|e| HelperError::ReadSpec(io::Error::from(e)))?;
    // SAFETY: the descriptor is open (checked just above), came from our own command line and
    // nothing else in this fresh process owns it.
    let file = unsafe { File::from_raw_fd(fd) };
    let len = file.metadata().map_err(HelperError::ReadSpec)?.len();
    if len > MAX_SPEC_BYTES {
        let msg = format!("descriptor {fd} holds {len} bytes");
        return Err(HelperError::ReadSpec(io::Error::new(
            io::ErrorKind::InvalidData,
            msg,
        )));
    }
    let mut bytes = vec![0; len as usize];
    // Positional reads: the offset is shared with anyone else holding the same memfd.
    file.read_exact_at(&mut bytes, 0)
        .map_err(HelperError::ReadSpec)?;
    Ok(ExecSpec::decode(&bytes)?)
}

/// What `execve` needs, converted before the fork so that bad input fails with a clear message.
struct Launch {
    /// The program paths to try in order: one for a path, one per `PATH` entry for a name.
    candidates: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Launch {
    fn new(spec: &ExecSpec) -> Result<Launch, SpecError> {
        let program = spec.command.first().ok_or(SpecError::EmptyCommand)?;
        let argv = spec
            .command
            .iter()
            .map(|arg| c_string(arg.as_bytes(), "a command argument"))
            .collect::<Result<_, _>>()?;
        let mut envp = Vec::with_capacity(spec.env.len());
        for (name, value) in &spec.env {
            if name.is_empty() || name.contains('=') {
                return Err(SpecError::BadEnvName(name.clone()));
            }
            let entry = format!("{name}={value}");
            envp.push(c_string(entry.as_bytes(), &format!("variable {name}"))?);
        }
        c_string(spec.workdir.as_os_str().as_bytes(), "the working directory")?;
        Ok(Launch {
            candidates: candidates(program, &spec.env)?,
            argv,
            envp,
        })
    }
}

fn c_string(bytes: &[u8], what: &str) -> Result<CString, SpecError> {
    CString::new(bytes).map_err(|_| SpecError::Nul(what.to_owned()))
}

/// Where to look for `program`: itself when it has a `/`, otherwise each `PATH` directory.
fn candidates(program: &OsStr, env: &[(String, String)]) -> Result<Vec<CString>, SpecError> {
    if program.as_bytes().contains(&b'/') {
        return Ok(vec![c_string(program.as_bytes(), "the program")?]);
    }
    // The first entry, as getenv in the command itself would pick.
    let path = env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map_or(FALLBACK_PATH, |(_, value)| value.as_str());
    // An empty entry would mean the working directory, an old way to run a planted binary by
    // accident; it is skipped.
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| {
            let full = Path::new(dir).join(program);
            c_string(full.as_os_str().as_bytes(), "the program")
        })
        .collect()
}

/// Descriptors of the sandbox's init, all opened before any of them is joined.
struct InitHandles {
    namespaces: Vec<(&'static str, CloneFlags, File)>,
    root: File,
}

impl InitHandles {
    fn open(pid: i32) -> Result<InitHandles, HelperError> {
        // Everything is opened relative to one /proc/<pid> descriptor: if the pid is reused
        // while we work, lookups through it fail instead of reaching the newcomer.
        let dir_path = format!("/proc/{pid}");
        let dir = File::open(&dir_path).map_err(|source| HelperError::OpenInit {
            path: dir_path.clone(),
            source,
        })?;
        let mut namespaces = Vec::with_capacity(NAMESPACES.len());
        for (name, flag) in NAMESPACES {
            let file = open_in(&dir, &format!("ns/{name}"), OFlag::O_RDONLY)?;
            namespaces.push((name, flag, file));
        }
        let root = open_in(&dir, "root", OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        Ok(InitHandles { namespaces, root })
    }

    /// Joins every namespace that differs from ours; returns whether the pid one did.
    fn enter(&self) -> Result<bool, HelperError> {
        // All compared before any is joined: inside the sandbox's mount namespace /proc is the
        // sandbox's, where this process has no pid and /proc/self leads nowhere.
        let mut to_join = Vec::new();
        for (name, flag, file) in &self.namespaces {
            if !same_namespace(name, file)? {
                to_join.push((*name, *flag, file));
            }
        }
        for (ns, flag, file) in &to_join {
            nix::sched::setns(file, *flag).map_err(|source| HelperError::Setns { ns, source })?;
        }
        Ok(to_join
            .iter()
            .any(|(_, flag, _)| *flag == CloneFlags::CLONE_NEWPID))
    }
}

/// Opens `path` under the directory `dir`, close-on-exec.
fn open_in(dir: &File, path: &str, flags: OFlag) -> Result<File, HelperError> {
    let flags = flags | OFlag::O_CLOEXEC;
    let fd =
        nix::fcntl::openat(Some(dir.as_raw_fd()), path, flags, Mode::empty()).map_err(|errno| {
            HelperError::OpenInit {
                path: path.to_owned(),
                source: io::Error::from(errno),
            }
        })?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Whether the namespace behind `file` is the one this process is already in.
fn same_namespace(name: &str, file: &File) -> Result<bool, HelperError> {
    let ours_path = format!("/proc/self/ns/{name}");
    let ours = std::fs::metadata(&ours_path).map_err(|source| HelperError::Inspect {
        path: ours_path,
        source,
    })?;
    let theirs = file.metadata().map_err(|source| HelperError::Inspect {
        path: format!("the sandbox's {name} namespace"),
        source,
    })?;
    Ok(ours.dev() == theirs.dev() && ours.ino() == theirs.ino())
}

/// Moves the helper (and so the command it forks) into a cgroup.
fn join_cgroup(procs: &Path) -> Result<(), HelperError> {
    // "0" names the writing process, whatever pid namespace it is in.
    OpenOptions::new()
        .write(true)
        .open(procs)
        .and_then(|mut file| file.write_all(b"0"))
        .map_err(|source| HelperError::JoinCgroup {
            path: procs.to_owned(),
            source,
        })
}

/// Sets a signal back to its default action; errors (for signals libc reserves) are ignored.
fn default_disposition(signal: libc::c_int) {
    // SAFETY: installing SIG_DFL runs no code of ours in signal context.
    unsafe { libc::signal(signal, libc::SIG_DFL) };
}

/// The parent's side: passes signals on and waits for the command.
fn supervise(child: Pid, tty: bool, signals: &SigSet) -> Result<i32, HelperError> {
    loop {
        let signal = signals
            .wait()
            .map_err(HelperError::os("wait for signals"))?;
        if signal != Signal::SIGCHLD {
            forward(child, signal, tty);
            continue;
        }
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
            Ok(_) => {}
            Err(source) => {
                return Err(HelperError::Os {
                    what: "wait for the command",
                    source,
                })
            }
        }
    }
}

/// Sends `signal` to the command: to its whole process group unless it owns a terminal, where
/// the terminal itself signals the foreground job and the shell decides for the rest.
fn forward(child: Pid, signal: Signal, tty: bool) {
    // The child leads its own group once it has called setsid; before that the group does
    // not exist yet and the child alone is signalled.
    if !tty && killpg(child, signal).is_ok() {
        return;
    }
    let _ = kill(child, signal);
}

/// The child's side: becomes the command or exits with a setup or exec status.
fn start_command(spec: &ExecSpec, launch: &Launch, root: &File, parent_seen: Pid) -> ! {
    if let Err(err) = prepare_child(spec, root, parent_seen) {
        say(format_args!("{err}"));
        std::process::exit(EXIT_SETUP_FAILED);
    }
    let program = spec.command[0].to_string_lossy();
    let (code, reason) = match exec_first(launch) {
        Errno::ENOENT if !program.contains('/') => (EXIT_NOT_FOUND, "command not found"),
        Errno::ENOENT => (EXIT_NOT_FOUND, "no such file or directory"),
        Errno::EACCES => (EXIT_CANNOT_EXECUTE, "permission denied"),
        Errno::ENOEXEC => (EXIT_CANNOT_EXECUTE, "cannot execute: exec format error"),
        other => (EXIT_CANNOT_EXECUTE, other.desc()),
    };
    say(format_args!("{program}: {reason}"));
    std::process::exit(code)
}

/// Everything between fork and exec, in the order the kernel's rules require.
fn prepare_child(spec: &ExecSpec, root: &File, parent_seen: Pid) -> Result<(), HelperError> {
    // Marked rather than closed: the root descriptor is still needed below.
    cloexec_from_3().map_err(HelperError::os("mark inherited descriptors close-on-exec"))?;

    // Joining the mount namespace does not move us into the init's root, which may be a
    // chroot or a pivoted tree; its /proc root link names exactly that directory.
    nix::unistd::fchdir(root.as_raw_fd()).map_err(HelperError::os("enter the sandbox root"))?;
    nix::unistd::chroot(".").map_err(HelperError::os("enter the sandbox root"))?;

    nix::unistd::setsid().map_err(HelperError::os("start a session"))?;
    if spec.tty {
        // SAFETY: TIOCSCTTY takes an integer argument and no pointers.
        let rc = unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
        Errno::result(rc).map_err(HelperError::os("take the terminal"))?;
    }

    drop_privileges(spec)?;

    // Set only now: any change of credentials clears the parent-death signal.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(HelperError::os("set the parent-death signal"))?;
    if nix::unistd::getppid() != parent_seen {
        // The helper died before the signal was armed; nobody is left to report to.
        std::process::exit(EXIT_SETUP_FAILED);
    }

    // After dropping privileges, so a directory the user cannot enter is reported as such.
    if let Err(errno) = nix::unistd::chdir(&spec.workdir) {
        let dir = spec.workdir.display();
        say(format_args!(
            "cannot enter {dir}: {}; starting in /",
            errno.desc()
        ));
        nix::unistd::chdir("/").map_err(HelperError::os("enter /"))?;
    }

    reset_signals().map_err(HelperError::os("reset the signal mask"))
}

/// Limits capabilities for good, then switches to the command's user and groups.
fn drop_privileges(spec: &ExecSpec) -> Result<(), HelperError> {
    caps::drop_bounding_set().map_err(|e| HelperError::Os {
        what: "drop capabilities",
        source: io_errno(&e),
    })?;
    clear_inheritable_caps().map_err(|e| HelperError::Os {
        what: "clear inheritable capabilities",
        source: e,
    })?;
    let groups: Vec<Gid> = spec.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).map_err(HelperError::os("set supplementary groups"))?;
    nix::unistd::setgid(Gid::from_raw(spec.gid)).map_err(HelperError::os("set the group id"))?;
    nix::unistd::setuid(Uid::from_raw(spec.uid)).map_err(HelperError::os("set the user id"))
}

fn io_errno(err: &io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}

/// Header of the capget/capset system calls (see capget(2)).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// One 32-bit slice of the three capability sets.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The 64-bit capability ABI, which uses two [`CapData`] slices.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// Empties the inheritable set (and with it the ambient set).
///
/// The bounding set does not limit what inheritable capabilities pass to a program whose file
/// carries inheritable capabilities, so an inherited set must not survive into the sandbox.
fn clear_inheritable_caps() -> Result<(), Errno> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are valid, writable and of the layout version 3 expects.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    Errno::result(rc)?;
    if data.iter().all(|slice| slice.inheritable == 0) {
        return Ok(());
    }
    data.iter_mut().for_each(|slice| slice.inheritable = 0);
    // SAFETY: as above; the kernel only reads data here.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    Errno::result(rc).map(drop)
}

/// Marks every descriptor above stderr close-on-exec, so none of the daemon's reach the command.
fn cloexec_from_3() -> Result<(), Errno> {
    // SAFETY: close_range takes plain integers; CLOEXEC only sets a flag.
    let rc = unsafe { libc::close_range(3, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    if rc == 0 {
        return Ok(());
    }
    // Kernels before 5.11 lack the flag: mark each open descriptor instead.
    let entries = std::fs::read_dir("/proc/self/fd").map_err(|e| io_errno(&e))?;
    for entry in entries.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if fd > 2 {
            // The directory's own descriptor is in the list and gone by now: ignore EBADF.
            let _ = nix::fcntl::fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
        }
    }
    Ok(())
}

/// Default dispositions and an empty mask, as a freshly started program expects.
fn reset_signals() -> Result<(), Errno> {
    // Handlers vanish at exec on their own, but "ignore" (SIGPIPE, in any Rust program)
    // survives it.
    for signal in 1..=libc::SIGRTMAX() {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            default_disposition(signal);
        }
    }
    SigSet::empty().thread_set_mask()
}

/// Tries each candidate in turn and returns the error that best explains the failure.
fn exec_first(launch: &Launch) -> Errno {
    let mut saw_eacces = false;
    let mut last = Errno::ENOENT;
    for program in &launch.candidates {
        let errno = match nix::unistd::execve(program, &launch.argv, &launch.envp) {
            Ok(never) => match never {},
            Err(errno) => errno,
        };
        match errno {
            // Not here: keep looking, as a shell would.
            Errno::ENOENT | Errno::ENOTDIR | Errno::ESTALE | Errno::ENODEV => {}
            Errno::EACCES => saw_eacces = true,
            other => return other,
        }
        last = errno;
    }
    if saw_eacces {
        Errno::EACCES
    } else {
        last
    }
}

#[cfg(test)]
mod tests {
    //! These tests enter real namespaces and so run as root. The sandbox is a busybox tree
    //! started under `unshare`, standing in for the daemon's own init so that only this module
    //! is under test. The helper is the built `amikad` binary.

    use super::*;
    use std::io::Read;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, ExitStatus, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use tempfile::TempDir;

    const APPLETS: &[&str] = &["sh", "cat", "env", "hostname", "id", "ls", "pwd", "sleep"];
    const TIMEOUT: Duration = Duration::from_secs(30);
    const CAP_SYS_ADMIN: u32 = 21;

    fn require_root() {
        assert!(
            Uid::effective().is_root(),
            "the exec tests enter namespaces and must run as root"
        );
    }

    /// `target/debug/amikad`, next to the `deps` directory holding this test binary.
    fn helper_exe() -> PathBuf {
        let test_exe = std::env::current_exe().expect("the test binary's path");
        let exe = test_exe
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("amikad"))
            .expect("the test binary lives in target/<profile>/deps");
        assert!(
            exe.is_file(),
            "{} is missing: run `cargo build --bins` before these tests",
            exe.display()
        );
        exe
    }

    /// Polls `probe` until it yields a value, panicking after [`TIMEOUT`].
    fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(value) = probe() {
                return value;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn children(pid: i32) -> Vec<i32> {
        let path = format!("/proc/{pid}/task/{pid}/children");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    fn cmdline(pid: i32) -> Vec<u8> {
        std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
    }

    /// Pids of live host processes whose command line is exactly `argv`.
    fn processes_running(argv: &[&str]) -> Vec<i32> {
        let wanted = nul_joined(argv);
        let entries = std::fs::read_dir("/proc").expect("read /proc");
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| cmdline(*pid) == wanted)
            .collect()
    }

    /// A command line as /proc shows it: each argument followed by a NUL.
    fn nul_joined(argv: &[&str]) -> Vec<u8> {
        argv.iter()
            .flat_map(|a| [a.as_bytes(), b"\0"].concat())
            .collect()
    }

    fn build_tree(root: &Path) {
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        for dir in ["bin", "etc", "proc", "tmp", "home/amika"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy /bin/busybox");
        for applet in APPLETS {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        std::fs::write(root.join("bin/not-executable"), "#!/bin/sh\n").unwrap();
        let passwd = "root:x:0:0:root:/root:/bin/sh\namika:x:1000:1000::/home/amika:/bin/sh\n";
        std::fs::write(root.join("etc/passwd"), passwd).unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\namika:x:1000:\n").unwrap();
        std::os::unix::fs::chown(root.join("home/amika"), Some(1000), Some(1000)).unwrap();
    }

    /// A busybox tree running `sleep` as pid 1 of fresh namespaces; killed on drop.
    struct Sandbox {
        _tree: TempDir,
        unshare: Child,
        init: i32,
    }

    impl Sandbox {
        /// Own network namespace (loopback only), like a sandbox with network `none`.
        fn start() -> Sandbox {
            Sandbox::start_with(&["--net"])
        }

        fn start_with(extra: &[&str]) -> Sandbox {
            require_root();
            let tree = tempfile::tempdir().expect("a temporary directory");
            build_tree(tree.path());
            let unshare = Command::new("unshare")
                .args(["--fork", "--pid", "--mount", "--uts", "--ipc", "--cgroup"])
                .args(extra)
                .arg("--mount-proc")
                .arg("--root")
                .arg(tree.path())
                .args(["/bin/busybox", "sh", "-c"])
                .arg("hostname amika-test && exec /bin/busybox sleep 600")
                .stdin(Stdio::null())
                .spawn()
                .expect("run unshare from util-linux");
            let mut sandbox = Sandbox {
                _tree: tree,
                unshare,
                init: 0,
            };
            let unshare_pid = sandbox.unshare.id() as i32;
            sandbox.init = wait_for("the sandbox's init", || {
                let pid = *children(unshare_pid).first()?;
                (cmdline(pid) == nul_joined(&["/bin/busybox", "sleep", "600"])).then_some(pid)
            });
            sandbox
        }

        fn spec(&self, uid: u32, command: &[&str]) -> ExecSpec {
            ExecSpec {
                init_pid: self.init,
                cgroup_procs: Vec::new(),
                uid,
                gid: uid,
                groups: vec![uid],
                workdir: PathBuf::from("/home/amika"),
                env: vec![("PATH".to_owned(), "/bin".to_owned())],
                command: command.iter().map(OsString::from).collect(),
                tty: false,
                exe: helper_exe(),
            }
        }
    }

    impl Drop for Sandbox {
        fn drop(&mut self) {
            // Looked up again in case start-up gave up before naming the init.
            let inits = children(self.unshare.id() as i32);
            // unshare goes first so it has no chance to complain about its child's death.
            let _ = self.unshare.kill();
            let _ = self.unshare.wait();
            // Killing pid 1 of the namespace takes every process inside with it.
            for pid in inits.into_iter().chain([self.init]).filter(|pid| *pid > 0) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }

    /// A helper that is killed and reaped on drop if a test gives up on it.
    struct Helper(Child);

    impl Helper {
        fn spawn(spec: &ExecSpec) -> Helper {
            let child = spec
                .command()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn the exec helper");
            Helper(child)
        }

        fn pid(&self) -> i32 {
            self.0.id() as i32
        }

        fn wait(&mut self) -> ExitStatus {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                if let Some(status) = self.0.try_wait().expect("wait for the helper") {
                    return status;
                }
                assert!(
                    Instant::now() < deadline,
                    "the helper did not finish in time"
                );
                thread::sleep(Duration::from_millis(10));
            }
        }

        /// The command the helper forked, once it has executed `argv`.
        fn command_pid(&self, argv: &[&str]) -> i32 {
            let argv = nul_joined(argv);
            wait_for("the command to start", || {
                let pid = *children(self.pid()).first()?;
                (cmdline(pid) == argv).then_some(pid)
            })
        }
    }

    impl Drop for Helper {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    struct Output {
        code: i32,
        stdout: String,
        stderr: String,
    }

    fn exit_code(status: ExitStatus) -> i32 {
        status
            .code()
            .unwrap_or_else(|| panic!("the helper died of signal {:?}", status.signal()))
    }

    fn drain(stream: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
        let mut stream = stream.expect("a piped stream");
        thread::spawn(move || {
            let mut text = String::new();
            stream
                .read_to_string(&mut text)
                .expect("read the command's output");
            text
        })
    }

    /// Runs `spec` with `input` on stdin and collects both output streams.
    fn run(spec: &ExecSpec, input: &[u8]) -> Output {
        let child = spec
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the exec helper");
        let mut helper = Helper(child);
        let mut stdin = helper.0.stdin.take().expect("a piped stdin");
        let input = input.to_vec();
        let writer = thread::spawn(move || stdin.write_all(&input));
        let stdout = drain(helper.0.stdout.take());
        let stderr = drain(helper.0.stderr.take());
        let code = exit_code(helper.wait());
        let _ = writer.join();
        Output {
            code,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        }
    }

    fn run_ok(spec: &ExecSpec) -> String {
        let out = run(spec, b"");
        assert_eq!(out.code, 0, "stderr: {}", out.stderr);
        assert_eq!(out.stderr, "");
        out.stdout
    }

    /// A capability mask from a `Cap...:` line of /proc/<pid>/status.
    fn cap_mask(status: &str, field: &str) -> u64 {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("{field} missing from {status}"));
        u64::from_str_radix(line.trim(), 16).expect("a hex capability mask")
    }

    /// A spec for tests that never start it.
    fn offline_spec(env: &[(&str, &str)]) -> ExecSpec {
        ExecSpec {
            init_pid: 1,
            cgroup_procs: Vec::new(),
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
        let child = spec
            .command()
            .stdin(Stdio::from(pty.slave))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the exec helper");
        let mut helper = Helper(child);
        let stdout = drain(helper.0.stdout.take());
        let stderr = drain(helper.0.stderr.take());
        assert_eq!(exit_code(helper.wait()), 0, "{}", stderr.join().unwrap());
        drop(pty.master);
        let stat = stdout.join().unwrap();
        let (pid, rest) = stat.split_once(" (").expect("a stat line");
        let fields: Vec<&str> = rest.rsplit_once(") ").unwrap().1.split(' ').collect();
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

    #[test]
    fn command_joins_the_given_cgroup() {
        let sandbox = Sandbox::start();
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "amika-exec-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        // The unified hierarchy where the host has it, else the v1 pids hierarchy.
        let (base, controllers) = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            ("/sys/fs/cgroup", "")
        } else {
            ("/sys/fs/cgroup/pids", "pids")
        };
        let cgroup = TestCgroup::create(Path::new(base).join(&name));
        let mut spec = sandbox.spec(1000, &["cat", "/proc/self/cgroup"]);
        spec.cgroup_procs = vec![cgroup.0.join("cgroup.procs")];
        let out = run_ok(&spec);
        let joined = out.lines().any(|line| {
            let mut fields = line.splitn(3, ':').skip(1);
            fields.next() == Some(controllers) && fields.next().is_some_and(|p| p.ends_with(&name))
        });
        assert!(joined, "not in {name}: {out}");
    }

    /// A cgroup directory removed on drop.
    struct TestCgroup(PathBuf);

    impl TestCgroup {
        fn create(path: PathBuf) -> TestCgroup {
            std::fs::create_dir(&path).expect("create a test cgroup");
            TestCgroup(path)
        }
    }

    impl Drop for TestCgroup {
        fn drop(&mut self) {
            wait_for("the test cgroup to empty", || {
                std::fs::remove_dir(&self.0).ok()
            });
        }
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
            let stat = std::fs::read_to_string(format!("/proc/{command}/stat")).ok();
            let state = stat
                .as_deref()
                .and_then(|s| s.rsplit_once(") "))
                .map(|(_, r)| r);
            let alive = state.is_some_and(|r| !r.starts_with('Z'));
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
}
