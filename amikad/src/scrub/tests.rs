//! Scrub and verification on real trees: a plain directory for the removal steps and the
//! checks, and a loop-mounted btrfs for change tracking.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::encode::{base64, STANDARD};
use super::needles::CHUNK;
use super::*;
use crate::command;
use crate::storage::pool::{self, PoolOrigin};

const CODEX: &str = "codex-session-7f3a9c1e5b2d4f6a8c0e";
const OPENAI: &str = "sk-proj-Env0nlyValue1234567890abcd";
const GITHUB: &str = "ghp_InjectedGitHubToken0123456789AB";
const BASELINE: &str = "PATH=\"/usr/local/bin:/usr/bin:/bin\"\nLANG=C.UTF-8\n";
const AUTH_JSON: &str = "home/amika/.codex/auth.json";
const REPO_CONFIG: &str = "home/amika/workspace/app/.git/config";
const CREDENTIALS: &str = "home/amika/.git-credentials";

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "scrub tests need root: the scrub writes root-owned files and mounts btrfs"
    );
}

fn ledger() -> Ledger {
    Ledger {
        injections: vec![
            Injection::File {
                secret: "codex".into(),
                path: format!("/{AUTH_JSON}"),
            },
            Injection::Env {
                secret: "openai".into(),
                var: "OPENAI_API_KEY".into(),
            },
            Injection::Git {
                secret: "github".into(),
                host: "github.com".into(),
            },
        ],
        values: vec![
            ("codex".into(), CODEX.into()),
            ("openai".into(), OPENAI.into()),
            ("github".into(), GITHUB.into()),
        ],
        env_baseline: BASELINE.into(),
        home: "/home/amika".into(),
    }
}

/// Writes `contents` at `rel` below `root`, creating parent directories.
fn put(root: &Path, rel: &str, contents: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

fn repo_config(token_url: &str) -> String {
    format!(
        "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = {token_url}\n\
         \tfetch = +refs/heads/*:refs/remotes/origin/*\n[branch \"main\"]\n\tremote = origin\n"
    )
}

/// A sandbox tree as it looks after injection and some work by its user.
fn injected_tree() -> (TempDir, TreeRoot) {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let env = format!("{BASELINE}# amika: begin\nOPENAI_API_KEY={OPENAI}\n# amika: end\n");
    put(root, "etc/environment", env.as_bytes());
    put(
        root,
        AUTH_JSON,
        format!("{{\"token\":\"{CODEX}\"}}").as_bytes(),
    );
    let url = format!("https://x-access-token:{GITHUB}@github.com/o/app.git");
    put(root, REPO_CONFIG, repo_config(&url).as_bytes());
    put(
        root,
        "home/amika/workspace/app/src/main.rs",
        b"fn main() {}\n",
    );
    let creds = format!("https://x-access-token:{GITHUB}@github.com\nhttps://bob:pw9@gitlab.com\n");
    put(root, CREDENTIALS, creds.as_bytes());
    put(root, "home/amika/.bashrc", b"export EDITOR=vi\n");
    put(root, "usr/bin/tool", &[0x7f, b'E', b'L', b'F', 0, 1, 2, 3]);
    fs::create_dir_all(root.join("proc")).unwrap();
    let tree = TreeRoot::open(root).unwrap();
    (dir, tree)
}

fn scrubbed_tree() -> (TempDir, TreeRoot) {
    let (dir, tree) = injected_tree();
    scrub(&tree, &ledger()).expect("scrub");
    (dir, tree)
}

/// Asserts that neither the message nor the `Debug` form of `err` holds any value.
fn assert_no_values(err: &ScrubError) {
    let shown = format!("{err} / {err:?}");
    for value in [CODEX, OPENAI, GITHUB] {
        assert!(!shown.contains(value), "a value leaked into: {shown}");
    }
}

#[test]
fn snapshot_scrub_removes_injected_files_env_and_tokens() {
    let (dir, tree) = injected_tree();
    let root = dir.path();

    let report = scrub(&tree, &ledger()).unwrap();

    assert_eq!(report.files_deleted, [format!("/{AUTH_JSON}")]);
    assert!(report.env_restored);
    let cleaned = [format!("/{REPO_CONFIG}"), format!("/{CREDENTIALS}")];
    assert_eq!(report.git_configs_cleaned, cleaned);
    assert!(!root.join(AUTH_JSON).exists());

    let env = root.join("etc/environment");
    assert_eq!(fs::read_to_string(&env).unwrap(), BASELINE);
    let meta = fs::metadata(&env).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o644, 0, 0)
    );

    let config = fs::read_to_string(root.join(REPO_CONFIG)).unwrap();
    assert_eq!(config, repo_config("https://github.com/o/app.git"));
    let creds = fs::read_to_string(root.join(CREDENTIALS)).unwrap();
    assert_eq!(creds, "https://bob:pw9@gitlab.com\n");

    let checked = verify(&tree, &ledger(), &ChangedFiles::All).unwrap();
    assert_eq!(checked.files_scanned, 6, "{checked:?}");
    assert!(checked.bytes_scanned > 0);

    // A second scrub finds nothing left to do.
    let again = scrub(&tree, &ledger()).unwrap();
    assert_eq!(again, ScrubReport::default());
}

