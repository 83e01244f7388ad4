//! Applying one layer (a tar stream, maybe compressed) to a tree: verified as it streams,
//! with whiteouts either applied (flatten) or turned into overlayfs whiteouts (store).

use std::collections::{BTreeMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};

use crate::digest::Verifier;
use crate::error::{from_stream, Context, Error, Result};
use crate::owner::{Owners, Ownership, ROOTLESS_XATTR};
use crate::resolve::Layer;
use crate::source::BlobReader;
use crate::tree::{clean, clear_dir, kind_at, remove_all_at, Tree};

/// Where a layer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// On top of the layers below it, in one tree: whiteouts delete.
    Flatten,
    /// Into a tree of its own that overlayfs stacks: whiteouts become 0:0 character
    /// devices and opaque directories get `trusted.overlay.opaque=y`.
    Overlay,
}

/// Guards against compression bombs, for a whole unpack.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Uncompressed bytes, over all layers.
    pub max_bytes: u64,
    /// Tar entries, over all layers.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 30,
            max_entries: 4_000_000,
        }
    }
}

/// Uncompressed bytes and entries applied, counted against `Limits`. Appliers that run
/// in parallel on the layers of one image share one.
#[derive(Debug, Default)]
pub struct Usage {
    bytes: AtomicU64,
    entries: AtomicU64,
}

/// Things skipped rather than failed (rootless), counted per kind for one summary line.
#[derive(Debug, Default)]
pub struct Warnings(BTreeMap<String, u64>);

impl Warnings {
    fn add(&mut self, what: impl Into<String>) {
        *self.0.entry(what.into()).or_default() += 1;
    }

    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.0
            .iter()
            .map(|(what, n)| format!("{what} ({n} entries)"))
    }
}

/// The metadata of one tar entry that we apply.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timespec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

pub struct Applier {
    tree: Tree,
    target: Target,
    owners: Owners,
    limits: Limits,
    usage: Arc<Usage>,
    /// Directory modes (rootless) and mtimes are set once nothing more is written in them.
    dirs: BTreeMap<PathBuf, (u32, Timespec)>,
    /// Paths the current layer wrote (with their parents), for opaque directories.
    layer_paths: HashSet<PathBuf>,
    opaque: Vec<PathBuf>,
    pub warnings: Warnings,
}

impl Applier {
    pub fn new(tree: Tree, target: Target, owners: Owners, limits: Limits) -> Self {
        Applier {
            tree,
            target,
            owners,
            limits,
            usage: Arc::default(),
            dirs: BTreeMap::new(),
            layer_paths: HashSet::new(),
            opaque: Vec::new(),
            warnings: Warnings::default(),
        }
    }

    /// Streams `blob` (the layer as stored) into the tree. Both the stored digest and the
    /// DiffID are checked when the stream ends; on error the tree holds a partial layer
    /// and the caller must throw it away.
    pub fn apply(
        &mut self,
        layer: &Layer,
        blob: BlobReader<'_>,
        progress: &indicatif::ProgressBar,
    ) -> Result<()> {
        let name = layer.name();
        let stored = Verifier::new(blob, name.clone(), layer.digest.clone(), layer.size);
        let counted = BufReader::with_capacity(
            64 << 10,
            Counted {
                inner: stored,
                bar: progress.clone(),
            },
        );
        let decoder = Decoder::new(counted, &layer.media_type)
            .map_err(|e| from_stream(e, || format!("read layer {name}")))?;
        let diff_name = format!("{name} (uncompressed, DiffID {})", layer.diff_id);
        let diff = Verifier::new(decoder, diff_name, Some(layer.diff_id.clone()), None);
        let capped = Capped {
            inner: LenientEnd::new(diff),
            usage: self.usage.clone(),
            limit: self.limits.max_bytes,
            layer: name.clone(),
        };
        let mut archive = tar::Archive::new(capped);
        self.entries(&name, &mut archive)?;
        let capped = archive.into_inner();
        let decoder = capped.inner.inner.finish()?;
        decoder.into_inner().into_inner().inner.finish()?;
        self.finish_layer(&name)
    }

