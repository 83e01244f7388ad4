//! Paths inside the container's rootfs, resolved and created with pathrs (openat2
//! RESOLVE_IN_ROOT): a symlink in the rootfs, absolute or full of `..`, never leads outside it.
//! Everything here hands back O_PATH handles that the mount code targets by fd.

use std::fs::Permissions;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use pathrs::error::ErrorKind;
use pathrs::{Handle, Root};

use crate::procfs::Proc;

use crate::{Context, Error, Result};

/// Turns a pathrs error into hull's, keeping the errno so callers can match on it.
pub trait PathrsContext<T> {
    fn ctx_in_root(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> PathrsContext<T> for std::result::Result<T, pathrs::error::Error> {
    fn ctx_in_root(self, what: impl FnOnce() -> String) -> Result<T> {
        self.with_ctx(what)
    }
}

fn is_enoent(e: &pathrs::error::Error) -> bool {
    e.kind() == ErrorKind::OsError(Some(libc::ENOENT))
}

/// The rootfs opened for lookups, and where it is in this process's mount tree: how a
/// resolved handle is placed in the container (`location`).
pub struct RootDir {
    root: Root,
    at: PathBuf,
    /// The rootfs as the config names it on the host.
    path: PathBuf,
}

impl std::ops::Deref for RootDir {
    type Target = Root;
    fn deref(&self) -> &Root {
        &self.root
    }
}

impl RootDir {
    /// Opens the rootfs. Open it after the rootfs is bound on itself, so that lookups walk
    /// the container's mount tree and not the one below it.
    pub fn open(path: &Path) -> Result<RootDir> {
        let root = Root::open(path).ctx_in_root(|| format!("open rootfs {}", path.display()))?;
        let at = Proc::get()?.fd_path(&root)?;
        Ok(RootDir {
            root,
            at,
            path: path.to_path_buf(),
        })
    }

    /// Where a host path names something inside the rootfs (lexically: `<rootfs>/data/x`
    /// is `/data/x`), that path in the container; such a path is resolved inside the root,
    /// through whatever the earlier mounts put there.
    pub fn contains(&self, host: &Path) -> Option<PathBuf> {
        let rel = clean(host)
            .strip_prefix(clean(&self.path))
            .ok()?
            .to_path_buf();
        Some(Path::new("/").join(rel))
    }

    /// Where `handle` is in the container: its place in the mount tree (the kernel's, from
    /// the fd, not from the path that was asked for) relative to the rootfs. A symlink in
    /// the rootfs makes this differ from the path resolved.
    pub fn location(&self, handle: impl AsFd) -> Result<PathBuf> {
        let path = Proc::get()?.fd_path(handle)?;
        match path.strip_prefix(&self.at) {
            Ok(rel) => Ok(Path::new("/").join(rel)),
            Err(_) => Err(Error::Other(format!(
                "{} is outside the rootfs {}",
                path.display(),
                self.at.display()
            ))),
        }
    }
}

/// The path relative to the rootfs: `/dev/../dev//pts` stays `/dev/../dev//pts` for the
/// resolver (which handles `..` inside the root), only the leading `/` is dropped.
pub fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::RootDir))
        .collect()
}

/// Lexically cleaned absolute form of a container path, for comparisons such as "is this
/// /dev": `..` cannot climb above `/`, as inside the root.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Resolves an existing path inside the root; `Ok(None)` if it does not exist.
pub fn resolve(root: &Root, path: &Path) -> Result<Option<Handle>> {
    match root.resolve(relative(path)) {
        Ok(h) => Ok(Some(h)),
        Err(e) if is_enoent(&e) => Ok(None),
        Err(e) => Err(e).ctx_in_root(|| format!("resolve {} in rootfs", path.display())),
    }
}

/// How many dangling symlinks creating one path may follow (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// The directory at `path` inside the root, created (with its parents, 0755) if missing.
/// A dangling symlink on the way is followed inside the root and its target created, as
/// runc does (an image's `/var/run -> /run` with no /run yet).
pub fn ensure_dir(root: &Root, path: &Path) -> Result<Handle> {
    ensure_dir_following(root, path, 0)
}