#[test]
fn git_files_keep_their_owner_and_an_emptied_credential_store_goes() {
    let (dir, tree) = injected_tree();
    let root = dir.path();
    let only_ours = format!("https://x-access-token:{GITHUB}@github.com\n");
    put(root, CREDENTIALS, only_ours.as_bytes());
    std::os::unix::fs::chown(root.join(REPO_CONFIG), Some(1000), Some(1000)).unwrap();

    scrub(&tree, &ledger()).unwrap();

    assert!(!root.join(CREDENTIALS).exists());
    let meta = fs::metadata(root.join(REPO_CONFIG)).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
}

#[test]
fn a_copied_value_fails_verification_naming_file_and_secret() {
    let (dir, tree) = scrubbed_tree();
    put(
        dir.path(),
        "home/amika/notes.txt",
        format!("saved: {CODEX}\n").as_bytes(),
    );

    let err = verify(&tree, &ledger(), &ChangedFiles::All).unwrap_err();

    let ScrubError::ValueFound { secret, form, path } = &err else {
        panic!("expected a found value, got {err}");
    };
    assert_eq!((secret.as_str(), *form), ("codex", "raw"));
    assert_eq!(path, Path::new("/home/amika/notes.txt"));
    let message = err.to_string();
    assert!(
        message.contains("codex") && message.contains("/home/amika/notes.txt"),
        "{message}"
    );
    assert_no_values(&err);
}

#[test]
fn base64_of_a_value_is_found() {
    let (dir, tree) = scrubbed_tree();
    let mut padded = base64(OPENAI.as_bytes(), STANDARD);
    padded.extend_from_slice(b"=\n");
    put(dir.path(), "home/amika/.cache/blob", &padded);

    let err = verify(&tree, &ledger(), &ChangedFiles::All).unwrap_err();

    assert!(
        matches!(&err, ScrubError::ValueFound { secret, form: "base64", .. } if secret == "openai"),
        "{err}"
    );
    assert_no_values(&err);
}

#[test]
fn a_value_split_across_the_chunk_boundary_is_found() {
    let (dir, tree) = scrubbed_tree();
    let mut big = vec![b'x'; CHUNK - GITHUB.len() / 2];
    big.extend_from_slice(GITHUB.as_bytes());
    big.extend_from_slice(&[b'y'; 4096]);
    put(dir.path(), "var/log/big.log", &big);
    let changed = ChangedFiles::Paths(vec![PathBuf::from("var/log/big.log")]);

    let err = verify(&tree, &ledger(), &changed).unwrap_err();

    assert!(
        matches!(&err, ScrubError::ValueFound { secret, .. } if secret == "github"),
        "{err}"
    );
}

