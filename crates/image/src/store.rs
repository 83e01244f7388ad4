//! The content-addressed layer store of overlay mode, and the overlay mounts over it.
//!
//! ```text
//! STORE/lock                       flock: shared while unpacking, exclusive for gc
//! STORE/layers/<algo>/<hex>/       one extracted layer, named by its DiffID; complete
//!                                  layers only (extraction happens in tmp/, then rename)
//! STORE/tmp/                       extractions in progress; what a killed run left is
//!                                  removed by the next run that has the store to itself
//! STORE/bundles/<hash>.json        which bundle mounts which layers (what gc keeps)
//! STORE/images/<hash>.json         images pulled into the store (gc keeps their layers
//!                                  until `rmi`)
//! BUNDLE/.hull-image/{upper,work}  the bundle's own overlay upper and work dirs
//! BUNDLE/.hull-image/mount.json    where the bundle's store record is
//! ```

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, CWD};
use rustix::mount::{
    self as rmount, FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, UnmountFlags,
};
use serde::{Deserialize, Serialize};

use crate::digest::{Algorithm, Digest};
use crate::error::{Context, Error, Result};

pub const BUNDLE_STATE: &str = ".hull-image";

pub struct Store {
    root: PathBuf,
    /// Held (shared or exclusive) for the life of the Store.
    _lock: File,
}

#[derive(Serialize, Deserialize)]
pub struct Record {
    pub bundle: PathBuf,
    pub layers: Vec<String>,
    /// The image the bundle was made from.
    #[serde(default)]
    pub image: Option<String>,
}

/// An image pulled into the store: what `ls` shows and what keeps its layers from gc.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageRecord {
    pub name: String,
    pub manifest: Option<String>,
    pub config: String,
    pub layers: Vec<LayerRecord>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerRecord {
    pub diff_id: String,
    pub digest: Option<String>,
    pub size: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct BundleState {
    store: PathBuf,
}

impl Store {
    /// Opens (creating) the store. `exclusive` for gc, which must not run while a layer
    /// is being extracted or a bundle is being mounted.
    pub fn open(root: &Path, exclusive: bool) -> Result<Self> {
        for sub in ["layers/sha256", "layers/sha512", "tmp", "bundles", "images"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).ctx(|| format!("create store directory {}", p.display()))?;
        }
        // Layers hold setuid files and device nodes of images: not for other users.
        set_private(root)?;
        let root = fs::canonicalize(root).ctx(|| format!("resolve store {}", root.display()))?;
        let lock_path = root.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx(|| format!("open {}", lock_path.display()))?;
        let lock_err = |e| Error::Io {
            what: format!("lock {}", lock_path.display()),
            source: io::Error::from(e),
        };
        if exclusive {
            rustix::fs::flock(&lock, FlockOperation::LockExclusive).map_err(lock_err)?;
            return Ok(Store { root, _lock: lock });
        }
        // Alone in the store (no other unpack, pull or gc holds the lock): whatever is in
        // tmp/ was left by a run that was killed, and goes now, not only at the next gc.
        // Then shared, like every unpack; a gc that slips in between is waited for.
        match rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                let store = Store { root, _lock: lock };
                store.clean_tmp()?;
                rustix::fs::flock(&store._lock, FlockOperation::LockShared).map_err(lock_err)?;
                Ok(store)
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                rustix::fs::flock(&lock, FlockOperation::LockShared).map_err(lock_err)?;
                Ok(Store { root, _lock: lock })
            }
            Err(e) => Err(lock_err(e)),
        }
    }

    /// Removes the leftovers of interrupted extractions. Only with the lock held
    /// exclusively: a running extraction holds it shared.
    fn clean_tmp(&self) -> Result<()> {
        let tmp = self.root.join("tmp");
        for entry in fs::read_dir(&tmp).ctx(|| format!("list {}", tmp.display()))? {
            let path = entry.ctx(|| format!("list {}", tmp.display()))?.path();
            remove_tree(&path)?;
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root
            .join("layers")
            .join(diff_id.algorithm().name())
            .join(diff_id.hex())
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).is_dir()
    }

    /// A fresh directory to extract a layer into; `commit_layer` or drop it.
    pub fn temp_dir(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("layer-")
            .tempdir_in(self.root.join("tmp"))
            .ctx(|| format!("create a temporary directory in {}", self.root.display()))
    }

    /// Publishes a completely extracted and verified layer under its DiffID. If another
    /// unpack published the same layer meanwhile, ours is thrown away.
    pub fn commit_layer(&self, tmp: tempfile::TempDir, diff_id: &Digest) -> Result<()> {
        let dest = self.layer_dir(diff_id);
        match rustix::fs::renameat(CWD, tmp.path(), CWD, &dest) {
            Ok(()) => {
                let _ = tmp.keep();
                Ok(())
            }
            Err(rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY) => Ok(()),
            Err(e) => Err(Error::Io {
                what: format!("move layer into {}", dest.display()),
                source: e.into(),
            }),
        }
    }

    fn record_path(&self, bundle: &Path) -> PathBuf {
        let hash = Digest::of(Algorithm::Sha256, bundle.as_os_str().as_encoded_bytes());
        self.root
            .join("bundles")
            .join(format!("{}.json", hash.hex()))
    }

    /// Mounts the overlay of `layers` (bottom first) on `DIR/rootfs` and records it as
    /// the bundle `bundle`: `DIR` is where the bundle is made, renamed to `bundle` once
    /// complete (the mount moves with it).
    pub fn mount(
        &self,
        dir: &Path,
        bundle: &Path,
        layers: &[Digest],
        image: Option<String>,
    ) -> Result<()> {
        let state = dir.join(BUNDLE_STATE);
        let upper = state.join("upper");
        let work = state.join("work");
        let rootfs = dir.join("rootfs");
        for d in [&upper, &work, &rootfs] {
            fs::create_dir_all(d).ctx(|| format!("create {}", d.display()))?;
        }
        // Record first: a gc that runs right after must already see the layers in use.
        let record = Record {
            bundle: bundle.to_path_buf(),
            layers: layers.iter().map(ToString::to_string).collect(),
            image,
        };
        write_json(&self.record_path(bundle), &record)?;
        write_json(
            &state.join("mount.json"),
            &BundleState {
                store: self.root.clone(),
            },
        )?;
        let lowers: Vec<PathBuf> = layers.iter().rev().map(|d| self.layer_dir(d)).collect();
        mount_overlay(&rootfs, &lowers, &upper, &work).map_err(|source| Error::Io {
            what: format!(
                "mount overlay on {} ({} layers)",
                rootfs.display(),
                lowers.len()
            ),
            source,
        })
    }
}

