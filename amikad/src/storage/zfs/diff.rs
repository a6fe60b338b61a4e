//! Change tracking through `zfs diff`, where the installed ZFS has it.
//!
//! `zfs diff -FH FROM FS` lists every file of FS that was added, modified or renamed since the
//! earlier snapshot FROM, which may be the origin of FS or of any clone FS descends from. The
//! scrub then reads only those files instead of the whole tree. zfs-fuse has no `diff`, and a
//! ZFS without it (or any answer this module cannot read) means scanning every file: slower,
//! never weaker.
//!
//! Output lines are tab-separated: the change (`+`, `-`, `M`, `R`), the file type (`F` for a
//! regular file, `@` a symlink, `/` a directory, ...), the path under the mount point, and for
//! a rename the new path; a change of link count ends with `(+1)`. Bytes outside printable
//! ASCII, spaces and backslashes in paths are written as a backslash and three octal digits.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

/// Whether the usage text `zfs` printed offers `diff` with the `-F` and `-H` flags.
pub fn supported(usage: &str) -> bool {
    usage.lines().any(|line| {
        let mut words = line.split_whitespace();
        words.next() == Some("diff")
            && words
                .next()
                .is_some_and(|flags| flags.contains('F') && flags.contains('H'))
    })
}

/// The files (relative to `mountpoint`) that `zfs diff -FH` reported as added, modified or
/// renamed, sorted and without repeats. Directories and removed files are left out: the
/// scrub reads file contents and link targets, and a removed file has none.
pub fn parse(stdout: &[u8], mountpoint: &Path) -> Result<Vec<PathBuf>, String> {
    let mut paths = std::collections::BTreeSet::new();
    let text = stdout.strip_suffix(b"\n").unwrap_or(stdout);
    for (index, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let at = |why: &str| format!("line {}: {why}", index + 1);
        let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
        let (change, kind) = match fields.as_slice() {
            [change, kind, ..] if fields.len() >= 3 => (*change, *kind),
            _ => return Err(at("expected a change, a file type and a path")),
        };
        let path = match change {
            b"-" => continue,
            b"+" | b"M" => fields[2],
            b"R" => *fields
                .get(3)
                .ok_or_else(|| at("a rename without its new path"))?,
            _ => return Err(at("unknown change")),
        };
        if kind == b"/" {
            continue;
        }
        let absolute = unescape(path).map_err(|why| at(&why))?;
        paths.insert(relative(&absolute, mountpoint).map_err(|why| at(&why))?);
    }
    Ok(paths.into_iter().collect())
}

/// Undoes the `\NNN` octal escapes of a path.
fn unescape(escaped: &[u8]) -> Result<PathBuf, String> {
    let mut bytes = Vec::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some((&first, tail)) = rest.split_first() {
        if first != b'\\' {
            bytes.push(first);
            rest = tail;
            continue;
        }
        let digits = tail
            .get(..3)
            .ok_or("a backslash without three octal digits")?;
        let text = std::str::from_utf8(digits).map_err(|_| "a bad escape")?;
        let value = u8::from_str_radix(text, 8).map_err(|_| "a bad octal escape")?;
        bytes.push(value);
        rest = &tail[3..];
    }
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}

/// `absolute` relative to `mountpoint`, refusing anything outside it or with `..` in it.
fn relative(absolute: &Path, mountpoint: &Path) -> Result<PathBuf, String> {
    let rel = absolute.strip_prefix(mountpoint).map_err(|_| {
        format!(
            "{} is not under {}",
            absolute.display(),
            mountpoint.display()
        )
    })?;
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    if rel.as_os_str().is_empty() || !plain {
        return Err(format!("{} is not a file of the tree", absolute.display()));
    }
    Ok(rel.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_diff_with_the_flags_we_use_counts() {
        let openzfs = "usage: zfs command args ...\n\
\tdiff [-FHth] <snapshot> [snapshot|filesystem]\n\tdestroy [-fnpRrv] <filesystem|volume>\n";
        assert!(supported(openzfs));
        let zfs_fuse = "usage: zfs command args ...\n\tdestroy [-rRf] <filesystem|volume>\n";
        assert!(!supported(zfs_fuse));
        assert!(!supported("\tdiff [-t] <snapshot> <filesystem>\n"));
    }

    #[test]
    fn changes_become_relative_file_paths() {
        let out = b"M\t/\t/srv/a/staging/c1/home/amika\n\
+\tF\t/srv/a/staging/c1/home/amika/notes.txt\n\
M\tF\t/srv/a/staging/c1/etc/environment\n\
-\tF\t/srv/a/staging/c1/home/amika/.config/tool/token\n\
R\tF\t/srv/a/staging/c1/tmp/old\t/srv/a/staging/c1/home/amika/moved\n\
M\tF\t/srv/a/staging/c1/etc/environment\t(+1)\n\
+\t@\t/srv/a/staging/c1/link\n\
+\tF\t/srv/a/staging/c1/with\\040space\\012and\\134slash\n";
        let paths = parse(out, Path::new("/srv/a/staging/c1")).unwrap();
        let shown: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            shown,
            [
                "etc/environment",
                "home/amika/moved",
                "home/amika/notes.txt",
                "link",
                "with space\nand\\slash",
            ]
        );
        assert_eq!(parse(b"", Path::new("/x")).unwrap(), Vec::<PathBuf>::new());
    }

    #[test]
    fn output_it_cannot_read_is_refused_with_its_line() {
        let mount = Path::new("/srv/a/staging/c1");
        let cases: [&[u8]; 6] = [
            b"M\t/srv/a/staging/c1/x\n",
            b"+\tF\t/srv/a/staging/c1/ok\n?\tF\t/srv/a/staging/c1/x\n",
            b"R\tF\t/srv/a/staging/c1/x\n",
            b"+\tF\t/etc/passwd\n",
            b"+\tF\t/srv/a/staging/c1/../../etc\n",
            b"+\tF\t/srv/a/staging/c1/bad\\09\n",
        ];
        for out in cases {
            let err = parse(out, mount).unwrap_err();
            assert!(err.starts_with("line "), "{err}");
        }
        assert!(parse(b"+\tF\t/srv/a/staging/c1/ok\n?\tF\t/x\n", mount)
            .unwrap_err()
            .starts_with("line 2"));
    }
}
