//! The owner, mode, time and extended attributes of one entry, from its header and PAX
//! records.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;

use tar::Entry;

use super::error::Failure;

/// The PAX record prefix that carries one extended attribute.
const XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Owner, mode, time and xattrs of one entry.
pub(super) struct Meta {
    pub(super) uid: u32,
    pub(super) gid: u32,
    /// Permission bits with setuid, setgid and sticky.
    pub(super) mode: u32,
    pub(super) mtime: Mtime,
    /// Extended attributes by full name, such as `user.x` or `security.capability`.
    pub(super) xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Seconds and nanoseconds since the epoch.
#[derive(Clone, Copy)]
pub(super) struct Mtime(pub(super) i64, pub(super) u32);

impl Meta {
    /// Reads the header fields, letting PAX records override them.
    pub(super) fn read<R: Read>(entry: &mut Entry<'_, R>) -> Result<Meta, Failure> {
        let header = entry.header();
        let unreadable = |name: &'static str| {
            move |e| Failure::Rejected(format!("has an unreadable {name} field: {e}"))
        };
        let mut uid = header.uid().map_err(unreadable("uid"))?;
        let mut gid = header.gid().map_err(unreadable("gid"))?;
        let mode = header.mode().map_err(unreadable("mode"))? & 0o7777;
        let mtime = header.mtime().map_err(unreadable("mtime"))?;
        let secs = i64::try_from(mtime).map_err(|_| out_of_range("mtime", mtime))?;
        let mut mtime = Mtime(secs, 0);

        let mut xattrs = Vec::new();
        if let Some(records) = entry.pax_extensions().map_err(Failure::Archive)? {
            for record in records {
                let record = record.map_err(Failure::Archive)?;
                let value = String::from_utf8_lossy(record.value_bytes());
                match record.key_bytes() {
                    b"uid" => uid = parse("uid", &value)?,
                    b"gid" => gid = parse("gid", &value)?,
                    b"mtime" => mtime = pax_time(&value)?,
                    key if key.starts_with(XATTR_PREFIX) => {
                        let name = OsString::from_vec(key[XATTR_PREFIX.len()..].to_vec());
                        xattrs.push((name, record.value_bytes().to_vec()));
                    }
                    _ => {}
                }
            }
        }

        let uid = u32::try_from(uid).map_err(|_| out_of_range("uid", uid))?;
        let gid = u32::try_from(gid).map_err(|_| out_of_range("gid", gid))?;
        Ok(Meta {
            uid,
            gid,
            mode,
            mtime,
            xattrs,
        })
    }
}

/// Parses a PAX time such as `1700000000.123`. The fraction of a time
/// before the epoch is dropped rather than borrowed from the seconds.
fn pax_time(text: &str) -> Result<Mtime, Failure> {
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    let secs = parse("mtime", secs)?;
    let digits: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect();
    let nanos = parse("mtime", &digits)?;
    Ok(if text.starts_with('-') {
        Mtime(secs, 0)
    } else {
        Mtime(secs, nanos)
    })
}

fn parse<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, Failure> {
    text.parse().map_err(|_| out_of_range(name, text))
}

fn out_of_range(name: &str, value: impl std::fmt::Display) -> Failure {
    Failure::Rejected(format!("has a {name} of '{value}', which is out of range"))
}