impl Store {
    fn image_record_path(&self, name: &str) -> PathBuf {
        let hash = Digest::of(Algorithm::Sha256, name.as_bytes());
        self.root
            .join("images")
            .join(format!("{}.json", hash.hex()))
    }

    /// Records an image whose layers are all in the store (`pull`).
    pub fn record_image(&self, record: &ImageRecord) -> Result<()> {
        write_json(&self.image_record_path(&record.name), record)
    }

    /// Forgets a pulled image; its layers go at the next gc unless a bundle uses them.
    pub fn remove_image(&self, name: &str) -> Result<bool> {
        let path = self.image_record_path(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).ctx(|| format!("remove {}", path.display())),
        }
    }

    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        read_records(&self.root.join("images"))
    }

    /// Records of bundles, with whether each is mounted now.
    pub fn bundles(&self) -> Result<Vec<(Record, bool)>> {
        let mut out = Vec::new();
        for r in read_records::<Record>(&self.root.join("bundles"))? {
            let mounted = is_overlay_mount(&r.bundle.join("rootfs"))?;
            out.push((r, mounted));
        }
        Ok(out)
    }

    /// The DiffIDs of the extracted layers.
    pub fn layers(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for algo in ["sha256", "sha512"] {
            let dir = self.root.join("layers").join(algo);
            for entry in fs::read_dir(&dir).ctx(|| format!("list {}", dir.display()))? {
                let entry = entry.ctx(|| format!("list {}", dir.display()))?;
                let name = format!("{algo}:{}", entry.file_name().to_string_lossy());
                if let Ok(d) = Digest::parse(&name) {
                    out.push(d);
                }
            }
        }
        out.sort_by_key(ToString::to_string);
        Ok(out)
    }
}

fn read_records<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).ctx(|| format!("list {}", dir.display()))? {
        let path = entry.ctx(|| format!("list {}", dir.display()))?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        // A record being replaced may vanish between listing and reading.
        if let Some(r) = fs::read(&path)
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
        {
            out.push(r);
        }
    }
    Ok(out)
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let data = serde_json::to_vec_pretty(value).expect("plain data serializes");
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
    f.write_all(&data)
        .ctx(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, path).ctx(|| format!("rename {} into place", tmp.display()))
}

pub fn set_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .ctx(|| format!("chmod 0700 {}", path.display()))
}

