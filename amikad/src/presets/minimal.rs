//! The `minimal` preset: a busybox root file system built in seconds.
//!
//! The tree is assembled from the host's own busybox binary, so building it
//! needs no network. That binary must be statically linked: the sandbox has
//! no C library or dynamic loader for it to find.

use std::fs::{self, Permissions};
use std::io;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::command::{self, CommandError};

/// Where busybox lives inside the tree; every applet links to it.
const BUSYBOX_TARGET: &str = "/bin/busybox";

/// The sandbox user's ids, fixed by the product contract.
const AMIKA_UID: u32 = 1000;
const AMIKA_GID: u32 = 1000;

/// ELF program header type of the dynamic loader request.
const PT_INTERP: u64 = 3;

/// Directories of the tree, their modes, and whether `amika` owns them.
/// Parents come before children.
const DIRS: &[(&str, u32, bool)] = &[
    ("bin", 0o755, false),
    ("sbin", 0o755, false),
    ("usr", 0o755, false),
    ("usr/bin", 0o755, false),
    ("usr/sbin", 0o755, false),
    ("dev", 0o755, false),
    ("proc", 0o755, false),
    ("sys", 0o755, false),
    ("tmp", 0o1777, false),
    ("run", 0o755, false),
    ("root", 0o700, false),
    ("etc", 0o755, false),
    ("var", 0o755, false),
    ("var/log", 0o755, false),
    ("home", 0o755, false),
    ("home/amika", 0o755, true),
    ("home/amika/workspace", 0o755, true),
];

/// Files under `/etc` with their modes.
const ETC_FILES: &[(&str, &str, u32)] = &[
    (
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\namika:x:1000:1000:amika:/home/amika:/bin/sh\n",
        0o644,
    ),
    ("etc/group", "root:x:0:\namika:x:1000:\n", 0o644),
    // Both accounts are locked: sessions are started by the daemon, not login.
    (
        "etc/shadow",
        "root:!::0:99999:7:::\namika:!::0:99999:7:::\n",
        0o600,
    ),
    // A placeholder: a running sandbox gets its own name as hostname.
    ("etc/hostname", "amika\n", 0o644),
    // The system-wide environment; secrets injected as variables are appended to it in a
    // marked block, and a scrub restores exactly this content.
    ("etc/environment", "LANG=C.UTF-8\n", 0o644),
    (
        "etc/os-release",
        "NAME=\"amika minimal\"\nID=amika-minimal\nPRETTY_NAME=\"amika minimal (busybox)\"\n",
        0o644,
    ),
];

/// Why the minimal tree could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    /// busybox is missing, or listing its applets failed.
    #[error("the minimal preset needs busybox: {0}")]
    Busybox(#[from] CommandError),

    /// The busybox found is not an ELF executable.
    #[error(
        "{} is not an ELF executable; install the Debian package busybox-static",
        .path.display()
    )]
    NotElf {
        /// The file that was found.
        path: PathBuf,
    },

    /// The busybox found needs a dynamic loader the sandbox does not have.
    #[error(
        "{} is dynamically linked and cannot run inside a sandbox; \
         install the Debian package busybox-static",
        .path.display()
    )]
    Dynamic {
        /// The file that was found.
        path: PathBuf,
    },

    /// `busybox --list-full` named a path outside the usual relative form.
    #[error("busybox lists an applet at an unusable path: {line:?}")]
    BadApplet {
        /// The offending output line.
        line: String,
    },

    /// Reading busybox or writing the tree failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being attempted, e.g. "write".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Fills `root`, an empty directory the daemon owns, with the minimal tree.