    /// Applies an uncompressed tar stream that has no digest to check (the fuzz target's way
    /// in; images always go through [`Applier::apply`]). The limits still hold.
    pub fn apply_tar(&mut self, name: &str, tar: impl Read) -> Result<()> {
        let capped = Capped {
            inner: tar,
            usage: self.usage.clone(),
            limit: self.limits.max_bytes,
            layer: name.to_string(),
        };
        let mut archive = tar::Archive::new(capped);
        self.entries(name, &mut archive)?;
        self.finish_layer(name)
    }

    fn entries<R: Read>(&mut self, name: &str, archive: &mut tar::Archive<R>) -> Result<()> {
        self.layer_paths.clear();
        self.opaque.clear();
        let entries = archive
            .entries()
            .map_err(|e| from_stream(e, || format!("read layer {name}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| from_stream(e, || format!("read layer {name}")))?;
            let entries = self.usage.entries.fetch_add(1, Ordering::Relaxed) + 1;
            if entries > self.limits.max_entries {
                return Err(Error::Limit {
                    layer: name.to_string(),
                    reason: format!(
                        "more than {} entries in the image (--max-entries)",
                        self.limits.max_entries
                    ),
                });
            }
            self.entry(name, entry)?;
        }
        Ok(())
    }

    fn finish_layer(&mut self, name: &str) -> Result<()> {
        self.finish_opaque(name)?;
        if self.target == Target::Overlay {
            self.finish_dirs()?;
        }
        Ok(())
    }

    /// Sets what had to wait for the last write into each directory. Call once after the
    /// last layer.
    pub fn finish_dirs(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        for (path, (mode, mtime)) in dirs.iter().rev() {
            let what = || format!("set mode and mtime of directory /{}", path.display());
            let fd = match path.file_name() {
                // The root, from a "./" entry.
                None => reopen_dir(&self.tree.root()).ctx(what)?,
                Some(name) => {
                    let parent = path.parent().unwrap_or(Path::new(""));
                    let Some(pfd) = self.tree.dir_uncached(parent).map_err(io_err(what))? else {
                        continue; // removed by a later layer
                    };
                    let flags =
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    match rfs::openat(&pfd, name, flags, Mode::empty()) {
                        Ok(fd) => fd,
                        // Replaced by a later layer with a file or symlink, or removed.
                        Err(
                            rustix::io::Errno::NOTDIR
                            | rustix::io::Errno::LOOP
                            | rustix::io::Errno::NOENT,
                        ) => continue,
                        Err(e) => return Err(e).ctx(what),
                    }
                }
            };
            if self.owners.rootless {
                rfs::fchmod(&fd, Mode::from_raw_mode(*mode)).ctx(what)?;
            }
            let times = Timestamps {
                last_access: *mtime,
                last_modification: *mtime,
            };
            rfs::futimens(&fd, &times).ctx(what)?;
        }
        Ok(())
    }

    /// Uncompressed bytes and entries applied so far.
    pub fn used(&self) -> (u64, u64) {
        (
            self.usage.bytes.load(Ordering::Relaxed),
            self.usage.entries.load(Ordering::Relaxed),
        )
    }

    /// Counts from `used`, so that limits span several appliers (one per store layer).
    pub fn start_at(&mut self, used: (u64, u64)) {
        self.usage.bytes.store(used.0, Ordering::Relaxed);
        self.usage.entries.store(used.1, Ordering::Relaxed);
    }

    /// Counts against limits shared with other appliers (layers applied in parallel).
    pub fn share_usage(&mut self, usage: Arc<Usage>) {
        self.usage = usage;
    }

    pub fn into_tree(self) -> Tree {
        self.tree
    }

    fn entry<R: Read>(&mut self, layer: &str, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let path = clean(&raw);
        let hostile = |reason: String| Error::Hostile {
            layer: layer.to_string(),
            entry: PathBuf::from(OsStr::from_bytes(&raw)),
            reason,
        };
        let io_ctx = |e: io::Error| hostile_or_io(layer, &raw, e);
        let header = entry.header().clone();
        let kind = header.entry_type();
        // Go's archive/tar reads an empty numeric field as 0, and some writers rely on it.
        let old = header.as_old();
        let numeric = |field: &[u8], v: io::Result<u64>| -> io::Result<u64> {
            if field.iter().all(|&b| b == 0 || b == b' ') {
                return Ok(0);
            }
            v
        };
        let mut meta = Meta {
            mode: numeric(&old.mode, header.mode().map(u64::from)).map_err(io_ctx)? as u32 & 0o7777,
            uid: numeric(&old.uid, header.uid()).map_err(io_ctx)? as u32,
            gid: numeric(&old.gid, header.gid()).map_err(io_ctx)? as u32,
            mtime: Timespec {
                tv_sec: numeric(&old.mtime, header.mtime()).map_err(io_ctx)? as i64,
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
        };
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        if let Some(pax) = entry.pax_extensions().map_err(io_ctx)? {
            for ext in pax {
                let ext = ext.map_err(io_ctx)?;
                let key = ext.key_bytes();
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    if is_overlay_xattr(name) {
                        // An image must not steer overlayfs (redirects, metacopy).
                        self.warnings.add("dropped overlay xattrs from the image");
                        continue;
                    }
                    meta.xattrs.push((
                        OsStr::from_bytes(name).to_os_string(),
                        ext.value_bytes().to_vec(),
                    ));
                } else if key == b"uid" || key == b"gid" {
                    let v: u32 = std::str::from_utf8(ext.value_bytes())
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| {
                            hostile(format!("bad pax {}", String::from_utf8_lossy(key)))
                        })?;
                    if key == b"uid" {
                        meta.uid = v
                    } else {
                        meta.gid = v
                    }
                } else if key == b"mtime" {
                    if let Some(t) = parse_pax_time(ext.value_bytes()) {
                        meta.mtime = t;
                    }
                }
            }
        }

        let Some(name) = path.file_name().map(OsStr::to_os_string) else {
            // The root itself ("./"): only its metadata can change.
            if kind != tar::EntryType::Directory {
                return Err(hostile(
                    "replaces the root directory with a non-directory".into(),
                ));
            }
            let fd = reopen_dir(&self.tree.root()).map_err(io_ctx)?;
            self.set_meta_fd(&fd, &meta, true).map_err(io_ctx)?;
            self.dirs.insert(PathBuf::new(), (meta.mode, meta.mtime));
            return Ok(());
        };
        let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let name_bytes = name.as_bytes();
        if let Some(hidden) = name_bytes.strip_prefix(b".wh.") {
            if hidden == b".wh..opq" {
                return self.opaque_dir(&parent).map_err(io_ctx);
            }
            if hidden.starts_with(b".wh.") {
                return Ok(()); // aufs bookkeeping (.wh..wh.plnk and the like)
            }
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(hostile("whiteout without a name".into()));
            }
            return self
                .whiteout(&parent, OsStr::from_bytes(hidden))
                .map_err(io_ctx);
        }
        self.remember(&path);

        match kind {
            tar::EntryType::Directory => {
                self.directory(&path, &parent, &name, &meta).map_err(io_ctx)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let size = entry.size();
                let used = self.usage.bytes.load(Ordering::Relaxed);
                if size > self.limits.max_bytes.saturating_sub(used) {
                    return Err(Error::Limit {
                        layer: layer.to_string(),
                        reason: format!(
                            "file {:?} ({size} bytes) exceeds the uncompressed size limit of {} bytes (--max-size)",
                            path,
                            self.limits.max_bytes
                        ),
                    });
                }
                self.regular(&parent, &name, &meta, &mut entry)
                    .map_err(io_ctx)
            }
            tar::EntryType::Symlink => {
                let target = link.ok_or_else(|| hostile("symlink without a target".into()))?;
                self.symlink(&parent, &name, &target, &meta).map_err(io_ctx)
            }
            tar::EntryType::Link => {
                let target = link.ok_or_else(|| hostile("hardlink without a target".into()))?;
                let target = clean(&target);
                if target.as_os_str().is_empty() || target == path {
                    return Err(hostile("hardlink to the root or to itself".into()));
                }
                self.hardlink(&parent, &name, &target).map_err(io_ctx)
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let file_type = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = match (header.device_major(), header.device_minor()) {
                    (Ok(Some(ma)), Ok(Some(mi))) => rfs::makedev(ma, mi),
                    _ => 0,
                };
                if self.owners.rootless && file_type != FileType::Fifo {
                    self.warnings.add("rootless: skipped device nodes");
                    return Ok(());
                }
                self.node(&parent, &name, file_type, dev, &meta)
                    .map_err(io_ctx)
            }
            other => {
                self.warnings
                    .add(format!("skipped tar entries of type {other:?}"));
                Ok(())
            }
        }
    }

