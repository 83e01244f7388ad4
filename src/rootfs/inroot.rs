//! Paths inside the container's rootfs, resolved and created inside it: a symlink in the
//! rootfs, absolute or full of `..`, never leads outside it, and no magic link (/proc/self/fd/N,
//! /proc/PID/root) is followed. Everything here hands back O_PATH handles that the mount code
//! targets by fd.
//!
//! Each lookup is one openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from the rootfs's fd;
//! creating a directory resolves the deepest existing ancestor that way and makes the rest
//! one component at a time with mkdirat and openat(O_NOFOLLOW) from it (pathrs's `mkdir_all`,
//! without its reopening of every result through /proc). Where openat2 is missing (before
//! Linux 5.6) every operation goes to pathrs, which emulates the same rules in user space.

use std::fs::Permissions;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use pathrs::error::ErrorKind;
use pathrs::{Handle, RootRef};
use rustix::fs::{OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::procfs::Proc;

use crate::{Context, Error, Result};

/// Why a lookup failed: the errno of a system call, or pathrs's error on its fallback path.
#[derive(Debug)]
enum Failure {
    Os(Errno),
    Pathrs(pathrs::error::Error),
}

impl Failure {
    fn errno(&self) -> Option<i32> {
        match self {
            Failure::Os(e) => Some(e.raw_os_error()),
            Failure::Pathrs(e) => match e.kind() {
                ErrorKind::OsError(errno) => errno,
                _ => None,
            },
        }
    }

    /// hull's error for it, saying what was being done.
    fn ctx(self, what: impl FnOnce() -> String) -> Error {
        match self {
            Failure::Os(e) => Error::os(what(), std::io::Error::from(e)),
            Failure::Pathrs(e) => crate::error::from_pathrs(what(), e),
        }
    }
}

type Lookup<T> = std::result::Result<T, Failure>;

/// What every lookup in the root resolves with (see the module comment).
fn in_root() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

/// openat2 can name the root itself only as `.`.
fn non_empty(rel: &Path) -> &Path {
    if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    }
}

/// An O_PATH handle for `rel` inside the root; with `follow`, a symlink at the end is followed
/// (inside the root); with `dir`, anything but a directory there is ENOTDIR.
fn lookup(root: BorrowedFd, rel: &Path, follow: bool, dir: bool) -> Lookup<OwnedFd> {
    let mut flags = OFlags::PATH;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    if dir {
        flags |= OFlags::DIRECTORY;
    }
    match crate::openat2::open(root, non_empty(rel), flags, in_root()) {
        Ok(fd) => return Ok(fd),
        Err(Some(e)) => return Err(Failure::Os(e)),
        Err(None) => {}
    }
    let root = RootRef::from_fd(root);
    let found = if follow {
        root.resolve(non_empty(rel))
    } else {
        root.resolve_nofollow(non_empty(rel))
    };
    let fd = OwnedFd::from(found.map_err(Failure::Pathrs)?);
    if dir {
        let st = rustix::fs::fstat(&fd).map_err(Failure::Os)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
            return Err(Failure::Os(Errno::NOTDIR));
        }
    }
    Ok(fd)
}

/// The target of the symlink at `rel` inside the root (the link itself is not followed).
fn readlink(root: BorrowedFd, rel: &Path) -> Lookup<PathBuf> {
    if !crate::openat2::available() {
        return RootRef::from_fd(root)
            .readlink(rel)
            .map_err(Failure::Pathrs);
    }
    let link = lookup(root, rel, false, false)?;
    let target = rustix::fs::readlinkat(&link, "", Vec::new()).map_err(Failure::Os)?;
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(
        target.as_bytes(),
    )))
}

/// The directory at `rel` inside the root, created with its missing parents (`mode`), as an
/// O_PATH handle. A symlink on the way is followed inside the root; the components created
/// are opened with O_NOFOLLOW from their parent's fd, so a racing swap for a symlink fails
/// instead of leading elsewhere.
fn mkdir_all(root: BorrowedFd, rel: &Path, mode: u32) -> Lookup<OwnedFd> {
    if !crate::openat2::available() {
        return RootRef::from_fd(root)
            .mkdir_all(rel, &Permissions::from_mode(mode))
            .map(OwnedFd::from)
            .map_err(Failure::Pathrs);
    }
    // The deepest existing ancestor (the whole path first), as a directory.
    let components: Vec<Component> = rel.components().collect();
    let mut existing = components.len();
    let mut dir = loop {
        let prefix: PathBuf = components[..existing].iter().collect();
        match lookup(root, &prefix, true, true) {
            Ok(fd) => break fd,
            Err(e) if e.errno() == Some(libc::ENOENT) && existing > 0 => existing -= 1,
            Err(e) => return Err(e),
        }
    };
    let missing = &components[existing..];
    // Like pathrs: a `..` among the components still to be made is not guessed at.
    if missing.contains(&Component::ParentDir) {
        return Err(Failure::Os(Errno::NOENT));
    }
    let mode = rustix::fs::Mode::from_raw_mode(mode);
    for name in missing.iter().filter_map(|c| match c {
        Component::Normal(name) => Some(*name),
        _ => None,
    }) {
        match rustix::fs::mkdirat(&dir, name, mode) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(Failure::Os(e)),
        }
        dir = rustix::fs::openat(
            &dir,
            name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(Failure::Os)?;
    }
    Ok(dir)
}