/// overlayfs through the mount API: `lowerdir+` takes one layer at a time, so no option
/// string limit (one page) caps the number of layers. Kernels before 6.8 lack it; they
/// get the classic colon-joined `lowerdir`.
fn mount_overlay(target: &Path, lowers: &[PathBuf], upper: &Path, work: &Path) -> io::Result<()> {
    let fs = rmount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    let mut appended = true;
    for lower in lowers {
        if let Err(e) = rmount::fsconfig_set_string(fs.as_fd(), "lowerdir+", lower) {
            if e == rustix::io::Errno::INVAL && lower == &lowers[0] {
                appended = false;
                break;
            }
            return Err(e.into());
        }
    }
    let fs = if appended {
        fs
    } else {
        let fs = rmount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
        let joined: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        rmount::fsconfig_set_string(fs.as_fd(), "lowerdir", joined.join(":"))?;
        fs
    };
    // A renamed lower directory must be copied up whole, not recorded as a redirect:
    // `repack` reads the upper directory as a layer, and layers have no redirects.
    match rmount::fsconfig_set_string(fs.as_fd(), "redirect_dir", "off") {
        Ok(()) | Err(rustix::io::Errno::INVAL) => {}
        Err(e) => return Err(e.into()),
    }
    rmount::fsconfig_set_string(fs.as_fd(), "upperdir", upper)?;
    rmount::fsconfig_set_string(fs.as_fd(), "workdir", work)?;
    rmount::fsconfig_create(fs.as_fd())?;
    let mnt = rmount::fsmount(
        fs.as_fd(),
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::empty(),
    )?;
    rmount::move_mount(
        mnt.as_fd(),
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

/// Whether `path` is an overlay mount point in this mount namespace.
pub fn is_overlay_mount(path: &Path) -> Result<bool> {
    let mounts = hull_cgroups::mountinfo::read_self().ctx(|| "read /proc/self/mountinfo".into())?;
    Ok(mounts
        .iter()
        .any(|m| m.mount_point == path && m.fstype == "overlay"))
}

/// `hull-image umount BUNDLE`: unmounts the rootfs, drops the bundle's work dir and its
/// claim on the store's layers. The upper dir (what the container changed) stays.
pub fn umount(bundle: &Path) -> Result<()> {
    let bundle = fs::canonicalize(bundle).ctx(|| format!("resolve bundle {}", bundle.display()))?;
    let state = bundle.join(BUNDLE_STATE);
    let state_file = state.join("mount.json");
    let data = fs::read(&state_file)
        .ctx(|| format!("read {} (not an overlay bundle?)", state_file.display()))?;
    let st: BundleState = crate::image::parse_json(&data, || state_file.display().to_string())?;
    let rootfs = bundle.join("rootfs");
    if is_overlay_mount(&rootfs)? {
        rmount::unmount(&rootfs, UnmountFlags::empty())
            .ctx(|| format!("unmount {}", rootfs.display()))?;
    }
    let work = state.join("work");
    if work.exists() {
        fs::remove_dir_all(&work).ctx(|| format!("remove {}", work.display()))?;
    }
    // The store may be gone already; then there is no claim to drop.
    if st.store.is_dir() {
        let store = Store::open(&st.store, false)?;
        let record = store.record_path(&bundle);
        match fs::remove_file(&record) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).ctx(|| format!("remove {}", record.display())),
        }
    }
    fs::remove_file(&state_file).ctx(|| format!("remove {}", state_file.display()))
}

/// What `gc` did.
#[derive(Debug, Default)]
pub struct GcReport {
    pub removed_layers: Vec<String>,
    pub kept_layers: usize,
    pub stale_records: usize,
}

/// `hull-image gc`: removes layers no mounted bundle or pulled image uses, records of bundles that are
/// no longer mounted, and leftovers of interrupted extractions.
pub fn gc(root: &Path) -> Result<GcReport> {
    let store = Store::open(root, true)?;
    let mut report = GcReport::default();
    let mut used = std::collections::HashSet::new();
    let records = store.root.join("bundles");
    for entry in fs::read_dir(&records).ctx(|| format!("list {}", records.display()))? {
        let path = entry.ctx(|| format!("list {}", records.display()))?.path();
        let record: Option<Record> = fs::read(&path)
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok());
        match record {
            Some(r) if is_overlay_mount(&r.bundle.join("rootfs"))? => used.extend(r.layers),
            _ => {
                fs::remove_file(&path).ctx(|| format!("remove stale record {}", path.display()))?;
                report.stale_records += 1;
            }
        }
    }
    for image in store.images()? {
        used.extend(image.layers.into_iter().map(|l| l.diff_id));
    }
    for algo in ["sha256", "sha512"] {
        let dir = store.root.join("layers").join(algo);
        for entry in fs::read_dir(&dir).ctx(|| format!("list {}", dir.display()))? {
            let entry = entry.ctx(|| format!("list {}", dir.display()))?;
            let name = format!("{algo}:{}", entry.file_name().to_string_lossy());
            if used.contains(&name) {
                report.kept_layers += 1;
                continue;
            }
            // Out of layers/ first, so a crash halfway never leaves a partial layer there.
            let doomed = store.temp_dir()?;
            let target = doomed.path().join("layer");
            fs::rename(entry.path(), &target)
                .ctx(|| format!("move {} out of the store", entry.path().display()))?;
            remove_tree(doomed.path())?;
            report.removed_layers.push(name);
        }
    }
    store.clean_tmp()?;
    Ok(report)
}

/// Removes a tree that may hold read-only directories (an extracted 0555 /usr).
pub fn remove_tree(path: &Path) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or_default();
    let dir = File::open(parent).ctx(|| format!("open {}", parent.display()))?;
    crate::tree::remove_all_at(&dir, name).ctx(|| format!("remove {}", path.display()))
}
