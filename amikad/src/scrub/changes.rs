//! Which files of a btrfs subvolume hold data written after a given generation, so that
//! verification can scan only those instead of the whole tree.
//!
//! `btrfs subvolume find-new` lists every file extent whose generation is at least the one
//! asked for, with the file's path. An extent keeps its generation when its file is renamed
//! or reflink-copied, so a file renamed since is listed under its new name only if its data
//! was written after the generation. The generation must therefore be recorded before the
//! first secret is injected: everything that holds injected data is then listed, wherever
//! it has moved.
//!
//! Files without data (empty files, directories, devices), extended attributes and file
//! names are not listed.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::command;

use super::{ScrubError, TreeRoot};

/// The current generation of the subvolume at `path`: the transaction that last changed
/// it. Record it when a sandbox is created, before anything is injected, and pass it to
/// [`btrfs_changed_since`] later.
pub fn subvolume_generation(path: &Path) -> Result<u64, ScrubError> {
    libbtrfsutil::subvolume_info(path)
        .map(|info| info.generation())
        .map_err(|source| ScrubError::Generation {
            path: path.to_path_buf(),
            source,
        })
}

/// The files of the subvolume at `capture_path` whose data was written after generation
/// `generation` (as [`subvolume_generation`] returned it), relative to the subvolume,
/// sorted and without repeats.
///
/// Each listed path is checked to still name the inode `find-new` reported. A file name
/// holding a newline could otherwise make a line look like two, one naming some other
/// file; such output is an error, and the caller can fall back to scanning everything.
pub fn btrfs_changed_since(
    capture_path: &Path,
    generation: u64,
) -> Result<Vec<PathBuf>, ScrubError> {
    let fail = |source| ScrubError::FindNew {
        path: capture_path.to_path_buf(),
        source,
    };
    let btrfs = command::find_tool("btrfs").map_err(fail)?;
    // find-new includes the generation it is given, and data written after `generation`
    // was recorded belongs to a later transaction.
    let since = generation.saturating_add(1).to_string();
    let args = [
        OsStr::new("subvolume"),
        OsStr::new("find-new"),
        capture_path.as_os_str(),
        OsStr::new(&since),
    ];
    let output = command::run(&btrfs, &args).map_err(fail)?;

    let bad_output = |line, reason: String| ScrubError::FindNewOutput {
        path: capture_path.to_path_buf(),
        line,
        reason,
    };
    let extents = parse_find_new(&output.stdout).map_err(|(line, why)| bad_output(line, why))?;

    let tree = TreeRoot::open(capture_path).map_err(|source| ScrubError::Io {
        action: "open the capture",
        path: capture_path.to_path_buf(),
        source,
    })?;
    let mut checked = BTreeSet::new();
    for extent in extents {
        if checked.contains(&extent.path) {
            continue;
        }
        let meta = tree.symlink_metadata(&extent.path).map_err(|e| {
            bad_output(extent.line, format!("the listed file cannot be found: {e}"))
        })?;
        if meta.ino() != extent.inode {
            let why = format!(
                "the listed path is inode {}, not {}",
                meta.ino(),
                extent.inode
            );
            return Err(bad_output(extent.line, why));
        }
        checked.insert(extent.path);
    }
    Ok(checked.into_iter().collect())
}

/// One line of `find-new` output that names a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Extent {
    /// The 1-based line number.
    line: usize,
    inode: u64,
    path: PathBuf,
}

/// The words of a file line, `None` standing for a number:
/// `inode N file offset N len N disk start N offset N gen N flags FLAGS PATH`.
const LINE_WORDS: [Option<&str>; 15] = [
    Some("inode"),
    None,
    Some("file"),
    Some("offset"),
    None,
    Some("len"),
    None,
    Some("disk"),
    Some("start"),
    None,
    Some("offset"),
    None,
    Some("gen"),
    None,
    Some("flags"),
];

