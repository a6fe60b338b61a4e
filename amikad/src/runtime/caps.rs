//! The capabilities that sandbox processes keep.
//!
//! Root inside a sandbox may install packages and change file owners, but must not load
//! modules, mount, do raw I/O, set the clock or trace processes it did not start. The kept
//! set matches what container runtimes commonly grant by default; every other capability is
//! dropped from the bounding set, so no later exec (setuid binaries included) can regain it.
//! Commands run in a sandbox also lose their inheritable set, which the bounding set does not
//! limit.

use std::io;

/// Capabilities kept, by number (see capabilities(7)).
pub const KEPT: &[(u32, &str)] = &[
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (3, "CAP_FOWNER"),
    (4, "CAP_FSETID"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (8, "CAP_SETPCAP"),
    (10, "CAP_NET_BIND_SERVICE"),
    (13, "CAP_NET_RAW"),
    (18, "CAP_SYS_CHROOT"),
    (27, "CAP_MKNOD"),
    (29, "CAP_AUDIT_WRITE"),
    (31, "CAP_SETFCAP"),
];

/// Drops every capability not in [`KEPT`] from the calling process's bounding set.
///
/// Async-signal-safe (only `prctl` and reads of a static table), so it may run between
/// `fork` and `exec`.
pub fn drop_bounding_set() -> io::Result<()> {
    // 63 covers every capability a current kernel defines; numbers the kernel does not know
    // fail with EINVAL and are simply absent.
    for cap in 0..64u32 {
        if KEPT.iter().any(|(kept, _)| *kept == cap) {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes a capability number and no pointers.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINVAL) {
                continue;
            }
            return Err(err);
        }
    }
    Ok(())
}

/// Whether `cap` is still in the calling process's bounding set.
pub fn in_bounding_set(cap: u32) -> bool {
    // SAFETY: PR_CAPBSET_READ takes a capability number and no pointers.
    unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) == 1 }
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

/// Empties the calling process's inheritable set (and with it the ambient set).
///
/// The bounding set does not limit what inheritable capabilities pass to a program whose file
/// carries inheritable capabilities, so an inherited set must not survive into the sandbox.
pub fn clear_inheritable() -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are valid, writable and of the layout version 3 expects.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if data.iter().all(|slice| slice.inheritable == 0) {
        return Ok(());
    }
    data.iter_mut().for_each(|slice| slice.inheritable = 0);
    // SAFETY: as above; the kernel only reads data here.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
