//! A recording `Ops` for the unit tests: it performs what needs no privilege (symlinks,
//! unlinks, the directories `inroot` creates) on a temp directory rootfs, and records, in
//! order, every operation a mount or mknod would have been. New filesystems are fresh
//! directories in a scratch dir beside the rootfs, named `fs1`, `fs2`, ...; cloned trees are
//! `tree1`, ...; a device node is an empty file that the fake remembers as that device.
//!
//! Paths in the records are where a fd is in the container (`/dev/pts`), read back from the
//! fd like `RootDir::location`, so a destination reached through a symlink shows where it
//! landed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use rustix::fs::{fstat, openat, FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountPropagationFlags as P;

use super::ops::Ops;
use super::options::{MountOptions, Propagation};
use crate::sys::mount::MountAttr;
use crate::{Context, Result};

/// A device node the fake made: type, major, minor.
type Node = (FileType, u32, u32);

pub struct Fake {
    rootfs: PathBuf,
    scratch: PathBuf,
    root: pathrs::Root,
    log: RefCell<Vec<String>>,
    /// Mounts the fake made, by fd number (checked against the inode when read).
    labels: RefCell<HashMap<RawFd, (u64, u64, String)>>,
    /// Device nodes the fake made, by inode: (type, major, minor).
    nodes: RefCell<HashMap<(u64, u64), Node>>,
    next: Cell<usize>,
}

fn identity(fd: BorrowedFd) -> (u64, u64) {
    let st = fstat(fd).expect("fstat");
    (st.st_dev, st.st_ino)
}

/// `ro,nosuid,...` for MOUNT_ATTR_* bits.
pub fn attr_names(bits: u64) -> String {
    use crate::sys::mount::*;
    let names = [
        (MOUNT_ATTR_RDONLY, "ro"),
        (MOUNT_ATTR_NOSUID, "nosuid"),
        (MOUNT_ATTR_NODEV, "nodev"),
        (MOUNT_ATTR_NOEXEC, "noexec"),
        (MOUNT_ATTR_NOATIME, "noatime"),
        (MOUNT_ATTR_STRICTATIME, "strictatime"),
        (MOUNT_ATTR_NODIRATIME, "nodiratime"),
        (MOUNT_ATTR_IDMAP, "idmap"),
        (MOUNT_ATTR_NOSYMFOLLOW, "nosymfollow"),
    ];
    let mut out: Vec<String> = names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let known = names.iter().fold(0, |acc, (b, _)| acc | b);
    if bits & !known != 0 {
        out.push(format!("{:#x}", bits & !known));
    }
    out.join(",")
}

fn propagation_name(flag: u64, recursive: bool) -> String {
    let name = match flag as libc::c_ulong {
        libc::MS_PRIVATE => "private",
        libc::MS_SHARED => "shared",
        libc::MS_SLAVE => "slave",
        libc::MS_UNBINDABLE => "unbindable",
        _ => "?",
    };
    format!("{}{name}", if recursive { "r" } else { "" })
}

impl Fake {
    /// A fake over `rootfs` (a temp directory); new filesystems go to `scratch`.
    pub fn new(rootfs: &Path, scratch: &Path) -> Fake {
        std::fs::create_dir_all(scratch).unwrap();
        Fake {
            rootfs: std::fs::canonicalize(rootfs).unwrap(),
            scratch: std::fs::canonicalize(scratch).unwrap(),
            root: pathrs::Root::open(rootfs).unwrap(),
            log: RefCell::default(),
            labels: RefCell::default(),
            nodes: RefCell::default(),
            next: Cell::new(1),
        }
    }

    /// What was recorded, in order.
    pub fn log(&self) -> Vec<String> {
        self.log.borrow().clone()
    }

    fn record(&self, op: String) {
        self.log.borrow_mut().push(op);
    }