    /// Records the path and its parents as written by this layer.
    fn remember(&mut self, path: &Path) {
        let mut p = path;
        while !p.as_os_str().is_empty() && self.layer_paths.insert(p.to_path_buf()) {
            p = p.parent().unwrap_or(Path::new(""));
        }
    }

    /// Makes room for a new entry: removes what is at `name` unless it is a directory and
    /// `keep_dir` is set. Returns whether a directory was kept.
    fn clear_slot(&mut self, parent: &Path, name: &OsStr, keep_dir: bool) -> io::Result<bool> {
        let dir = self.tree.dir(parent, true)?.expect("created");
        match kind_at(dir, name)? {
            None => Ok(false),
            Some(FileType::Directory) if keep_dir => Ok(true),
            Some(kind) => {
                let reroutes = matches!(kind, FileType::Directory | FileType::Symlink);
                remove_all_at(dir, name)?;
                if reroutes {
                    self.tree.forget_cache();
                }
                Ok(false)
            }
        }
    }

    fn directory(
        &mut self,
        path: &Path,
        parent: &Path,
        name: &OsStr,
        meta: &Meta,
    ) -> io::Result<()> {
        let kept = self.clear_slot(parent, name, true)?;
        let rootless = self.owners.rootless;
        let dir = self.tree.dir(parent, true)?.expect("created");
        if !kept {
            // Rootless: keep the directory writable until the end (see finish_dirs).
            let mode = if rootless {
                meta.mode | 0o700
            } else {
                meta.mode
            };
            rfs::mkdirat(dir, name, Mode::from_raw_mode(mode))?;
        }
        let fd = rfs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        self.set_meta_fd(&fd, meta, true)?;
        self.dirs
            .insert(path.to_path_buf(), (meta.mode, meta.mtime));
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        parent: &Path,
        name: &OsStr,
        meta: &Meta,
        data: &mut R,
    ) -> io::Result<()> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let create =
            |dir: BorrowedFd<'_>| rfs::openat(dir, name, flags, Mode::from_raw_mode(0o600));
        let dir = self.tree.dir(parent, true)?.expect("created");
        let fd = match create(dir) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) => {
                self.clear_slot(parent, name, false)?;
                create(self.tree.dir(parent, true)?.expect("created"))?
            }
            Err(e) => return Err(e.into()),
        };
        let mut file = std::fs::File::from(fd);
        io::copy(data, &mut file)?;
        self.set_meta_fd(&file, meta, false)
    }

    fn symlink(
        &mut self,
        parent: &Path,
        name: &OsStr,
        target: &[u8],
        meta: &Meta,
    ) -> io::Result<()> {
        self.clear_slot(parent, name, false)?;
        let dir = self.tree.dir(parent, true)?.expect("created");
        rfs::symlinkat(OsStr::from_bytes(target), dir, name)?;
        set_meta_at(dir, name, meta, &self.owners, &mut self.warnings, false)
    }

    fn hardlink(&mut self, parent: &Path, name: &OsStr, target: &Path) -> io::Result<()> {
        let tparent = target.parent().unwrap_or(Path::new(""));
        let tname = target.file_name().expect("cleaned, non-empty");
        let tdir = self.tree.dir_uncached(tparent)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("hardlink target {target:?} does not exist"),
            )
        })?;
        let link = |dir: BorrowedFd<'_>| rfs::linkat(&tdir, tname, dir, name, AtFlags::empty());
        match link(self.tree.dir(parent, true)?.expect("created")) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::EXIST) => {
                self.clear_slot(parent, name, false)?;
                link(self.tree.dir(parent, true)?.expect("created")).map_err(Into::into)
            }
            Err(rustix::io::Errno::NOENT) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("hardlink target {target:?} does not exist"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    fn node(
        &mut self,
        parent: &Path,
        name: &OsStr,
        kind: FileType,
        dev: u64,
        meta: &Meta,
    ) -> io::Result<()> {
        self.clear_slot(parent, name, false)?;
        let dir = self.tree.dir(parent, true)?.expect("created");
        rfs::mknodat(dir, name, kind, Mode::from_raw_mode(meta.mode), dev)?;
        set_meta_at(dir, name, meta, &self.owners, &mut self.warnings, true)
    }

    fn whiteout(&mut self, parent: &Path, hidden: &OsStr) -> io::Result<()> {
        match self.target {
            Target::Flatten => {
                let Some(dir) = self.tree.dir(parent, false)? else {
                    return Ok(()); // nothing below to hide
                };
                if let Some(kind) = kind_at(dir, hidden)? {
                    remove_all_at(dir, hidden)?;
                    if matches!(kind, FileType::Directory | FileType::Symlink) {
                        self.tree.forget_cache();
                    }
                }
                Ok(())
            }
            Target::Overlay => {
                self.clear_slot(parent, hidden, false)?;
                let dir = self.tree.dir(parent, true)?.expect("created");
                rfs::mknodat(dir, hidden, FileType::CharacterDevice, Mode::empty(), 0)
                    .map_err(Into::into)
            }
        }
    }

    fn opaque_dir(&mut self, dir: &Path) -> io::Result<()> {
        match self.target {
            // Applied at the end of the layer, so entries of this layer that came before the
            // marker survive it.
            Target::Flatten => {
                self.opaque.push(dir.to_path_buf());
                Ok(())
            }
            Target::Overlay => {
                let fd = self.tree.dir(dir, true)?.expect("created");
                let fd = reopen_dir(&fd)?;
                rfs::fsetxattr(&fd, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                    .map_err(Into::into)
            }
        }
    }

    fn finish_opaque(&mut self, layer: &str) -> Result<()> {
        for dir in std::mem::take(&mut self.opaque) {
            let what = || format!("layer {layer}: clear opaque directory /{}", dir.display());
            let Some(fd) = self.tree.dir_uncached(&dir).map_err(io_err(what))? else {
                continue;
            };
            let paths = &self.layer_paths;
            clear_dir(fd.as_fd(), &|rel| paths.contains(&dir.join(rel))).map_err(io_err(what))?;
            self.tree.forget_cache();
        }
        Ok(())
    }

    fn set_meta_fd(&mut self, fd: &impl AsFd, meta: &Meta, is_dir: bool) -> io::Result<()> {
        match self
            .owners
            .resolve(meta.uid, meta.gid)
            .map_err(io::Error::other)?
        {
            Ownership::Chown(uid, gid) => rfs::fchown(
                fd,
                Some(rfs::Uid::from_raw(uid)),
                Some(rfs::Gid::from_raw(gid)),
            )?,
            Ownership::Xattr(Some(v)) => {
                rfs::fsetxattr(fd, ROOTLESS_XATTR, &v, XattrFlags::empty())?
            }
            Ownership::Xattr(None) => {}
        }
        // chmod after chown: chown clears setuid and setgid bits.
        let mode = if is_dir && self.owners.rootless {
            meta.mode | 0o700
        } else {
            meta.mode
        };
        rfs::fchmod(fd, Mode::from_raw_mode(mode))?;
        // xattrs after chown too: chown drops security.capability.
        for (k, v) in &meta.xattrs {
            if let Err(e) = rfs::fsetxattr(fd, k.as_os_str(), v, XattrFlags::empty()) {
                skip_or_fail(e, k, &self.owners, &mut self.warnings)?;
            }
        }
        if !is_dir {
            let times = Timestamps {
                last_access: meta.mtime,
                last_modification: meta.mtime,
            };
            rfs::futimens(fd, &times)?;
        }
        Ok(())
    }
}

/// Metadata of a symlink or device node, which cannot be opened as a file.
fn set_meta_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    meta: &Meta,
    owners: &Owners,
    warnings: &mut Warnings,
    chmod: bool,
) -> io::Result<()> {
    match owners
        .resolve(meta.uid, meta.gid)
        .map_err(io::Error::other)?
    {
        Ownership::Chown(uid, gid) => rfs::chownat(
            dir,
            name,
            Some(rfs::Uid::from_raw(uid)),
            Some(rfs::Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?,
        // user.* xattrs are not allowed on symlinks and device nodes.
        Ownership::Xattr(Some(_)) => {
            warnings.add("rootless: owner of symlinks and fifos not recorded")
        }
        Ownership::Xattr(None) => {}
    }
    if chmod {
        rfs::chmodat(dir, name, Mode::from_raw_mode(meta.mode), AtFlags::empty())?;
    }
    if !meta.xattrs.is_empty() {
        // lsetxattr on /proc/self/fd/N/NAME: the directory fd is ours, and the last
        // component is not followed.
        let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
        for (k, v) in &meta.xattrs {
            if let Err(e) = rfs::lsetxattr(&path, k.as_os_str(), v, XattrFlags::empty()) {
                skip_or_fail(e, k, owners, warnings)?;
            }
        }
    }
    let times = Timestamps {
        last_access: meta.mtime,
        last_modification: meta.mtime,
    };
    rfs::utimensat(dir, name, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// Rootless, and on filesystems without xattr support, an xattr that cannot be set is a
/// warning; as root anything else is an error.
fn skip_or_fail(
    e: rustix::io::Errno,
    key: &OsStr,
    owners: &Owners,
    warnings: &mut Warnings,
) -> io::Result<()> {
    let ns = key
        .as_bytes()
        .split(|&b| b == b'.')
        .next()
        .unwrap_or_default();
    if e == rustix::io::Errno::OPNOTSUPP || (owners.rootless && e == rustix::io::Errno::PERM) {
        warnings.add(format!(
            "could not set {}.* xattrs ({e})",
            String::from_utf8_lossy(ns)
        ));
        return Ok(());
    }
    Err(io::Error::new(
        io::Error::from(e).kind(),
        format!("set xattr {}: {e}", key.to_string_lossy()),
    ))
}

fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

fn reopen_dir(fd: &impl AsFd) -> io::Result<OwnedFd> {
    rfs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(Into::into)
}

/// PAX times are decimal seconds with an optional fraction.
fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let tv_nsec = if digits.is_empty() {
        0
    } else {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i64 = digits.parse().ok()?;
        n * 10i64.pow(9 - digits.len() as u32)
    };
    // "-1.25" is 1.25 s before the epoch: (-2 s, 0.75 s) as a timespec.
    if secs.starts_with('-') && tv_nsec != 0 {
        return Some(Timespec {
            tv_sec: tv_sec - 1,
            tv_nsec: 1_000_000_000 - tv_nsec,
        });
    }
    Some(Timespec { tv_sec, tv_nsec })
}

fn io_err(what: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io {
        what: what(),
        source,
    }
}

/// An I/O error during an entry: a verification or limit error carried through the
/// stream keeps its type; anything else names the layer and entry.
fn hostile_or_io(layer: &str, raw: &[u8], e: io::Error) -> Error {
    let entry = String::from_utf8_lossy(raw);
    from_stream(e, || format!("layer {layer}: entry {entry:?}"))
}

/// The first half of `Applier::apply`, to run on another thread than the tar extraction:
/// the stored blob, checked against its size and digest, and decompressed. Reading it
/// yields the layer's tar stream; its end fails if the stored blob does not match.
/// Hand what it yields to `apply` as a plain tar layer with the same DiffID.
pub struct Decompressed<'a> {
    decoder: Option<Decoder<BufReader<Counted<Verifier<BlobReader<'a>>>>>>,
}

impl<'a> Decompressed<'a> {
    pub fn new(
        layer: &Layer,
        blob: BlobReader<'a>,
        progress: &indicatif::ProgressBar,
    ) -> Result<Self> {
        let name = layer.name();
        let stored = Verifier::new(blob, name.clone(), layer.digest.clone(), layer.size);
        let counted = BufReader::with_capacity(
            64 << 10,
            Counted {
                inner: stored,
                bar: progress.clone(),
            },
        );
        let decoder = Decoder::new(counted, &layer.media_type)
            .map_err(|e| from_stream(e, || format!("read layer {name}")))?;
        Ok(Decompressed {
            decoder: Some(decoder),
        })
    }
}

impl Read for Decompressed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(0);
        };
        let n = decoder.read(buf)?;
        if n == 0 && !buf.is_empty() {
            // Whatever follows the compressed data counts for the digest too.
            let decoder = self.decoder.take().expect("checked above");
            decoder
                .into_inner()
                .into_inner()
                .inner
                .finish()
                .map_err(io::Error::other)?;
        }
        Ok(n)
    }
}

