//! `repack`: what a container changed in its bundle becomes a new layer on top of the
//! image the bundle was made from, and a new image in an OCI layout.
//!
//! The changes are, for an overlay bundle, its upper directory (overlayfs whiteouts become
//! `.wh.` entries, opaque directories `.wh..wh..opq`); for a flattened bundle, the rootfs
//! against the snapshot `unpack` took of it: every path's inode number and ctime. A
//! changed ctime catches every change of content, mode, owner, xattrs or links (the
//! kernel sets it; no tool can put it back), a new inode a replaced file, and a path that
//! is gone a deletion.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use serde_json::{json, Value};

use crate::digest::{Algorithm, Digest, Hasher, Verifier};
use crate::error::{Context, Error, Result};
use crate::image::media;
use crate::owner::ROOTLESS_XATTR;
use crate::reference::{Pick, Reference};
use crate::source::Source;
use crate::store::BUNDLE_STATE;
use crate::unpack::{read_origin, Origin, SNAPSHOT_FILE};

const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// What `repack` made.
#[derive(Debug)]
pub struct Report {
    pub manifest: Digest,
    pub layer: Digest,
    pub diff_id: Digest,
    pub entries: u64,
}

/// Options of `repack`.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// To fetch the base image's blobs again when the target layout lacks them.
    pub registry: crate::registry::Options,
    /// The history entry's `created_by`.
    pub created_by: Option<String>,
}

// ---- the snapshot of a flattened rootfs -------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    ctime: (i64, i64),
    dir: bool,
}

/// Records every path of `rootfs` with its inode and ctime, NUL-separated lines
/// `INO CTIME_S CTIME_NS D|F PATH`.
pub fn write_snapshot(rootfs: &Path, out: &Path) -> Result<()> {
    let root = open_dir_path(rootfs)?;
    let file = File::create(out).ctx(|| format!("create {}", out.display()))?;
    let mut w = BufWriter::new(file);
    walk(&root, Path::new(""), &mut |rel, st, _| {
        write!(
            w,
            "{} {} {} {} ",
            st.st_ino,
            st.st_ctime,
            st.st_ctime_nsec,
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                'D'
            } else {
                'F'
            }
        )?;
        w.write_all(rel.as_os_str().as_bytes())?;
        w.write_all(b"\0")
    })
    .ctx(|| format!("snapshot {}", rootfs.display()))?;
    w.flush().ctx(|| format!("write {}", out.display()))
}

fn read_snapshot(path: &Path) -> Result<HashMap<PathBuf, Stamp>> {
    let data = fs::read(path).ctx(|| format!("read {}", path.display()))?;
    let bad = || Error::invalid(path.display().to_string(), "malformed snapshot");
    let mut out = HashMap::new();
    for rec in data.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let mut parts = rec.splitn(5, |&b| b == b' ');
        let mut num = || -> Result<i64> {
            std::str::from_utf8(parts.next().ok_or_else(bad)?)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)
        };
        let ino = num()? as u64;
        let ctime = (num()?, num()?);
        let dir = parts.next().ok_or_else(bad)? == b"D";
        let rel = PathBuf::from(OsStr::from_bytes(parts.next().ok_or_else(bad)?));
        out.insert(rel, Stamp { ino, ctime, dir });
    }
    Ok(out)
}

// ---- walking a tree by fd ------------------------------------------------------------

fn open_dir_path(path: &Path) -> Result<OwnedFd> {
    rfs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {}", path.display()))
}

type Visit<'a> = dyn FnMut(&Path, &rfs::Stat, &OwnedFd) -> io::Result<()> + 'a;

/// Pre-order, names sorted, never following symlinks. `visit` gets the path relative to
/// the root, its stat and the fd of its parent directory.
fn walk(dir: &OwnedFd, rel: &Path, visit: &mut Visit<'_>) -> io::Result<()> {
    let mut names = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    names.sort();
    for name in names {
        let st = rfs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW)?;
        let child = rel.join(&name);
        visit(&child, &st, dir)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let sub = rfs::openat(
                dir,
                &name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            walk(&sub, &child, visit)?;
        }
    }
    Ok(())
}