    fn name(&self, kind: &str) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        format!("{kind}{n}")
    }

    fn label(&self, fd: &OwnedFd, name: &str) {
        let (dev, ino) = identity(fd.as_fd());
        self.labels
            .borrow_mut()
            .insert(fd.as_raw_fd(), (dev, ino, name.to_string()));
    }

    /// Where `fd` is: a path in the container, `fsN:/path` inside a fake filesystem, or
    /// `host:/path`.
    fn place(&self, fd: BorrowedFd) -> String {
        let path = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        if let Ok(rel) = path.strip_prefix(&self.rootfs) {
            return Path::new("/").join(rel).display().to_string();
        }
        if let Ok(rel) = path.strip_prefix(&self.scratch) {
            let mut parts = rel.components();
            let fs = parts
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .to_string();
            let inner = Path::new("/").join(parts.as_path());
            return format!("{fs}:{}", inner.display());
        }
        format!("host:{}", path.display())
    }

    /// A mount the fake made by its name; anything else by its place.
    fn describe(&self, fd: BorrowedFd) -> String {
        let (dev, ino) = identity(fd);
        match self.labels.borrow().get(&fd.as_raw_fd()) {
            Some((d, i, name)) if (*d, *i) == (dev, ino) => name.clone(),
            _ => self.place(fd),
        }
    }

    fn at(&self, dir: BorrowedFd, name: &Path) -> String {
        Path::new(&self.place(dir)).join(name).display().to_string()
    }

    fn clone_of(&self, fd: OwnedFd, what: String, recursive: bool) -> OwnedFd {
        let name = self.name("tree");
        self.label(&fd, &name);
        let rec = if recursive { " recursive" } else { "" };
        self.record(format!("{name} = clone {what}{rec}"));
        fd
    }
}