/// Counts stored bytes for the progress bar.
struct Counted<R> {
    inner: R,
    bar: indicatif::ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Stops an uncompressed stream at the size limit.
struct Capped<R> {
    inner: R,
    usage: Arc<Usage>,
    limit: u64,
    layer: String,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.usage.bytes.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > self.limit {
            return Err(io::Error::other(Error::Limit {
                layer: self.layer.clone(),
                reason: format!(
                    "uncompressed size exceeds the limit of {} bytes (--max-size)",
                    self.limit
                ),
            }));
        }
        Ok(n)
    }
}

/// Some writers (umoci 0.4.7 among them) end a layer right after the last file's data:
/// no padding to the 512-byte block, no end-of-archive blocks. Go's archive/tar accepts
/// that, and umoci unpacks such layers; so do we. When the stream ends off a block
/// boundary this supplies the missing padding and two zero blocks. The DiffID still covers
/// the real bytes, and a file truncated by more than a block still fails.
struct LenientEnd<R> {
    inner: R,
    seen: u64,
    /// Zero bytes still to supply once `inner` has ended.
    fill: Option<u64>,
}

impl<R: Read> LenientEnd<R> {
    fn new(inner: R) -> Self {
        LenientEnd {
            inner,
            seen: 0,
            fill: None,
        }
    }
}

