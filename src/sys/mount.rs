//! The parts of the mount API that nix and rustix lack.

use std::os::fd::{AsRawFd, BorrowedFd};

/// struct mount_attr from linux/mount.h.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const AT_RECURSIVE: libc::c_uint = 0x8000;

/// mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE): set/clear attributes on the whole
/// mount tree at `fd`.
pub fn setattr_recursive(fd: BorrowedFd, set: u64, clr: u64) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `attr` is a valid mount_attr for the call and its size is passed with it; the
    // empty path is a NUL-terminated static string.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret == -1 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}
