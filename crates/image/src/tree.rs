//! A directory tree that layers are written into, where every path is resolved inside the
//! tree: parents through openat2(RESOLVE_IN_ROOT), so `..` and symlinks planted by earlier
//! entries stay inside; final components with *at calls that never follow them.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};

const DIR_PATH: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);

/// Resolution inside the tree. NO_MAGICLINKS: a /proc/self/... symlink in an image must
/// not lead out either.
const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

pub struct Tree {
    root: OwnedFd,
    path: PathBuf,
    /// The parent directory of the last entry: tar entries come grouped by directory, and
    /// one openat2 per entry is most of the cost of small files. Only dropped when a
    /// directory or symlink is removed, the only changes that can re-route a path.
    cached: Option<(PathBuf, OwnedFd)>,
}

/// openat2 that retries when the kernel answers EAGAIN: RESOLVE_IN_ROOT and RESOLVE_BENEATH
/// lookups give up when any rename or mount happened on the system during the walk (a
/// seqlock check), which is common while other containers and unpacks run in parallel.
pub fn openat2_retrying<P: rustix::path::Arg + Copy>(
    dir: impl AsFd,
    path: P,
    oflags: OFlags,
    mode: Mode,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    const ATTEMPTS: usize = 128;
    let dir = dir.as_fd();
    let mut attempt = 0;
    loop {
        match rfs::openat2(dir, path, oflags, mode, resolve) {
            Err(rustix::io::Errno::AGAIN) if attempt < ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

/// Turns an entry name into a path relative to the tree: leading `/`, `.` and empty
/// components dropped, `..` clamped at the top (like `filepath.Join("/", name)`).
/// The kernel-side resolution does not rely on this; it makes names canonical.
pub fn clean(name: &[u8]) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(name)).components() {
        match c {
            Component::Normal(c) => out.push(c),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

impl Tree {
    pub fn open(path: &Path) -> io::Result<Self> {
        let root = rfs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Tree {
            root,
            path: path.to_path_buf(),
            cached: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Opens a directory of the tree, creating missing ones (mode 0755, like tar does for
    /// parents an archive does not list) when `create` is set.
    pub fn dir(&mut self, rel: &Path, create: bool) -> io::Result<Option<BorrowedFd<'_>>> {
        let hit = matches!(&self.cached, Some((p, _)) if p == rel);
        if !hit {
            let fd = match self.resolve_dir(rel, create)? {
                Some(fd) => fd,
                None => return Ok(None),
            };
            self.cached = Some((rel.to_path_buf(), fd));
        }
        Ok(self.cached.as_ref().map(|(_, fd)| fd.as_fd()))
    }

    /// Like `dir`, without touching the cache (for a second directory held at once).
    pub fn dir_uncached(&self, rel: &Path) -> io::Result<Option<OwnedFd>> {
        self.resolve_dir(rel, false)
    }

    fn resolve_dir(&self, rel: &Path, create: bool) -> io::Result<Option<OwnedFd>> {
        if rel.as_os_str().is_empty() {
            return rfs::openat(&self.root, ".", DIR_PATH, Mode::empty())
                .map(Some)
                .map_err(Into::into);
        }
        match openat2_retrying(&self.root, rel, DIR_PATH, Mode::empty(), IN_ROOT) {
            Ok(fd) => Ok(Some(fd)),
            Err(rustix::io::Errno::NOENT) if create => self.walk_create(rel).map(Some),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The slow path of `dir`: walks `rel` one component at a time, creating what is
    /// missing, and following symlinks itself (a dangling symlink to an absolute path gets
    /// its target created inside the tree, as tar and umoci do). Each step opens a single
    /// name with O_NOFOLLOW from a directory fd, and `..` pops a stack that cannot go
    /// above the tree's root.
    fn walk_create(&self, rel: &Path) -> io::Result<OwnedFd> {
        const MAX_SYMLINKS: usize = 40;
        let mut stack: Vec<OwnedFd> = vec![rfs::openat(&self.root, ".", DIR_PATH, Mode::empty())?];
        let mut todo: std::collections::VecDeque<OsString> = rel
            .components()
            .map(|c| c.as_os_str().to_os_string())
            .collect();
        let mut links = 0;
        while let Some(name) = todo.pop_front() {
            match name.as_bytes() {
                b"" | b"." | b"/" => continue,
                b".." => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let cur = stack.last().expect("the root is never popped");
            match kind_at(cur, &name)? {
                Some(FileType::Symlink) => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(rustix::io::Errno::LOOP.into());
                    }
                    let target = rfs::readlinkat(cur, &name, Vec::new())?;
                    let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                    if target.is_absolute() {
                        stack.truncate(1);
                    }
                    for c in target.components().rev() {
                        todo.push_front(c.as_os_str().to_os_string());
                    }
                    continue;
                }
                None => match rfs::mkdirat(cur, &name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                },
                Some(_) => {}
            }
            let next = rfs::openat(cur, &name, DIR_PATH | OFlags::NOFOLLOW, Mode::empty())?;
            stack.push(next);
        }
        Ok(stack.pop().expect("the root is never popped"))
    }

    pub fn forget_cache(&mut self) {
        self.cached = None;
    }
}

/// The type of `name` in `dir`, not following a symlink; None if absent.
pub fn kind_at(dir: impl AsFd, name: &OsStr) -> io::Result<Option<FileType>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` in `dir` and, for a directory, everything under it. Symlinks are
/// removed, never followed.
pub fn remove_all_at(dir: impl AsFd, name: &OsStr) -> io::Result<()> {
    let dir = dir.as_fd();
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(rustix::io::Errno::ISDIR) | Err(rustix::io::Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let fd = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    clear_fd(&fd, Path::new(""), &|_| false)?;
    match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes the children of the directory `dir` (an O_PATH fd will do), except those
/// `keep` names (by their path relative to `dir`); kept directories are cleared
/// recursively the same way.
pub fn clear_dir(dir: BorrowedFd<'_>, keep: &dyn Fn(&Path) -> bool) -> io::Result<()> {
    let fd = rfs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    clear_fd(&fd, Path::new(""), keep)
}

fn clear_fd(fd: &OwnedFd, rel: &Path, keep: &dyn Fn(&Path) -> bool) -> io::Result<()> {
    let mut children = Vec::new();
    for entry in rfs::Dir::read_from(fd)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        children.push((OsStr::from_bytes(name).to_os_string(), entry.file_type()));
    }
    for (name, kind) in children {
        let child = rel.join(&name);
        if keep(&child) {
            if kind == FileType::Directory {
                let sub = rfs::openat(
                    fd,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                clear_fd(&sub, &child, keep)?;
            }
            continue;
        }
        remove_all_at(fd, &name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_clamps_and_strips() {
        assert_eq!(clean(b"/etc/passwd"), Path::new("etc/passwd"));
        assert_eq!(clean(b"../../etc/passwd"), Path::new("etc/passwd"));
        assert_eq!(clean(b"a/./b/../c/"), Path::new("a/c"));
        assert_eq!(clean(b"./"), Path::new(""));
    }

    #[test]
    fn symlinks_resolve_inside() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.path().join("up")).unwrap();
        let mut tree = Tree::open(root.path()).unwrap();
        // Resolving through the symlinks creates directories inside the root only.
        tree.dir(Path::new("escape/x"), true).unwrap().unwrap();
        tree.dir(Path::new("up/y"), true).unwrap().unwrap();
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        let abs = outside.path().strip_prefix("/").unwrap();
        assert!(root.path().join(abs).join("x").is_dir());
        assert!(root.path().join("y").is_dir());
    }
}