/// Parses `find-new` output: file lines, then `transid marker was N` as the last line.
/// An error carries the line number and what was wrong.
fn parse_find_new(stdout: &[u8]) -> Result<Vec<Extent>, (usize, String)> {
    let mut extents = Vec::new();
    let mut marker = false;
    let text = stdout.strip_suffix(b"\n").unwrap_or(stdout);
    let lines = text.split(|&b| b == b'\n').filter(|_| !text.is_empty());
    for (index, line) in lines.enumerate() {
        let number = index + 1;
        if marker {
            return Err((number, "output continues after the transid marker".into()));
        }
        if let Some(rest) = line.strip_prefix(b"transid marker was ") {
            parse_number(rest).ok_or((number, "the transid marker has no number".into()))?;
            marker = true;
            continue;
        }
        let (inode, path) = parse_file_line(line).map_err(|why| (number, why))?;
        extents.push(Extent {
            line: number,
            inode,
            path,
        });
    }
    if !marker {
        return Err((0, "the output ends without a transid marker".into()));
    }
    Ok(extents)
}

/// The inode and path of one file line.
fn parse_file_line(line: &[u8]) -> Result<(u64, PathBuf), String> {
    // The path is all that follows the flags word, spaces included.
    let mut words = line.splitn(LINE_WORDS.len() + 2, |&b| b == b' ');
    let mut inode = None;
    for expected in LINE_WORDS {
        let word = words.next().ok_or("the line is too short")?;
        match expected {
            Some(keyword) if word != keyword.as_bytes() => {
                return Err(format!("expected the word {keyword:?}"));
            }
            Some(_) => {}
            None => {
                let value = parse_number(word).ok_or("expected a number")?;
                inode.get_or_insert(value);
            }
        }
    }
    let flags = words.next().ok_or("the flags are missing")?;
    let flag_chars = |b: &u8| b.is_ascii_uppercase() || *b == b'|' || *b == b'_';
    if flags.is_empty() || !flags.iter().all(flag_chars) {
        return Err("the flags word is not a flag list".into());
    }
    let path = PathBuf::from(OsStr::from_bytes(
        words.next().ok_or("the path is missing")?,
    ));
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain || path.as_os_str().is_empty() || path.as_os_str().as_bytes().ends_with(b"/") {
        return Err("the path is not relative to the subvolume".into());
    }
    Ok((inode.ok_or("the inode is missing")?, path))
}

fn parse_number(word: &[u8]) -> Option<u64> {
    if word.is_empty() || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(word).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_lines_and_the_marker_are_parsed() {
        let out =
            b"inode 258 file offset 0 len 3 disk start 0 offset 0 gen 7 flags INLINE a b/c d.txt\n\
inode 259 file offset 0 len 102400 disk start 13631488 offset 0 gen 9 flags NONE big\n\
inode 259 file offset 102400 len 4096 disk start 0 offset 0 gen 9 flags COMPRESS|PREALLOC big\n\
transid marker was 9\n";
        let extents = parse_find_new(out).unwrap();
        let found: Vec<(u64, &str)> = extents
            .iter()
            .map(|e| (e.inode, e.path.to_str().unwrap()))
            .collect();
        assert_eq!(found, [(258, "a b/c d.txt"), (259, "big"), (259, "big")]);
        assert_eq!(extents[1].line, 2);
        assert_eq!(parse_find_new(b"transid marker was 12\n").unwrap(), []);
    }

    #[test]
    fn unexpected_output_is_refused_with_its_line() {
        let file = |inode: &str, path: &str| {
            format!(
                "inode {inode} file offset 0 len 1 disk start 0 offset 0 gen 9 flags NONE {path}\n"
            )
        };
        let marker = "transid marker was 3\n";
        let cases = [
            (String::new(), 0),
            (file("1", "x"), 0),
            (format!("garbage\n{marker}"), 1),
            (format!("{marker}inode 1\n"), 2),
            (format!("{}{marker}", file("x", "x")), 1),
            (format!("{}{marker}", file("1", "/etc/x")), 1),
            (format!("{}{marker}", file("1", "a/../b")), 1),
        ];
        for (out, line) in cases {
            let (found, _) = parse_find_new(out.as_bytes()).unwrap_err();
            assert_eq!(found, line, "{out}");
        }
    }
}
