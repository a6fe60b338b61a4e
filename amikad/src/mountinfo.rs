//! `/proc/self/mountinfo`: the mounts the kernel lists for this process, for the embedded
//! pool (is our image mounted here already?) and for cgroup discovery (where are the
//! hierarchies?).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// Where the kernel lists the calling process's mounts.
pub const PATH: &str = "/proc/self/mountinfo";

/// One line of mountinfo, reduced to the fields the daemon reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted.
    pub point: PathBuf,
    /// The file system type, e.g. `btrfs` or `cgroup2`.
    pub fstype: String,
    /// The mount source, e.g. `/dev/loop0`.
    pub source: String,
    /// The per-superblock options, e.g. `rw` and, for cgroup v1, the controllers.
    pub super_options: Vec<String>,
}

/// The mounts listed in a mountinfo text, in order (a later mount at the same point lies on
/// top of an earlier one); lines of another shape are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

/// One line. Fields: id, parent, dev, root, mount point, options, optional fields, `-`,
/// file system type, source, super options.
pub fn parse_line(line: &str) -> Option<Mount> {
    // Spaces inside fields are escaped as \040, so " - " only ever ends the optional fields.
    let (left, right) = line.split_once(" - ")?;
    let point = left.split(' ').nth(4)?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let source = right.next()?;
    let super_options = right.next()?;
    Some(Mount {
        point: PathBuf::from(OsString::from_vec(unescape(point))),
        fstype: fstype.to_owned(),
        source: String::from_utf8_lossy(&unescape(source)).into_owned(),
        super_options: super_options.split(',').map(str::to_owned).collect(),
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\134` for a backslash, ...).
fn unescape(field: &str) -> Vec<u8> {
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
    out
}

fn octal(digits: &[u8]) -> Option<u8> {
    let value = digits.iter().try_fold(0u32, |acc, d| {
        (b'0'..=b'7')
            .contains(d)
            .then(|| acc * 8 + u32::from(d - b'0'))
    })?;
    u8::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_parsed_and_unescaped() {
        let line = "97 29 0:52 / /var/lib/my\\040state/pool rw,noatime shared:50 master:1 - \
                    btrfs /dev/loop0 rw,space_cache=v2,subvolid=5,subvol=/";
        let mount = parse_line(line).unwrap();
        assert_eq!(mount.point, PathBuf::from("/var/lib/my state/pool"));
        assert_eq!(mount.source, "/dev/loop0");
        assert_eq!(mount.fstype, "btrfs");
        let no_optional = "22 1 0:21 / /proc rw,nosuid - proc proc rw";
        assert_eq!(parse_line(no_optional).unwrap().source, "proc");
        assert_eq!(parse_line("garbage"), None);
        assert_eq!(unescape("a\\134b\\011c\\"), b"a\\b\tc\\");
    }
}