#[test]
fn verification_fails_closed() {
    let (dir, tree) = scrubbed_tree();
    let root = dir.path();

    // A dangling symlink at an injected path still counts as the path surviving.
    symlink("/nowhere", root.join(AUTH_JSON)).unwrap();
    let err = verify(&tree, &ledger(), &ChangedFiles::All).unwrap_err();
    assert!(matches!(err, ScrubError::Survived { .. }), "{err}");
    fs::remove_file(root.join(AUTH_JSON)).unwrap();

    // A changed file that is gone was never scanned, unless the scrub removed it.
    let missing = ChangedFiles::Paths(vec![PathBuf::from("home/amika/gone.txt")]);
    let err = verify(&tree, &ledger(), &missing).unwrap_err();
    assert!(
        matches!(err, ScrubError::ChangedFileMissing { .. }),
        "{err}"
    );
    let removed = ChangedFiles::Paths(vec![PathBuf::from(AUTH_JSON)]);
    verify(&tree, &ledger(), &removed).unwrap();
    let outside = ChangedFiles::Paths(vec![PathBuf::from("../etc/passwd")]);
    assert!(verify(&tree, &ledger(), &outside).is_err());

    // A value hidden in a symlink target is found too.
    symlink(GITHUB, root.join("home/amika/link")).unwrap();
    let err = verify(&tree, &ledger(), &ChangedFiles::All).unwrap_err();
    assert!(matches!(err, ScrubError::ValueFound { .. }), "{err}");
    fs::remove_file(root.join("home/amika/link")).unwrap();

    // An environment that is not exactly the baseline fails.
    put(
        root,
        "etc/environment",
        format!("{BASELINE}EXTRA=1\n").as_bytes(),
    );
    let err = verify(&tree, &ledger(), &ChangedFiles::All).unwrap_err();
    assert!(matches!(err, ScrubError::EnvironmentNotRestored), "{err}");

    // FIFOs and devices are never opened, so they cannot hang the scan.
    put(root, "etc/environment", BASELINE.as_bytes());
    nix::unistd::mkfifo(&root.join("home/amika/pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    verify(&tree, &ledger(), &ChangedFiles::All).unwrap();
}

#[test]
fn symlinks_planted_in_the_sandbox_never_reach_the_host() {
    let (dir, tree) = injected_tree();
    let root = dir.path();
    let host = tempfile::tempdir().unwrap();
    let host_auth = host.path().join("auth.json");
    fs::write(&host_auth, CODEX).unwrap();
    let host_config = host.path().join("gitconfig");
    let url = format!("https://{GITHUB}@github.com/o/r.git");
    fs::write(&host_config, repo_config(&url)).unwrap();

    // The injected file's directory becomes a link to the host directory, and git's
    // user configuration a link to a host file holding a token.
    fs::remove_dir_all(root.join("home/amika/.codex")).unwrap();
    symlink(host.path(), root.join("home/amika/.codex")).unwrap();
    symlink(&host_config, root.join("home/amika/.gitconfig")).unwrap();
    fs::remove_file(root.join("etc/environment")).unwrap();
    symlink(
        host.path().join("environment"),
        root.join("etc/environment"),
    )
    .unwrap();

    let report = scrub(&tree, &ledger()).unwrap();
    let checked = verify(&tree, &ledger(), &ChangedFiles::All);

    assert!(report.files_deleted.is_empty(), "{report:?}");
    assert_eq!(fs::read_to_string(&host_auth).unwrap(), CODEX);
    assert_eq!(fs::read_to_string(&host_config).unwrap(), repo_config(&url));
    assert!(!host.path().join("environment").exists());
    assert!(fs::symlink_metadata(root.join("etc/environment"))
        .unwrap()
        .is_file());
    checked.unwrap();
}

/// Unmounts the test pool when the test ends, however it ends.
struct Unmount(Option<PathBuf>);

impl Drop for Unmount {
    fn drop(&mut self) {
        let Some(mountpoint) = self.0.take() else {
            return;
        };
        let umount = command::find_tool("umount").expect("umount");
        if let Err(err) = command::run(&umount, &[mountpoint.as_os_str()]) {
            eprintln!("cleanup: {err}");
        }
    }
}

#[test]
fn btrfs_change_tracking_lists_exactly_what_changed_after_the_generation() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let pool = pool::prepare(dir.path(), Some(300 << 20)).expect("a loop-mounted btrfs pool");
    let _unmount = match pool.origin {
        PoolOrigin::LoopImage { .. } => Unmount(Some(pool.mountpoint.clone())),
        PoolOrigin::StateDir => Unmount(None),
    };
    let sandbox = pool.mountpoint.join("sandbox");
    libbtrfsutil::create_subvolume(&sandbox).unwrap();
    put(&sandbox, "etc/environment", BASELINE.as_bytes());
    put(&sandbox, "untouched.txt", b"base image file\n");
    put(&sandbox, "docs/old file.txt", b"first version\n");
    put(&sandbox, "home/amika/.bashrc", b"export EDITOR=vi\n");
    libbtrfsutil::sync(&sandbox).unwrap();
    let generation = subvolume_generation(&sandbox).unwrap();

    // Injection, then the user's work: the injected file is moved away, one file is
    // changed and one added.
    put(&sandbox, AUTH_JSON, CODEX.as_bytes());
    libbtrfsutil::sync(&sandbox).unwrap();
    fs::create_dir_all(sandbox.join("home/amika/stash")).unwrap();
    fs::rename(
        sandbox.join(AUTH_JSON),
        sandbox.join("home/amika/stash/moved.json"),
    )
    .unwrap();
    let mut old = fs::read(sandbox.join("docs/old file.txt")).unwrap();
    old.extend_from_slice(b"second version\n");
    fs::write(sandbox.join("docs/old file.txt"), old).unwrap();
    put(&sandbox, "docs/new file.txt", &vec![b'n'; 200_000]);
    libbtrfsutil::sync(&sandbox).unwrap();
    let capture = pool.mountpoint.join("capture");
    libbtrfsutil::CreateSnapshotOptions::new()
        .create(&sandbox, &capture)
        .unwrap();

    let changed = btrfs_changed_since(&capture, generation).unwrap();

    let expected = [
        "docs/new file.txt",
        "docs/old file.txt",
        "home/amika/stash/moved.json",
    ];
    assert_eq!(changed, expected.map(PathBuf::from));
    {
        let tree = TreeRoot::open(&capture).unwrap();
        scrub(&tree, &ledger()).unwrap();
        let err = verify(&tree, &ledger(), &ChangedFiles::Paths(changed)).unwrap_err();
        assert!(
            matches!(&err, ScrubError::ValueFound { path, .. }
                if path == Path::new("/home/amika/stash/moved.json")),
            "{err}"
        );
    }
    assert!(subvolume_generation(&capture).unwrap() >= generation);
}