pub fn populate(root: &Path) -> Result<(), PresetError> {
    let busybox = command::find_tool("busybox")?;
    let binary = fs::read(&busybox).map_err(|source| io_error("read", &busybox, source))?;
    check_static(&busybox, &binary)?;

    for (dir, mode, owned) in DIRS {
        let path = root.join(dir);
        make_dir(&path, *mode)?;
        if *owned {
            chown(&path, Some(AMIKA_UID), Some(AMIKA_GID))
                .map_err(|source| io_error("change owner of", &path, source))?;
        }
    }

    let target = root.join(BUSYBOX_TARGET.trim_start_matches('/'));
    write_file(&target, &binary, 0o755)?;
    link_applets(root, &busybox)?;

    for (file, content, mode) in ETC_FILES {
        write_file(&root.join(file), content.as_bytes(), *mode)?;
    }
    tracing::debug!(root = %root.display(), "minimal tree populated");
    Ok(())
}

/// Refuses a busybox that asks for a dynamic loader.
fn check_static(path: &Path, binary: &[u8]) -> Result<(), PresetError> {
    match has_interpreter(binary) {
        Some(false) => Ok(()),
        Some(true) => Err(PresetError::Dynamic {
            path: path.to_owned(),
        }),
        None => Err(PresetError::NotElf {
            path: path.to_owned(),
        }),
    }
}