/// The rootfs opened for lookups, and where it is in this process's mount tree: how a
/// resolved handle is placed in the container (`location`).
pub struct RootDir {
    fd: OwnedFd,
    at: PathBuf,
    /// The rootfs as the config names it on the host.
    path: PathBuf,
}

impl AsFd for RootDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl RootDir {
    /// Opens the rootfs. Open it after the rootfs is bound on itself, so that lookups walk
    /// the container's mount tree and not the one below it.
    pub fn open(path: &Path) -> Result<RootDir> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .with_ctx(|| format!("open rootfs {}", path.display()))?;
        let at = Proc::get()?.fd_path(&fd)?;
        Ok(RootDir {
            fd,
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
pub fn resolve(root: &impl AsFd, path: &Path) -> Result<Option<Handle>> {
    resolve_with(root, path, true)
}

/// As `resolve`, but a symlink at the end is not followed: the handle is the link itself.
pub fn resolve_nofollow(root: &impl AsFd, path: &Path) -> Result<Option<Handle>> {
    resolve_with(root, path, false)
}

fn resolve_with(root: &impl AsFd, path: &Path, follow: bool) -> Result<Option<Handle>> {
    match lookup(root.as_fd(), &relative(path), follow, false) {
        Ok(fd) => Ok(Some(Handle::from_fd(fd))),
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e.ctx(|| format!("resolve {} in rootfs", path.display()))),
    }
}

/// How many dangling symlinks creating one path may follow (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// The directory at `path` inside the root, created (with its parents, 0755) if missing.
/// A dangling symlink on the way is followed inside the root and its target created, as
/// runc does (an image's `/var/run -> /run` with no /run yet).
pub fn ensure_dir(root: &impl AsFd, path: &Path) -> Result<Handle> {
    ensure_dir_following(root.as_fd(), path, 0)
}

fn ensure_dir_following(root: BorrowedFd, path: &Path, links: usize) -> Result<Handle> {
    match mkdir_all(root, &relative(path), 0o755) {
        Ok(fd) => Ok(Handle::from_fd(fd)),
        Err(e) => {
            let errno = e.errno().unwrap_or(0);
            if links < MAX_LINKS && (errno == libc::ENOTDIR || errno == libc::ENOENT) {
                if let Some(target) = dangling_link(root, path)? {
                    ensure_dir_following(root, &target, links + 1)?;
                    return ensure_dir_following(root, path, links + 1);
                }
            }
            Err(e.ctx(|| format!("create directory {} in rootfs", path.display())))
        }
    }
}

/// The in-root target of the first symlink along `path` that points at nothing.
fn dangling_link(root: BorrowedFd, path: &Path) -> Result<Option<PathBuf>> {
    let mut prefix = PathBuf::from("/");
    for component in clean(path).components().skip(1) {
        prefix.push(component);
        if lookup(root, &relative(&prefix), true, false).is_ok() {
            continue;
        }
        let Ok(target) = readlink(root, &relative(&prefix)) else {
            return Ok(None);
        };
        let parent = prefix.parent().unwrap_or(Path::new("/"));
        return Ok(Some(clean(&parent.join(target))));
    }
    Ok(None)
}

/// The file at `path` inside the root, created empty if missing (parents 0755). An existing
/// path of any type is returned as it is: the caller's mount decides if it fits.
pub fn ensure_file(root: &impl AsFd, path: &Path) -> Result<Handle> {
    ensure_file_following(root.as_fd(), path, 0)
}

fn ensure_file_following(root: BorrowedFd, path: &Path, links: usize) -> Result<Handle> {
    if let Some(h) = resolve(&root, path)? {
        return Ok(h);
    }
    let (dir, name) = ensure_parent(&root, path)?;
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
    lookup(root, &relative(path), true, false)
        .map(Handle::from_fd)
        .map_err(|e| e.ctx(|| format!("resolve {} in rootfs", path.display())))
}

/// The parent directory of `path` inside the root (created if missing) and the last
/// component's name, for the *at calls that create devices and symlinks.
pub fn ensure_parent(root: &impl AsFd, path: &Path) -> Result<(Handle, PathBuf)> {
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
    use std::os::unix::fs::symlink;

    /// A rootfs in a temp dir, removed on drop, with the traps the lookups must not fall into.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "hull-inroot-{name}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            ));
            std::fs::create_dir_all(dir.join("etc")).unwrap();
            std::fs::create_dir_all(dir.join("var")).unwrap();
            std::fs::write(dir.join("file"), b"").unwrap();
            symlink("/etc", dir.join("abs")).unwrap();
            symlink("../../../../../..", dir.join("up")).unwrap();
            symlink("/run", dir.join("var/run")).unwrap();
            symlink("/proc/self/root", dir.join("magic")).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fd_of(path: &Path) -> OwnedFd {
        rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap()
    }

    fn errno<T>(r: Result<T>) -> Option<i32> {
        r.err().and_then(|e| e.errno())
    }

    /// What each operation did, in a form both backends can be compared on.
    fn outcomes(dir: &Path) -> Vec<String> {
        let root = RootDir::open(dir).unwrap();
        let at = |r: Result<Handle>| match r {
            Ok(h) => format!("at {}", root.location(&h).unwrap().display()),
            Err(e) => format!("errno {:?}", e.errno()),
        };
        let found = |r: Result<Option<Handle>>| match r {
            Ok(Some(h)) => format!("at {}", root.location(&h).unwrap().display()),
            Ok(None) => "missing".to_string(),
            Err(e) => format!("errno {:?}", e.errno()),
        };
        vec![
            found(resolve(&root, Path::new("/abs"))),
            found(resolve(&root, Path::new("/up/etc"))),
            found(resolve(&root, Path::new("/"))),
            found(resolve(&root, Path::new("/nothing/here"))),
            found(resolve_nofollow(&root, Path::new("/abs"))),
            at(ensure_dir(&root, Path::new("/abs/made"))),
            at(ensure_dir(&root, Path::new("/up/a/b"))),
            at(ensure_dir(&root, Path::new("/var/run/x"))),
            at(ensure_dir(&root, Path::new("/file/x"))),
            at(ensure_dir(&root, Path::new("/file"))),
            at(ensure_dir(&root, Path::new("/n/../m"))),
            at(ensure_file(&root, Path::new("/up/etc/f"))),
            at(ensure_file(&root, Path::new("/abs"))),
        ]
    }

    #[test]
    fn lookups_stay_in_the_root_with_openat2_and_with_pathrs() {
        let kernel = Scratch::new("kernel");
        let emulated = Scratch::new("pathrs");
        let ours = outcomes(&kernel.0);
        let theirs = crate::openat2::without(|| outcomes(&emulated.0));
        assert_eq!(ours, theirs);
        let enotdir = format!("errno {:?}", Some(libc::ENOTDIR));
        let enoent = format!("errno {:?}", Some(libc::ENOENT));
        assert_eq!(
            ours,
            vec![
                "at /etc",
                "at /etc",
                "at /",
                "missing",
                "at /abs",
                "at /etc/made",
                "at /a/b",
                "at /run/x",
                &enotdir,
                &enotdir,
                &enoent,
                "at /etc/f",
                "at /etc",
            ]
        );
        // Made in the scratch root, nowhere else.
        for made in ["etc/made", "a/b", "run/x", "etc/f"] {
            assert!(kernel.0.join(made).exists(), "{made}");
        }
        assert!(!Path::new("/etc/made").exists());
        // The link itself, not followed.
        let root = RootDir::open(&kernel.0).unwrap();
        let link = resolve_nofollow(&root, Path::new("/abs")).unwrap().unwrap();
        let st = rustix::fs::fstat(&link).unwrap();
        assert_eq!(
            rustix::fs::FileType::from_raw_mode(st.st_mode),
            rustix::fs::FileType::Symlink
        );
    }

    /// A magic link (here the real /proc's, in a root that is the host's /) is never
    /// followed, whichever backend resolves.
    #[test]
    fn magic_links_are_refused() {
        let host = fd_of(Path::new("/"));
        for emulate in [false, true] {
            let run = || {
                assert!(resolve(&host, Path::new("/proc/self/root/etc"))
                    .unwrap_err()
                    .errno()
                    .is_some());
                assert!(errno(ensure_dir(&host, Path::new("/proc/self/cwd/x"))).is_some());
            };
            if emulate {
                crate::openat2::without(run);
            } else {
                run();
            }
        }
        // Inside a rootfs the link's absolute target is the rootfs's own /proc, absent here.
        let scratch = Scratch::new("magic");
        let root = fd_of(&scratch.0);
        assert!(resolve(&root, Path::new("/magic/etc")).unwrap().is_none());
    }

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