fn ensure_dir_following(root: &Root, path: &Path, links: usize) -> Result<Handle> {
    match root.mkdir_all(relative(path), &Permissions::from_mode(0o755)) {
        Ok(h) => Ok(h),
        Err(e) => {
            let errno = match e.kind() {
                ErrorKind::OsError(Some(errno)) => errno,
                _ => 0,
            };
            if links < MAX_LINKS && (errno == libc::ENOTDIR || errno == libc::ENOENT) {
                if let Some(target) = dangling_link(root, path)? {
                    ensure_dir_following(root, &target, links + 1)?;
                    return ensure_dir_following(root, path, links + 1);
                }
            }
            Err(e).ctx_in_root(|| format!("create directory {} in rootfs", path.display()))
        }
    }
}

/// The in-root target of the first symlink along `path` that points at nothing.
fn dangling_link(root: &Root, path: &Path) -> Result<Option<PathBuf>> {
    let mut prefix = PathBuf::from("/");
    for component in clean(path).components().skip(1) {
        prefix.push(component);
        if root.resolve(relative(&prefix)).is_ok() {
            continue;
        }
        let Ok(target) = root.readlink(relative(&prefix)) else {
            return Ok(None);
        };
        let parent = prefix.parent().unwrap_or(Path::new("/"));
        return Ok(Some(clean(&parent.join(target))));
    }
    Ok(None)
}

/// The file at `path` inside the root, created empty if missing (parents 0755). An existing
/// path of any type is returned as it is: the caller's mount decides if it fits.
pub fn ensure_file(root: &Root, path: &Path) -> Result<Handle> {
    ensure_file_following(root, path, 0)
}

fn ensure_file_following(root: &Root, path: &Path, links: usize) -> Result<Handle> {
    if let Some(h) = resolve(root, path)? {
        return Ok(h);
    }
    let (dir, name) = ensure_parent(root, path)?;
    // O_EXCL: never follow a symlink planted at the last component.
    let created = rustix::fs::openat(
        &dir,
        &name,
        rustix::fs::OFlags::CREATE
            | rustix::fs::OFlags::EXCL
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::from_raw_mode(0o755),
    );
    match created {
        // What we made, from the directory we made it in: the path is not walked again (a
        // racing rename of a directory above it cannot change what we get).
        Ok(_) => {
            return rustix::fs::openat(
                &dir,
                &name,
                rustix::fs::OFlags::PATH
                    | rustix::fs::OFlags::NOFOLLOW
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map(Handle::from_fd)
            .with_ctx(|| format!("open the file created at {}", path.display()));
        }
        // Already there: a dangling symlink (followed inside the root) or a racing creator.
        Err(rustix::io::Errno::EXIST) => {
            if links < MAX_LINKS {
                if let Some(target) = dangling_link(root, path)? {
                    return ensure_file_following(root, &target, links + 1);
                }
            }
        }
        Err(e) => return Err(e).with_ctx(|| format!("create file {} in rootfs", path.display())),
    }
    root.resolve(relative(path))
        .ctx_in_root(|| format!("resolve {} in rootfs", path.display()))
}

/// The parent directory of `path` inside the root (created if missing) and the last
/// component's name, for the *at calls that create devices and symlinks.
pub fn ensure_parent(root: &Root, path: &Path) -> Result<(Handle, PathBuf)> {
    let path = clean(path);
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid(format!("{}: path has no file name", path.display())))?
        .into();
    let parent = path.parent().unwrap_or(Path::new("/"));
    Ok((ensure_dir(root, parent)?, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_stays_under_root() {
        assert_eq!(
            clean(Path::new("/dev/../../dev//pts/")),
            Path::new("/dev/pts")
        );
        assert_eq!(clean(Path::new("dev")), Path::new("/dev"));
        assert_eq!(clean(Path::new("/../..")), Path::new("/"));
        assert_eq!(relative(Path::new("/dev/pts")), Path::new("dev/pts"));
    }
}