/// Whether an ELF image has a `PT_INTERP` program header, or `None` if the
/// bytes are not an ELF image this reader understands.
fn has_interpreter(elf: &[u8]) -> Option<bool> {
    if elf.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match elf.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match elf.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let read = |offset: usize, len: usize| read_uint(elf, offset, len, little);

    // Offsets of e_phoff, e_phentsize and e_phnum differ between classes.
    let (table, entry_size, count) = if wide {
        (read(0x20, 8)?, read(0x36, 2)?, read(0x38, 2)?)
    } else {
        (read(0x1c, 4)?, read(0x2a, 2)?, read(0x2c, 2)?)
    };
    let table = usize::try_from(table).ok()?;
    let entry_size = usize::try_from(entry_size).ok()?;

    for index in 0..usize::try_from(count).ok()? {
        let entry = table.checked_add(index.checked_mul(entry_size)?)?;
        if read(entry, 4)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

fn read_uint(bytes: &[u8], offset: usize, len: usize, little: bool) -> Option<u64> {
    let field = bytes.get(offset..offset.checked_add(len)?)?;
    let fold = |value: u64, byte: &u8| value << 8 | u64::from(*byte);
    Some(if little {
        field.iter().rev().fold(0, fold)
    } else {
        field.iter().fold(0, fold)
    })
}

/// Links every applet busybox was built with to `/bin/busybox`, at the
/// path busybox itself considers canonical.
fn link_applets(root: &Path, busybox: &Path) -> Result<(), PresetError> {
    let output = command::run(busybox, &["--list-full".as_ref()])?;
    let listing = String::from_utf8_lossy(&output.stdout);

    let mut count = 0;
    for line in listing
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
    {
        let relative = Path::new(line);
        if !relative
            .components()
            .all(|part| matches!(part, Component::Normal(_)))
        {
            return Err(PresetError::BadApplet {
                line: line.to_owned(),
            });
        }
        if relative == Path::new(BUSYBOX_TARGET.trim_start_matches('/')) {
            continue;
        }
        if let Some(parent) = relative.parent() {
            make_dir_all(root, parent)?;
        }
        let link = root.join(relative);
        match symlink(BUSYBOX_TARGET, &link) {
            Ok(()) => count += 1,
            // Some builds list an applet twice; the first link stands.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && link.is_symlink() => {}
            Err(source) => return Err(io_error("create link", &link, source)),
        }
    }
    tracing::debug!(applets = count, "linked busybox applets");
    Ok(())
}

/// Creates each missing directory from `root` down to `relative`, mode 0755.
fn make_dir_all(root: &Path, relative: &Path) -> Result<(), PresetError> {
    let mut path = root.to_owned();
    for part in relative.components() {
        path.push(part);
        if !path.is_dir() {
            make_dir(&path, 0o755)?;
        }
    }
    Ok(())
}

/// Creates a directory (or accepts an existing one) with exactly `mode`;
/// the explicit chmod keeps the daemon's umask out of the tree.
fn make_dir(path: &Path, mode: u32) -> Result<(), PresetError> {
    match fs::create_dir(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {}
        Err(source) => return Err(io_error("create directory", path, source)),
    }
    fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(|source| io_error("set permissions of", path, source))
}

fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), PresetError> {
    fs::write(path, content).map_err(|source| io_error("write", path, source))?;
    fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(|source| io_error("set permissions of", path, source))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> PresetError {
    PresetError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::fs::MetadataExt;

    /// A little-endian ELF64 header followed by one program header.
    fn fake_elf64(program_type: u32) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&program_type.to_le_bytes());
        elf
    }

    /// A big-endian ELF32 header followed by two program headers.
    fn fake_elf32_be(second_type: u32) -> Vec<u8> {
        let mut elf = vec![0u8; 52 + 2 * 32];
        elf[..6].copy_from_slice(b"\x7fELF\x01\x02");
        elf[0x1c..0x20].copy_from_slice(&52u32.to_be_bytes());
        elf[0x2a..0x2c].copy_from_slice(&32u16.to_be_bytes());
        elf[0x2c..0x2e].copy_from_slice(&2u16.to_be_bytes());
        elf[52..56].copy_from_slice(&1u32.to_be_bytes());
        elf[84..88].copy_from_slice(&second_type.to_be_bytes());
        elf
    }

    #[test]
    fn loader_request_is_found_in_either_elf_class() {
        assert_eq!(has_interpreter(&fake_elf64(3)), Some(true));
        assert_eq!(has_interpreter(&fake_elf64(1)), Some(false));
        assert_eq!(has_interpreter(&fake_elf32_be(3)), Some(true));
        assert_eq!(has_interpreter(&fake_elf32_be(6)), Some(false));
    }

    #[test]
    fn truncated_or_foreign_files_are_not_elf() {
        assert_eq!(has_interpreter(b"#!/bin/sh\n"), None);
        assert_eq!(has_interpreter(&fake_elf64(3)[..66]), None);
        let mut bad_class = fake_elf64(1);
        bad_class[4] = 9;
        assert_eq!(has_interpreter(&bad_class), None);
    }

    #[test]
    fn dynamic_busybox_is_refused_naming_the_static_package() {
        let err = check_static(Path::new("/usr/bin/busybox"), &fake_elf64(3)).unwrap_err();
        assert!(matches!(err, PresetError::Dynamic { .. }));
        assert!(err.to_string().contains("busybox-static"), "{err}");
    }

    #[test]
    fn minimal_tree_boots_a_shell_that_knows_the_amika_user() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test chowns and chroots and must run as root"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        populate(root).expect("populate the minimal tree");

        assert_eq!(
            fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new(BUSYBOX_TARGET)
        );
        assert_eq!(
            fs::read_link(root.join("usr/bin/env")).unwrap(),
            Path::new(BUSYBOX_TARGET)
        );
        let busybox = fs::symlink_metadata(root.join("bin/busybox")).unwrap();
        assert!(busybox.is_file());
        assert_eq!(busybox.mode() & 0o7777, 0o755);

        let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert!(
            passwd.contains("root:x:0:0:root:/root:/bin/sh\n"),
            "{passwd}"
        );
        assert!(
            passwd.contains("amika:x:1000:1000:amika:/home/amika:/bin/sh\n"),
            "{passwd}"
        );

        for dir in ["home/amika", "home/amika/workspace"] {
            let meta = fs::metadata(root.join(dir)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (AMIKA_UID, AMIKA_GID), "{dir}");
        }
        assert_eq!(
            fs::metadata(root.join("tmp")).unwrap().mode() & 0o7777,
            0o1777
        );
        assert_eq!(
            fs::metadata(root.join("root")).unwrap().mode() & 0o7777,
            0o700
        );

        let chroot = command::find_tool("chroot").unwrap();
        let script = OsStr::new("id -u amika");
        let args = [
            root.as_os_str(),
            OsStr::new("/bin/sh"),
            OsStr::new("-c"),
            script,
        ];
        let output = command::run(&chroot, &args).expect("run id inside the tree");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "1000");
    }
}