impl Ops for Fake {
    // c_ulong is u64 here but u32 on 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    fn change_propagation(&self, path: &Path, flags: P) -> Result<()> {
        let recursive = flags.contains(P::REC);
        let flag = if flags.contains(P::PRIVATE) {
            libc::MS_PRIVATE
        } else if flags.contains(P::DOWNSTREAM) {
            libc::MS_SLAVE
        } else if flags.contains(P::SHARED) {
            libc::MS_SHARED
        } else {
            libc::MS_UNBINDABLE
        };
        self.record(format!(
            "propagation {} {}",
            path.display(),
            propagation_name(flag as u64, recursive)
        ));
        Ok(())
    }

    fn new_fs(&self, fstype: &str, source: Option<&str>, opts: &MountOptions) -> Result<OwnedFd> {
        let mut what = vec![format!("{fstype}")];
        if let Some(source) = source {
            what.push(format!("source={source}"));
        }
        if !opts.data.is_empty() {
            what.push(format!("data={}", opts.data.join(",")));
        }
        if !opts.superblock.is_empty() {
            what.push(format!("sb={}", opts.superblock.join(",")));
        }
        if opts.readonly == Some(true) {
            what.push("ro".into());
        }
        let attrs = attr_names(opts.mount_attrs().to_mount_attr().attr_set);
        if !attrs.is_empty() {
            what.push(format!("attrs={attrs}"));
        }
        let rec = attr_names(opts.rec_attrs.to_mount_attr().attr_set);
        if !rec.is_empty() {
            what.push(format!("rec={rec}"));
        }
        self.new_dir_fs(what.join(" "))
    }

    fn configured_fs(
        &self,
        fstype: &str,
        settings: &[(&str, Option<&str>)],
        attrs: u64,
    ) -> Result<OwnedFd> {
        let mut what = vec![fstype.to_string()];
        for (key, value) in settings {
            what.push(match value {
                Some(v) => format!("{key}={v}"),
                None => key.to_string(),
            });
        }
        what.push(format!("attrs={}", attr_names(attrs)));
        self.new_dir_fs(what.join(" "))
    }

    fn clone_tree(&self, source: &Path, recursive: bool) -> Result<OwnedFd> {
        let fd = rustix::fs::open(source, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .with_ctx(|| format!("open_tree {}", source.display()))?;
        let what = self.place(fd.as_fd());
        Ok(self.clone_of(fd, what, recursive))
    }

    fn clone_fd(&self, fd: BorrowedFd, recursive: bool) -> Result<OwnedFd> {
        let what = self.describe(fd);
        let copy = rustix::io::fcntl_dupfd_cloexec(fd, 0).ctx("open_tree")?;
        Ok(self.clone_of(copy, what, recursive))
    }

    fn set_mount_attr(&self, mnt: BorrowedFd, attr: &MountAttr, recursive: bool) -> Result<()> {
        let mut what = vec![format!("setattr {}", self.describe(mnt))];
        if recursive {
            what.push("recursive".into());
        }
        if attr.attr_set != 0 {
            what.push(format!("+{}", attr_names(attr.attr_set)));
        }
        if attr.attr_clr != 0 {
            what.push(format!("-{}", attr_names(attr.attr_clr)));
        }
        if attr.propagation != 0 {
            what.push(propagation_name(attr.propagation, false));
        }
        self.record(what.join(" "));
        Ok(())
    }

    fn set_propagation(&self, mnt: BorrowedFd, changes: &[Propagation]) -> Result<()> {
        for p in changes {
            self.record(format!(
                "propagation {} {}",
                self.describe(mnt),
                propagation_name(p.flag, p.recursive)
            ));
        }
        Ok(())
    }

    fn attach(&self, mnt: BorrowedFd, target: BorrowedFd) -> Result<()> {
        self.record(format!(
            "attach {} on {}",
            self.describe(mnt),
            self.place(target)
        ));
        Ok(())
    }

    fn make_readonly(&self, mnt: BorrowedFd) -> Result<()> {
        self.record(format!("readonly {}", self.describe(mnt)));
        Ok(())
    }

    fn mknod(
        &self,
        dir: BorrowedFd,
        name: &Path,
        kind: FileType,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> rustix::io::Result<()> {
        // Made the way mknod would: never through a symlink, EEXIST if anything is there.
        let file = openat(
            dir,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let letter = match kind {
            FileType::CharacterDevice => "c",
            FileType::BlockDevice => "b",
            FileType::Fifo => "p",
            _ => "?",
        };
        self.nodes
            .borrow_mut()
            .insert(identity(file.as_fd()), (kind, major, minor));
        self.record(format!(
            "mknod {} {letter} {major}:{minor} {mode:o}",
            self.at(dir, name)
        ));
        Ok(())
    }

    fn chown(&self, dir: BorrowedFd, name: &Path, uid: u32, gid: u32) -> Result<()> {
        self.record(format!("chown {} {uid}:{gid}", self.at(dir, name)));
        Ok(())
    }

    fn chmod(&self, dir: BorrowedFd, name: &Path, mode: u32) -> Result<()> {
        self.record(format!("chmod {} {mode:o}", self.at(dir, name)));
        Ok(())
    }

    fn symlink(&self, target: &str, dir: BorrowedFd, name: &Path) -> rustix::io::Result<()> {
        rustix::fs::symlinkat(target, dir, name)?;
        self.record(format!("symlink {} -> {target}", self.at(dir, name)));
        Ok(())
    }

    fn unlink(&self, dir: BorrowedFd, name: &Path) -> rustix::io::Result<()> {
        rustix::fs::unlinkat(dir, name, rustix::fs::AtFlags::empty())?;
        self.record(format!("unlink {}", self.at(dir, name)));
        Ok(())
    }

    /// After pivot the container's root is `/`; here it is the temp rootfs, resolved the
    /// same way (inside the root). A null device the fake made stands for itself by the
    /// host's /dev/null, which is what `paths` checks a node against.
    fn open_in_root(&self, path: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        let mut rel = super::inroot::relative(path);
        if rel.as_os_str().is_empty() {
            rel = PathBuf::from(".");
        }
        let found = if flags.contains(OFlags::NOFOLLOW) {
            self.root.resolve_nofollow(&rel)
        } else {
            self.root.resolve(&rel)
        };
        let handle = found.map_err(|e| match e.kind() {
            pathrs::error::ErrorKind::OsError(Some(errno)) => Errno::from_raw_os_error(errno),
            _ => Errno::IO,
        })?;
        let fd = OwnedFd::from(handle);
        let node = self.nodes.borrow().get(&identity(fd.as_fd())).copied();
        if let Some((FileType::CharacterDevice, 1, 3)) = node {
            let null =
                rustix::fs::open("/dev/null", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
            self.label(&null, "/dev/null");
            return Ok(null);
        }
        Ok(fd)
    }
}

impl Fake {
    fn new_dir_fs(&self, what: String) -> Result<OwnedFd> {
        let name = self.name("fs");
        let dir = self.scratch.join(&name);
        std::fs::create_dir(&dir).with_ctx(|| format!("create {}", dir.display()))?;
        let fd = rustix::fs::open(
            &dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx("open")?;
        self.label(&fd, &name);
        self.record(format!("{name} = new {what}"));
        Ok(fd)
    }
}
