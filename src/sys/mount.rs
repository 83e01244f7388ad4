//! `mount_setattr(2)`: rustix wraps the rest of the new mount API but not this call.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd};

// `MOUNT_ATTR_*` from linux/mount.h (the libc crate does not carry them).
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
/// `MOUNT_ATTR__ATIME`: the mask that must be cleared to change the access-time mode.
pub const ATIME_MASK: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_IDMAP: u64 = 0x100000;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x200000;

/// `struct mount_attr` (linux/mount.h), MOUNT_ATTR_SIZE_VER0.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    /// One of MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_UNBINDABLE, or 0 to leave it alone.
    pub propagation: u64,
    pub userns_fd: u64,
}

impl MountAttr {
    pub fn is_empty(&self) -> bool {
        *self == MountAttr::default()
    }
}

/// Changes the attributes of the mount at `dirfd`/`path`; with `recursive` of every mount
/// below it too. An empty `path` means the mount `dirfd` refers to itself.
pub fn mount_setattr(
    dirfd: impl AsFd,
    path: &CStr,
    recursive: bool,
    attr: &MountAttr,
) -> io::Result<()> {
    let mut flags = libc::AT_SYMLINK_NOFOLLOW as libc::c_uint;
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH as libc::c_uint;
    }
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: every pointer is valid for the duration of the call, and the size passed is the
    // size of the struct the kernel reads; the kernel does not keep either pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd.as_fd().as_raw_fd(),
            path.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Whether the kernel has mount_setattr(2) (Linux 5.12), asked without side effects: a
/// struct size the kernel refuses (EINVAL) before it looks at anything else. ENOSYS means no
/// (an old kernel, or a seccomp filter around the runtime that hides it).
pub fn mount_setattr_exists() -> bool {
    let attr = MountAttr::default();
    // SAFETY: the pointers are valid; with size 0 the kernel returns before reading them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            c"".as_ptr(),
            0,
            &attr as *const MountAttr,
            0usize,
        )
    };
    !(ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS))
}
