//! After pivot_root: masked paths (hidden) and read-only paths.

use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sys::stat::SFlag;

use super::mount::locked_flags;
use crate::{Context, Error, Result};

/// Hides `path`: a directory under an empty read-only tmpfs, anything else under /dev/null.
/// A path that does not exist is skipped.
pub fn mask(path: &Path) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::os(format!("maskedPaths {}", path.display()), e)),
    };
    if meta.is_dir() {
        return mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .with_ctx(|| format!("maskedPaths {}: mount an empty tmpfs", path.display()));
    }
    check_dev_null()?;
    mount(
        Some("/dev/null"),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_ctx(|| format!("maskedPaths {}: bind /dev/null", path.display()))
}

/// The container's /dev/null must really be the null device before it masks anything: a
/// rootfs could ship a regular file or a link there.
fn check_dev_null() -> Result<()> {
    let st = nix::sys::stat::lstat("/dev/null").ctx("lstat /dev/null")?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_chr || nix::sys::stat::major(st.st_rdev) != 1 || nix::sys::stat::minor(st.st_rdev) != 3 {
        return Err(Error::Other(
            "/dev/null is not the null device (1:3); refusing to mask with it".into(),
        ));
    }
    Ok(())
}

/// Makes `path` read-only (keeping nosuid/nodev/noexec). A path that does not exist is skipped.
pub fn make_readonly(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::os(format!("readonlyPaths {}", path.display()), e)),
        Ok(_) => {}
    }
    mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_ctx(|| format!("readonlyPaths {}: bind", path.display()))?;
    remount_readonly(path, MsFlags::MS_REC)
}

/// Remounts the mount at `path` read-only, repeating the flags it already has.
pub fn remount_readonly(path: &Path, extra: MsFlags) -> Result<()> {
    let keep = locked_flags(path)?;
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep | extra,
        None::<&str>,
    )
    .with_ctx(|| format!("remount {} read-only", path.display()))
}