fn xattrs(dir: &OwnedFd, name: &OsStr, kind: FileType) -> io::Result<BTreeMap<String, Vec<u8>>> {
    // l*xattr through /proc/self/fd: the directory is ours and the last component is not
    // followed.
    use std::os::fd::AsRawFd;
    let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    let mut out = BTreeMap::new();
    if kind == FileType::Symlink {
        return Ok(out); // user.* xattrs are not allowed on symlinks; others are rare
    }
    let mut names = vec![0u8; 64 << 10];
    let n = match rfs::llistxattr(&path, &mut names[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::OPNOTSUPP) => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    for key in names[..n].split(|&b| b == 0).filter(|k| !k.is_empty()) {
        let key = String::from_utf8_lossy(key).into_owned();
        let mut value = vec![0u8; 64 << 10];
        match rfs::lgetxattr(&path, key.as_str(), &mut value[..]) {
            Ok(len) => {
                value.truncate(len);
                out.insert(key, value);
            }
            Err(rustix::io::Errno::NODATA) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// `user.rootlesscontainers`' protobuf back to ids.
fn rootless_owner(v: &[u8]) -> Option<(u32, u32)> {
    let (mut uid, mut gid) = (0u32, 0u32);
    let mut i = 0;
    while i < v.len() {
        let tag = v[i];
        i += 1;
        let mut value: u64 = 0;
        let mut shift = 0;
        loop {
            let b = *v.get(i)?;
            i += 1;
            value |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
            if shift > 35 {
                return None;
            }
        }
        match tag {
            0x08 => uid = value as u32,
            0x10 => gid = value as u32,
            _ => return None,
        }
    }
    Some((uid, gid))
}

// ---- the layer ------------------------------------------------------------------------

/// Writes the gzip'd layer while hashing both forms.
struct LayerWriter {
    tar: tar::Builder<HashingWriter<flate2::write::GzEncoder<HashingWriter<BufWriter<File>>>>>,
    /// (dev, ino) of files with several links → the first path written.
    links: HashMap<(u64, u64), PathBuf>,
    entries: u64,
}

struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl LayerWriter {
    fn new(file: File) -> Self {
        let stored = HashingWriter {
            inner: BufWriter::with_capacity(256 << 10, file),
            hasher: Hasher::new(Algorithm::Sha256),
            size: 0,
        };
        let gz = flate2::write::GzEncoder::new(stored, flate2::Compression::default());
        let plain = HashingWriter {
            inner: gz,
            hasher: Hasher::new(Algorithm::Sha256),
            size: 0,
        };
        let mut tar = tar::Builder::new(plain);
        tar.mode(tar::HeaderMode::Complete);
        LayerWriter {
            tar,
            links: HashMap::new(),
            entries: 0,
        }
    }

    /// (DiffID, digest, size) once the archive is closed.
    fn finish(self) -> io::Result<(Digest, Digest, u64)> {
        let plain = self.tar.into_inner()?;
        let diff_id = plain.hasher.finish();
        let mut stored = plain.inner.finish()?;
        stored.flush()?;
        stored.inner.get_ref().sync_all()?;
        Ok((diff_id, stored.hasher.finish(), stored.size))
    }

    fn whiteout(&mut self, rel: &Path) -> io::Result<()> {
        let parent = rel.parent().unwrap_or(Path::new(""));
        let mut name = std::ffi::OsString::from(".wh.");
        name.push(rel.file_name().unwrap_or_default());
        self.marker(&parent.join(name))
    }

    fn opaque(&mut self, dir: &Path) -> io::Result<()> {
        self.marker(&dir.join(".wh..wh..opq"))
    }

    fn marker(&mut self, path: &Path) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o600);
        h.set_size(0);
        h.set_mtime(0);
        self.tar.append_data(&mut h, path, io::empty())?;
        self.entries += 1;
        Ok(())
    }

    /// One file of the tree, as it is: type, mode, owner, mtime, xattrs, content.
    fn entry(&mut self, dir: &OwnedFd, rel: &Path, st: &rfs::Stat) -> io::Result<()> {
        let name = rel.file_name().unwrap_or_default();
        let kind = FileType::from_raw_mode(st.st_mode);
        let mut attrs = xattrs(dir, name, kind)?;
        attrs.retain(|k, _| !k.starts_with("trusted.overlay.") && !k.starts_with("user.overlay."));
        let (mut uid, mut gid) = (st.st_uid, st.st_gid);
        if let Some(v) = attrs.remove(ROOTLESS_XATTR) {
            if let Some((u, g)) = rootless_owner(&v) {
                (uid, gid) = (u, g);
            }
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        // One PAX header for the entry (a reader keeps only the last one before it): the
        // exact mtime, which the ustar field cuts to whole seconds, and the xattrs.
        let mut exts: Vec<(String, Vec<u8>)> = Vec::new();
        if st.st_mtime_nsec != 0 || st.st_mtime < 0 {
            exts.push((
                "mtime".into(),
                pax_time(st.st_mtime, st.st_mtime_nsec as i64).into_bytes(),
            ));
        }
        exts.extend(
            attrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.clone())),
        );
        if !exts.is_empty() {
            self.tar
                .append_pax_extensions(exts.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        self.entries += 1;
        if kind != FileType::Directory && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                let first = first.clone();
                return self.tar.append_link(&mut h, rel, first);
            }
            self.links.insert(key, rel.to_path_buf());
        }
        match kind {
            FileType::Directory => {
                h.set_entry_type(tar::EntryType::Directory);
                self.tar.append_data(&mut h, rel, io::empty())
            }
            FileType::RegularFile => {
                h.set_entry_type(tar::EntryType::Regular);
                let fd = rfs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let file = File::from(fd);
                let size = file.metadata()?.len();
                h.set_size(size);
                // A file that grows while we read it is cut at the size we announced.
                self.tar.append_data(&mut h, rel, file.take(size))
            }
            FileType::Symlink => {
                h.set_entry_type(tar::EntryType::Symlink);
                let target = rfs::readlinkat(dir, name, Vec::new())?;
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                self.tar.append_link(&mut h, rel, target)
            }
            FileType::CharacterDevice | FileType::BlockDevice => {
                h.set_entry_type(if kind == FileType::CharacterDevice {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                h.set_device_major(rfs::major(st.st_rdev))?;
                h.set_device_minor(rfs::minor(st.st_rdev))?;
                self.tar.append_data(&mut h, rel, io::empty())
            }
            FileType::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                self.tar.append_data(&mut h, rel, io::empty())
            }
            // Sockets belong to a running process, not to an image.
            _ => {
                self.entries -= 1;
                Ok(())
            }
        }
    }
}

/// A PAX time: decimal seconds and, if any, nine digits of nanoseconds. Before 1970 the
/// value is still seconds plus a positive fraction's worth of time: -1.25 s is
/// `(-2 s, 750 000 000 ns)` and is written "-1.25".
fn pax_time(sec: i64, nsec: i64) -> String {
    if nsec == 0 {
        return sec.to_string();
    }
    let (whole, frac) = if sec < 0 {
        (sec + 1, 1_000_000_000 - nsec)
    } else {
        (sec, nsec)
    };
    let sign = if sec < 0 && whole == 0 { "-" } else { "" };
    let digits = format!("{frac:09}");
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

/// An overlay upper directory as a layer.
fn layer_from_upper(upper: &Path, w: &mut LayerWriter) -> Result<()> {
    let root = open_dir_path(upper)?;
    walk(&root, Path::new(""), &mut |rel, st, dir| {
        let name = rel.file_name().unwrap_or_default();
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind == FileType::CharacterDevice && st.st_rdev == 0 {
            return w.whiteout(rel);
        }
        if let Some(v) = overlay_xattr(dir, name, "redirect")? {
            return Err(io::Error::other(format!(
                "/{} is a renamed directory (overlay redirect to {:?}); mount without redirect_dir",
                rel.display(),
                String::from_utf8_lossy(&v)
            )));
        }
        if overlay_xattr(dir, name, "metacopy")?.is_some() {
            return Err(io::Error::other(format!(
                "/{} holds metadata only (overlay metacopy); mount without metacopy",
                rel.display()
            )));
        }
        w.entry(dir, rel, st)?;
        if kind == FileType::Directory
            && overlay_xattr(dir, name, "opaque")?.is_some_and(|v| v == b"y")
        {
            w.opaque(rel)?;
        }
        Ok(())
    })
    .ctx(|| format!("read the changes in {}", upper.display()))
}

fn overlay_xattr(dir: &OwnedFd, name: &OsStr, key: &str) -> io::Result<Option<Vec<u8>>> {
    use std::os::fd::AsRawFd;
    let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    let mut value = vec![0u8; 4096];
    match rfs::lgetxattr(
        &path,
        format!("trusted.overlay.{key}").as_str(),
        &mut value[..],
    ) {
        Ok(n) => {
            value.truncate(n);
            Ok(Some(value))
        }
        Err(rustix::io::Errno::NODATA | rustix::io::Errno::OPNOTSUPP) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A flattened rootfs against its snapshot as a layer.
fn layer_from_snapshot(rootfs: &Path, snapshot: &Path, w: &mut LayerWriter) -> Result<()> {
    let before = read_snapshot(snapshot)?;
    let root = open_dir_path(rootfs)?;
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    // Directories that replaced an earlier one: everything below them is in this layer.
    let mut replaced: Vec<PathBuf> = Vec::new();
    walk(&root, Path::new(""), &mut |rel, st, dir| {
        let kind = FileType::from_raw_mode(st.st_mode);
        seen.insert(rel.to_path_buf());
        if kind == FileType::Directory {
            dirs.insert(rel.to_path_buf());
        }
        let now = Stamp {
            ino: st.st_ino,
            ctime: (st.st_ctime, st.st_ctime_nsec as i64),
            dir: kind == FileType::Directory,
        };
        match before.get(rel) {
            Some(was) if *was == now => Ok(()),
            was => {
                w.entry(dir, rel, st)?;
                if let Some(was) = was {
                    if was.dir && now.dir && was.ino != now.ino {
                        w.opaque(rel)?;
                        replaced.push(rel.to_path_buf());
                    }
                }
                Ok(())
            }
        }
    })
    .ctx(|| format!("compare {} with its snapshot", rootfs.display()))?;
    let mut gone: Vec<&PathBuf> = before
        .keys()
        .filter(|p| !seen.contains(*p))
        .filter(|p| {
            // Only the top of what is gone, in a directory that is still one, and not
            // under a replaced directory (its opaque marker hides the old content).
            let parent = p.parent().unwrap_or(Path::new(""));
            (parent.as_os_str().is_empty() || dirs.contains(parent))
                && !replaced.iter().any(|r| p.starts_with(r))
        })
        .collect();
    gone.sort();
    for p in gone {
        w.whiteout(p)
            .ctx(|| format!("write whiteout for /{}", p.display()))?;
    }
    Ok(())
}

// ---- the image --------------------------------------------------------------------------

fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs").join(d.algorithm().name()).join(d.hex())
}

/// Writes a small blob by its digest; returns (digest, size).
fn put_blob(dir: &Path, data: &[u8]) -> Result<(Digest, u64)> {
    let d = Digest::of(Algorithm::Sha256, data);
    let path = blob_path(dir, &d);
    if !path.exists() {
        let tmp = dir.join("blobs/sha256").join(format!(".tmp-{}", d.hex()));
        fs::write(&tmp, data).ctx(|| format!("write {}", tmp.display()))?;
        fs::rename(&tmp, &path).ctx(|| format!("rename {}", path.display()))?;
    }
    Ok((d, data.len() as u64))
}

/// The layout directory, created if needed.
fn open_layout(dir: &Path) -> Result<()> {
    for sub in ["blobs/sha256", "blobs/sha512"] {
        let p = dir.join(sub);
        fs::create_dir_all(&p).ctx(|| format!("create {}", p.display()))?;
    }
    let layout = dir.join("oci-layout");
    match fs::read(&layout) {
        Ok(data) => crate::source::check_layout_version(&data, &layout.display().to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .ctx(|| format!("write {}", layout.display()))
        }
        Err(e) => Err(e).ctx(|| format!("read {}", layout.display())),
    }
}

/// The base image's source, to copy blobs the layout lacks. A registry image is fetched
/// by the manifest digest the bundle was made from, not by a tag that may have moved.
fn base_source(origin: &Origin, opts: &Options) -> Result<Source> {
    match Reference::parse(&origin.reference)? {
        Reference::Layout { dir, .. } => Source::dir(&dir),
        Reference::OciArchive { tar, .. } | Reference::DockerArchive { tar, .. } => {
            Source::tar(&tar)
        }
        Reference::Registry(mut r) => {
            if let Some(m) = &origin.manifest {
                r.pick = Pick::Digest(Digest::parse(m)?);
            }
            Ok(Source::Registry(crate::registry::Client::connect(
                &r,
                &opts.registry,
            )?))
        }
    }
}

/// OCI media types for the base's layers (Docker's are the same formats).
fn oci_layer_type(media_type: &str, stored_is_tar: bool) -> &'static str {
    if stored_is_tar {
        return OCI_LAYER;
    }
    if media_type.ends_with("zstd") {
        OCI_LAYER_ZSTD
    } else if media_type.ends_with("gzip") || media_type.is_empty() {
        OCI_LAYER_GZIP
    } else {
        OCI_LAYER
    }
}

/// Makes sure every base layer's blob is in the layout, fetched and verified from the
/// image's source when missing. Returns their descriptors.
fn base_layers(dir: &Path, origin: &Origin, opts: &Options) -> Result<Vec<Value>> {
    let mut source: Option<Source> = None;
    let mut descs = Vec::new();
    for l in &origin.layers {
        let diff_id = Digest::parse(&l.diff_id)?;
        // docker-archive's legacy layers are stored uncompressed: their digest is the
        // DiffID.
        let (digest, size, stored_is_tar) = match &l.digest {
            Some(d) => (Digest::parse(d)?, l.size, false),
            None => (diff_id.clone(), None, true),
        };
        let path = blob_path(dir, &digest);
        let present = fs::metadata(&path)
            .ok()
            .is_some_and(|m| size.is_none_or(|s| m.len() == s));
        let size = if present {
            fs::metadata(&path)
                .ctx(|| format!("stat {}", path.display()))?
                .len()
        } else {
            if source.is_none() {
                source = Some(base_source(origin, opts)?);
            }
            let src = source.as_ref().expect("set above");
            let (blob, _) = src.open(&l.path)?;
            copy_blob(dir, blob, &digest, size)?
        };
        descs.push(json!({
            "mediaType": oci_layer_type(&l.media_type, stored_is_tar),
            "digest": digest.to_string(),
            "size": size,
        }));
    }
    Ok(descs)
}

fn copy_blob(dir: &Path, blob: impl Read, digest: &Digest, size: Option<u64>) -> Result<u64> {
    let path = blob_path(dir, digest);
    let tmp = path.with_file_name(format!(".tmp-{}", digest.hex()));
    let mut v = Verifier::new(blob, digest.to_string(), Some(digest.clone()), size);
    let mut out = File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
    let copied = io::copy(&mut v, &mut out);
    let copied = match copied {
        Ok(n) => n,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(crate::error::from_stream(e, || {
                format!("copy blob {digest} into {}", dir.display())
            }));
        }
    };
    fs::rename(&tmp, &path).ctx(|| format!("rename {}", path.display()))?;
    Ok(copied)
}

/// `repack BUNDLE --image oci:DIR:TAG`.
pub fn repack(bundle: &Path, target: &Reference, opts: &Options) -> Result<Report> {
    let (dir, tag) = match target {
        Reference::Layout {
            dir,
            pick: Pick::Tag(t),
        } => (dir.clone(), t.clone()),
        _ => {
            return Err(Error::invalid(
                "--image",
                "expected oci:DIR:TAG (an OCI layout, created if missing, and a tag)",
            ))
        }
    };
    let bundle = fs::canonicalize(bundle).ctx(|| format!("resolve bundle {}", bundle.display()))?;
    let (origin, config_raw) = read_origin(&bundle)?;
    open_layout(&dir)?;

    // The layer, written under a temporary name and renamed to its digest.
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-layer-")
        .tempfile_in(dir.join("blobs/sha256"))
        .ctx(|| format!("create a temporary file in {}", dir.display()))?;
    let file = tmp
        .as_file()
        .try_clone()
        .ctx(|| "duplicate the layer's fd".into())?;
    let mut w = LayerWriter::new(file);
    let state = bundle.join(BUNDLE_STATE);
    match origin.mode.as_str() {
        "overlay" => layer_from_upper(&state.join("upper"), &mut w)?,
        _ => layer_from_snapshot(&bundle.join("rootfs"), &state.join(SNAPSHOT_FILE), &mut w)?,
    }
    let entries = w.entries;
    let (diff_id, layer, layer_size) = w
        .finish()
        .ctx(|| format!("write the new layer in {}", dir.display()))?;
    let layer_path = blob_path(&dir, &layer);
    tmp.persist(&layer_path)
        .map_err(|e| e.error)
        .ctx(|| format!("rename {}", layer_path.display()))?;

    let mut layers = base_layers(&dir, &origin, opts)?;
    layers.push(
        json!({"mediaType": OCI_LAYER_GZIP, "digest": layer.to_string(), "size": layer_size}),
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(now);
    // RFC 3339 UTC to the second, as image configs carry it.
    let created = hull_cgroups::rfc3339::format(now, None);
    let mut config: Value =
        crate::image::parse_json(&config_raw, || "the base image's config".into())?;
    let obj = config
        .as_object_mut()
        .ok_or_else(|| Error::invalid("the base image's config", "not a JSON object"))?;
    obj.insert("created".into(), json!(&created));
    let rootfs = obj
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    rootfs["diff_ids"]
        .as_array_mut()
        .ok_or_else(|| Error::invalid("the base image's config", "rootfs.diff_ids is not a list"))?
        .push(json!(diff_id.to_string()));
    let history = obj.entry("history").or_insert_with(|| json!([]));
    if let Some(h) = history.as_array_mut() {
        h.push(json!({
            "created": created,
            "created_by": opts.created_by.clone().unwrap_or_else(|| "hull-image repack".into()),
            "comment": format!("hull-image repack: the changes of bundle {} on {}", bundle.display(), origin.reference),
        }));
    }
    let config_bytes = serde_json::to_vec(&config).expect("a JSON value serializes");
    let (config_digest, config_size) = put_blob(&dir, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest.to_string(), "size": config_size},
        "layers": layers,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("a JSON value serializes");
    let (manifest_digest, manifest_size) = put_blob(&dir, &manifest_bytes)?;
    let mut desc = json!({
        "mediaType": media::OCI_MANIFEST,
        "digest": manifest_digest.to_string(),
        "size": manifest_size,
        "annotations": {"org.opencontainers.image.ref.name": tag},
    });
    if let Some(p) = platform_of(&config) {
        desc["platform"] = p;
    }
    tag_in_index(&dir, &tag, desc)?;
    Ok(Report {
        manifest: manifest_digest,
        layer,
        diff_id,
        entries,
    })
}

fn platform_of(config: &Value) -> Option<Value> {
    let os = config.get("os")?.as_str()?;
    let arch = config.get("architecture")?.as_str()?;
    let mut p = json!({"os": os, "architecture": arch});
    if let Some(v) = config.get("variant").and_then(Value::as_str) {
        p["variant"] = json!(v);
    }
    Some(p)
}

/// index.json with `desc` under `tag` (replacing what had that tag), written atomically.
fn tag_in_index(dir: &Path, tag: &str, desc: Value) -> Result<()> {
    let path = dir.join("index.json");
    let mut index = match fs::read(&path) {
        Ok(data) => crate::image::parse_json::<Value>(&data, || path.display().to_string())?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            json!({"schemaVersion": 2, "manifests": []})
        }
        Err(e) => return Err(e).ctx(|| format!("read {}", path.display())),
    };
    if index.get("mediaType").is_none() {
        index["mediaType"] = json!(media::OCI_INDEX);
    }
    let manifests = index
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Error::invalid(path.display().to_string(), "no manifests list"))?;
    manifests.retain(|m| {
        m.pointer("/annotations/org.opencontainers.image.ref.name")
            .and_then(Value::as_str)
            != Some(tag)
    });
    manifests.push(desc);
    let tmp = dir.join(".index.json.tmp");
    let data = serde_json::to_vec(&index).expect("a JSON value serializes");
    fs::write(&tmp, data).ctx(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, &path).ctx(|| format!("rename {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_round_trip() {
        assert_eq!(pax_time(1_700_000_000, 0), "1700000000");
        assert_eq!(pax_time(1_700_000_000, 123_456_789), "1700000000.123456789");
        assert_eq!(pax_time(1_700_000_000, 500_000_000), "1700000000.5");
        assert_eq!(pax_time(5, 1), "5.000000001");
        assert_eq!(pax_time(-2, 750_000_000), "-1.25");
        assert_eq!(pax_time(-1, 500_000_000), "-0.5");
        assert_eq!(pax_time(-3, 0), "-3");
    }

    #[test]
    fn rootless_owner_decodes() {
        assert_eq!(rootless_owner(&[0x08, 0xe8, 0x07]), Some((1000, 0)));
        assert_eq!(rootless_owner(&[0x08, 1, 0x10, 2]), Some((1, 2)));
        assert_eq!(rootless_owner(&[0x18, 1]), None);
    }
}