impl<R: Read> Read for LenientEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fill.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.seen += n as u64;
                return Ok(n);
            }
            let partial = self.seen % 512;
            self.fill = Some(if partial == 0 {
                0
            } else {
                512 - partial + 1024
            });
        }
        let left = self.fill.as_mut().expect("set above");
        let n = buf.len().min(*left as usize);
        buf[..n].fill(0);
        *left -= n as u64;
        Ok(n)
    }
}

enum Decoder<R: BufRead> {
    Plain(R),
    Gzip(Box<flate2::bufread::MultiGzDecoder<R>>),
    Zstd(zstd::Decoder<'static, R>),
}

impl<R: BufRead> Decoder<R> {
    /// Media types say the compression; Docker archives do not, so the magic decides there.
    fn new(mut inner: R, media_type: &str) -> io::Result<Self> {
        let head = inner.fill_buf()?;
        let gzip = media_type.ends_with("gzip")
            || (!media_type.contains("tar") && head.starts_with(&[0x1f, 0x8b]));
        let zstd = media_type.ends_with("zstd")
            || (!media_type.contains("tar") && head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]));
        Ok(if gzip {
            Decoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(inner)))
        } else if zstd {
            Decoder::Zstd(zstd::Decoder::with_buffer(inner)?)
        } else {
            Decoder::Plain(inner)
        })
    }

    fn into_inner(self) -> R {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(d) => d.into_inner(),
            Decoder::Zstd(d) => d.finish(),
        }
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let t = parse_pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        assert_eq!(parse_pax_time(b"12").unwrap().tv_sec, 12);
        assert!(parse_pax_time(b"x").is_none());
        let t = parse_pax_time(b"1700000000.000000001").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 1));
        let t = parse_pax_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        let t = parse_pax_time(b"-0.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-1, 500_000_000));
    }
}
