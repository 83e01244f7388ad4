//! `unpack`: an image reference in, a bundle (rootfs + config.json) out; and `pull`, which
//! only fills the layer store.
//!
//! The bundle is made under a temporary name next to it and renamed into place when it
//! is complete: an unpack that fails, or is killed, never leaves something that looks
//! like a bundle. Store layers are likewise extracted in `STORE/tmp` and renamed.
//!
//! Layers are fetched by a few threads at once. Flattened, they must be applied in order:
//! each thread verifies and decompresses one layer into a small bounded queue, which the
//! main thread extracts (so decompression and extraction overlap, and the next layers'
//! downloads start early). Into the store, each layer is its own tree, so each thread
//! extracts its layer completely. Nothing is written to disk but the extracted files.

use std::fs;
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use crate::digest::Digest;
use crate::error::{Context, Error, Result};
use crate::image::Platform;
use crate::layer::{Applier, Decompressed, Limits, Target, Usage};
use crate::owner::Owners;
use crate::reference::Reference;
use crate::resolve::{self, Image, Layer};
use crate::spec;
use crate::store::{self, Store};
use crate::tree::Tree;

/// Layers fetched at once from a registry unless `--jobs` says otherwise.
///
/// A registry download spends most of its time waiting for the network (latency per
/// request, a server that sends one connection's worth at a time), so fetching more
/// layers than there are cores still pays on a 2-core machine: while one waits, another
/// is decompressed. Three keeps the memory bounded: each job holds a 64 KiB read buffer,
/// the decompressor's state (about 45 KiB for gzip; for zstd the frame's window, 1 to 8
/// MiB at the levels images are made with) and, flattening, a queue of up to
/// `QUEUED_CHUNKS` x `CHUNK` = 256 KiB of decompressed tar; a gzip image costs about
/// 0.4 MiB per job. More jobs buy little more: the layers of most images are a few big
/// ones and many small ones, and the big ones are fetched from the start.
///
/// Local sources (a layout or an archive) have no latency to hide. Flattening them uses
/// one prefetch thread, however many jobs are asked for: extraction is sequential, and
/// one thread decompressing ahead of it keeps it fed; more would only hold more layers'
/// buffers. Into the store, where each job extracts its own layer, local sources use
/// `--jobs` but at most one job per core (the work is CPU and disk, not waiting).
pub const DEFAULT_JOBS: usize = 3;

/// Decompressed bytes a flatten prefetch thread may hold: a queue of this many chunks.
const CHUNK: usize = 64 << 10;
const QUEUED_CHUNKS: usize = 4;

/// Threads that fetch layers: see `DEFAULT_JOBS`.
fn fetch_threads(image: &Image, opts: &Options, layers: usize, flatten: bool) -> usize {
    let jobs = match (&image.source, flatten) {
        (crate::source::Source::Registry(_), _) => opts.jobs,
        (_, true) => 1,
        (_, false) => opts
            .jobs
            .min(std::thread::available_parallelism().map_or(1, |n| n.get())),
    };
    jobs.clamp(1, layers.max(1))
}

#[derive(Clone, Debug)]
pub struct Options {
    pub platform: Platform,
    /// Overlay mode, with this layer store; flatten when None.
    pub store: Option<PathBuf>,
    pub owners: Owners,
    pub limits: Limits,
    pub spec: spec::Options,
    /// Draw progress bars (only ever on a terminal).
    pub progress: bool,
    /// How to reach and authenticate to a registry (docker:// references).
    pub registry: crate::registry::Options,
    /// Layers fetched at once.
    pub jobs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            platform: Platform::host(),
            store: None,
            owners: Owners::default(),
            limits: Limits::default(),
            spec: spec::Options::default(),
            progress: false,
            registry: crate::registry::Options::default(),
            jobs: DEFAULT_JOBS,
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub layers_extracted: usize,
    pub layers_reused: usize,
    pub warnings: Vec<String>,
}

/// What the bundle records about the image it was made from (`BUNDLE/.hull-image/`),
/// for `repack`: the reference, and the manifest's layers so that their blobs can be
/// fetched again; the config itself is kept next to it, byte for byte.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    pub reference: String,
    pub platform: String,
    pub manifest: Option<String>,
    pub config: String,
    pub layers: Vec<OriginLayer>,
    /// "flatten" or "overlay".
    pub mode: String,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct OriginLayer {
    /// The blob's name in its source.
    pub path: String,
    pub media_type: String,
    pub digest: Option<String>,
    pub size: Option<u64>,
    pub diff_id: String,
}

pub const ORIGIN_FILE: &str = "image.json";
pub const ORIGIN_CONFIG: &str = "config.json";
/// The flattened rootfs as unpacked (inode and ctime of every path): what `repack`
/// compares with to find the changes.
pub const SNAPSHOT_FILE: &str = "rootfs.snapshot";

/// Removes the half-made bundle unless disarmed: nothing half-written is left.
struct Cleanup {
    dir: PathBuf,
    mounted: bool,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.mounted {
            let rootfs = self.dir.join("rootfs");
            let _ = rustix::mount::unmount(&rootfs, rustix::mount::UnmountFlags::DETACH);
        }
        let _ = store::remove_tree(&self.dir);
    }
}

pub fn unpack(reference: &Reference, bundle: &Path, opts: &Options) -> Result<Report> {
    if opts.store.is_some() && opts.owners.rootless {
        return Err(Error::invalid(
            "--overlay",
            "overlay mode needs root (overlay whiteouts are device nodes)",
        ));
    }
    let image = resolve::open(reference, &opts.platform, &opts.registry)?;
    let (bundle, partial, _partial_lock) = prepare_bundle(bundle)?;
    let mut cleanup = Cleanup {
        dir: partial.clone(),
        mounted: false,
        armed: true,
    };
    let rootfs = partial.join("rootfs");
    let state = partial.join(store::BUNDLE_STATE);
    fs::create_dir(&state).ctx(|| format!("create {}", state.display()))?;
    let progress = Progress::new(opts.progress);
    let mut report = Report::default();

    match &opts.store {
        None => {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(&rootfs)
                .ctx(|| format!("create {}", rootfs.display()))?;
            flatten(&image, &rootfs, opts, &progress, &mut report)?;
            crate::repack::write_snapshot(&rootfs, &state.join(SNAPSHOT_FILE))?;
        }
        Some(store_dir) => {
            let store = Store::open(store_dir, false)?;
            fill_store(&store, &image, opts, &progress, &mut report)?;
            let layers: Vec<_> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
            store.mount(&partial, &bundle, &layers, Some(reference_name(reference)))?;
            cleanup.mounted = true;
        }
    }
    progress.clear();

    let config = image.config.config.clone().unwrap_or_default();
    let root = fs::File::open(&rootfs).ctx(|| format!("open {}", rootfs.display()))?;
    let user = crate::user::resolve(root.as_fd(), config.user.as_deref().unwrap_or(""))?;
    for volume in config.volumes.iter().flatten().map(|(v, _)| v) {
        let dir = partial.join("volumes").join(spec::volume_dir(volume));
        fs::create_dir_all(&dir).ctx(|| format!("create volume directory {}", dir.display()))?;
    }
    let spec = spec::generate(&image.config, &user, &bundle, &opts.spec);
    write_config(&partial, &spec)?;
    write_origin(&state, reference, &image, opts)?;

    // Publish: the bundle path appears complete or not at all. rename(2) replaces an
    // empty directory, which a bundle given as one is.
    fs::rename(&partial, &bundle)
        .ctx(|| format!("rename {} to {}", partial.display(), bundle.display()))?;
    cleanup.armed = false;
    Ok(report)
}

/// `pull`: the image's layers into the store, and a record of the image there.
pub fn pull(reference: &Reference, store_dir: &Path, opts: &Options) -> Result<Report> {
    if opts.owners.rootless {
        return Err(Error::invalid(
            "pull",
            "the layer store needs root (overlay whiteouts are device nodes)",
        ));
    }
    let image = resolve::open(reference, &opts.platform, &opts.registry)?;
    let store = Store::open(store_dir, false)?;
    let progress = Progress::new(opts.progress);
    let mut report = Report::default();
    fill_store(&store, &image, opts, &progress, &mut report)?;
    progress.clear();
    store.record_image(&store::ImageRecord {
        name: reference_name(reference),
        manifest: image.manifest_digest.as_ref().map(ToString::to_string),
        config: image.config_digest.to_string(),
        layers: image
            .layers
            .iter()
            .map(|l| store::LayerRecord {
                diff_id: l.diff_id.to_string(),
                digest: l.digest.as_ref().map(ToString::to_string),
                size: l.size,
            })
            .collect(),
    })?;
    Ok(report)
}

/// How an image is named in records: the reference as given, normalized for registries.
pub fn reference_name(reference: &Reference) -> String {
    match reference {
        Reference::Registry(r) => r.to_string(),
        Reference::Layout { dir, pick } => format!("oci:{}{}", abs(dir), pick_suffix(pick)),
        Reference::OciArchive { tar, pick } => {
            format!("oci-archive:{}{}", abs(tar), pick_suffix(pick))
        }
        Reference::DockerArchive { tar, repo_tag } => match repo_tag {
            Some(t) => format!("docker-archive:{}:{t}", abs(tar)),
            None => format!("docker-archive:{}", abs(tar)),
        },
    }
}

fn abs(p: &Path) -> String {
    fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

fn pick_suffix(pick: &crate::reference::Pick) -> String {
    match pick {
        crate::reference::Pick::Default => String::new(),
        crate::reference::Pick::Tag(t) => format!(":{t}"),
        crate::reference::Pick::Digest(d) => format!("@{d}"),
    }
}

/// Flatten: every layer applied in order onto one tree, each decompressed on a
/// prefetch thread.
fn flatten(
    image: &Image,
    rootfs: &Path,
    opts: &Options,
    progress: &Progress,
    report: &mut Report,
) -> Result<()> {
    let tree = Tree::open(rootfs).ctx(|| format!("open {}", rootfs.display()))?;
    let mut applier = Applier::new(tree, Target::Flatten, opts.owners.clone(), opts.limits);
    let n = image.layers.len();
    let bars: Vec<_> = image.layers.iter().map(|l| progress.bar(l)).collect();
    // Each sender goes to the thread that takes its layer, and is dropped with it.
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| {
            let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(QUEUED_CHUNKS);
            (Mutex::new(Some(tx)), rx)
        })
        .unzip();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let hidden = indicatif::ProgressBar::hidden();
    std::thread::scope(|s| {
        for _ in 0..fetch_threads(image, opts, n, true) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n || stop.load(Ordering::SeqCst) {
                    return;
                }
                let tx = senders[i].lock().expect("not poisoned").take();
                let tx = tx.expect("each layer is taken once");
                if !prefetch(image, &image.layers[i], &tx, &bars[i]) {
                    stop.store(true, Ordering::SeqCst);
                }
            });
        }
        let result = (|| {
            for (layer, rx) in image.layers.iter().zip(receivers) {
                // What arrives is the verified, decompressed tar; the DiffID is checked here.
                let plain = Layer {
                    path: layer.name(),
                    media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                    digest: None,
                    size: None,
                    diff_id: layer.diff_id.clone(),
                };
                let stream = Box::new(Queued {
                    rx,
                    chunk: Vec::new(),
                    pos: 0,
                    done: false,
                });
                applier.apply(&plain, stream, &hidden)?;
                report.layers_extracted += 1;
            }
            applier.finish_dirs()
        })();
        if result.is_err() {
            stop.store(true, Ordering::SeqCst);
        }
        result
    })?;
    report.warnings.extend(applier.warnings.lines());
    Ok(())
}

/// One layer's stored blob, verified and decompressed, into its queue, ended by an empty
/// chunk. Returns false when the consumer has gone (an error there), so that no more
/// layers are started.
fn prefetch(
    image: &Image,
    layer: &Layer,
    tx: &SyncSender<io::Result<Vec<u8>>>,
    bar: &indicatif::ProgressBar,
) -> bool {
    let mut stream = match image
        .source
        .open(&layer.path)
        .and_then(|(blob, _)| Decompressed::new(layer, blob, bar))
    {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(Err(io::Error::other(e)));
            return false;
        }
    };
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let mut filled = 0;
        // Full chunks: fewer, larger hand-overs.
        let result = loop {
            match stream.read(&mut chunk[filled..]) {
                Ok(0) => break Ok(()),
                Ok(k) => {
                    filled += k;
                    if filled == CHUNK {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        chunk.truncate(filled);
        if let Err(e) = result {
            if filled > 0 {
                let _ = tx.send(Ok(chunk));
            }
            let _ = tx.send(Err(e));
            return false;
        }
        let end = filled < CHUNK;
        if filled > 0 && tx.send(Ok(chunk)).is_err() {
            return false;
        }
        if end {
            bar.finish();
            return tx.send(Ok(Vec::new())).is_ok();
        }
    }
}

/// The consumer's end of a layer queue.
struct Queued {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for Queued {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) if chunk.is_empty() => {
                    self.done = true;
                    return Ok(0);
                }
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the layer's download thread ended early",
                    ))
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Extracts the layers the store lacks, several at once, each into `STORE/tmp` and
/// renamed into place once verified. Layers already there are not fetched.
fn fill_store(
    store: &Store,
    image: &Image,
    opts: &Options,
    progress: &Progress,
    report: &mut Report,
) -> Result<()> {
    let mut todo: Vec<&Layer> = Vec::new();
    for layer in &image.layers {
        if store.has_layer(&layer.diff_id) || todo.iter().any(|l| l.diff_id == layer.diff_id) {
            report.layers_reused += 1;
        } else {
            todo.push(layer);
        }
    }
    // The limits hold for the whole image, not per layer.
    let usage = Arc::new(Usage::default());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, Result<Vec<String>>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..fetch_threads(image, opts, todo.len(), false) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= todo.len() || stop.load(Ordering::SeqCst) {
                    return;
                }
                let bar = progress.bar(todo[i]);
                let r = extract_layer(store, image, todo[i], opts, usage.clone(), &bar);
                if r.is_err() {
                    stop.store(true, Ordering::SeqCst);
                }
                bar.finish();
                results.lock().expect("not poisoned").push((i, r));
            });
        }
    });
    let mut results = results.into_inner().expect("not poisoned");
    results.sort_by_key(|(i, _)| *i);
    for (_, r) in results {
        report.warnings.extend(r?);
        report.layers_extracted += 1;
    }
    Ok(())
}

fn extract_layer(
    store: &Store,
    image: &Image,
    layer: &Layer,
    opts: &Options,
    usage: Arc<Usage>,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<String>> {
    let tmp = store.temp_dir()?;
    // The layer's root is the container's /: traversable by its users unless the layer
    // says otherwise (a "./" entry). The store itself stays 0700.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
        .ctx(|| format!("chmod {}", tmp.path().display()))?;
    let tree = Tree::open(tmp.path()).ctx(|| format!("open {}", tmp.path().display()))?;
    let mut applier = Applier::new(tree, Target::Overlay, opts.owners.clone(), opts.limits);
    applier.share_usage(usage);
    let (blob, _) = image.source.open(&layer.path)?;
    applier.apply(layer, blob, bar)?;
    let warnings = applier.warnings.lines().collect();
    store.commit_layer(tmp, &layer.diff_id)?;
    Ok(warnings)
}

/// Progress bars, one per layer, on a terminal only.
struct Progress {
    multi: Option<indicatif::MultiProgress>,
}

impl Progress {
    fn new(wanted: bool) -> Self {
        let multi = (wanted && io::stderr().is_terminal()).then(indicatif::MultiProgress::new);
        Progress { multi }
    }

    fn bar(&self, layer: &Layer) -> indicatif::ProgressBar {
        let Some(multi) = &self.multi else {
            return indicatif::ProgressBar::hidden();
        };
        let bar = multi.add(indicatif::ProgressBar::new(layer.size.unwrap_or(0)));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        let name = layer.name();
        let short = name.split(':').nth(1).unwrap_or(&name);
        bar.set_prefix(short.chars().take(12).collect::<String>());
        bar
    }

    fn clear(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

/// Resolves where the bundle goes, checks that it is new or an empty directory, and
/// makes the private (0700) directory it is built in: the rootfs holds the image's setuid
/// files and device nodes, which other users must not reach. A leftover of an earlier,
/// interrupted unpack to the same bundle is removed first; one still running (its
/// partial directory is locked) is an error. The returned fd holds the lock on the
/// partial directory until the unpack ends.
fn prepare_bundle(bundle: &Path) -> Result<(PathBuf, PathBuf, fs::File)> {
    let name = bundle
        .file_name()
        .filter(|n| *n != "." && *n != "..")
        .ok_or_else(|| {
            Error::invalid(
                format!("bundle {}", bundle.display()),
                "must name a directory",
            )
        })?
        .to_os_string();
    let parent = match bundle.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = fs::canonicalize(parent).ctx(|| format!("resolve bundle {}", bundle.display()))?;
    let bundle = parent.join(&name);
    match fs::read_dir(&bundle) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::invalid(
                    format!("bundle {}", bundle.display()),
                    "exists and is not empty",
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).ctx(|| format!("read bundle {}", bundle.display())),
    }
    let mut partial_name = std::ffi::OsString::from(".");
    partial_name.push(&name);
    partial_name.push(".hull-image-partial");
    let partial = parent.join(partial_name);
    if partial.symlink_metadata().is_ok() {
        // Locked: another unpack is making this bundle now. Free: a killed one's leftover.
        let busy = fs::File::open(&partial).is_ok_and(|dir| {
            rustix::fs::flock(&dir, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                == Err(rustix::io::Errno::WOULDBLOCK)
        });
        if busy {
            return Err(Error::invalid(
                format!("bundle {}", bundle.display()),
                format!(
                    "another hull-image unpack is making it ({} is in use)",
                    partial.display()
                ),
            ));
        }
        let rootfs = partial.join("rootfs");
        if store::is_overlay_mount(&rootfs)? {
            rustix::mount::unmount(&rootfs, rustix::mount::UnmountFlags::DETACH)
                .ctx(|| format!("unmount {}", rootfs.display()))?;
        }
        store::remove_tree(&partial)?;
    }
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&partial)
        .ctx(|| format!("create {}", partial.display()))?;
    let lock = fs::File::open(&partial).ctx(|| format!("open {}", partial.display()))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .ctx(|| format!("lock {}", partial.display()))?;
    store::set_private(&partial)?;
    Ok((bundle, partial, lock))
}

fn write_config(bundle: &Path, spec: &serde_json::Value) -> Result<()> {
    let mut data = serde_json::to_vec_pretty(spec).expect("a JSON value serializes");
    data.push(b'\n');
    write_file(&bundle.join("config.json"), &data)
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).ctx(|| format!("create {}", path.display()))?;
    f.write_all(data)
        .ctx(|| format!("write {}", path.display()))
}

fn write_origin(state: &Path, reference: &Reference, image: &Image, opts: &Options) -> Result<()> {
    let origin = Origin {
        reference: reference_name(reference),
        platform: opts.platform.to_string(),
        manifest: image.manifest_digest.as_ref().map(ToString::to_string),
        config: image.config_digest.to_string(),
        layers: image
            .layers
            .iter()
            .map(|l| OriginLayer {
                path: l.path.clone(),
                media_type: l.media_type.clone(),
                digest: l.digest.as_ref().map(ToString::to_string),
                size: l.size,
                diff_id: l.diff_id.to_string(),
            })
            .collect(),
        mode: if opts.store.is_some() {
            "overlay"
        } else {
            "flatten"
        }
        .into(),
    };
    let data = serde_json::to_vec_pretty(&origin).expect("plain data serializes");
    write_file(&state.join(ORIGIN_FILE), &data)?;
    write_file(&state.join(ORIGIN_CONFIG), &image.config_raw)
}

/// Reads what `unpack` recorded in a bundle about its image.
pub fn read_origin(bundle: &Path) -> Result<(Origin, Vec<u8>)> {
    let state = bundle.join(store::BUNDLE_STATE);
    let path = state.join(ORIGIN_FILE);
    let data = fs::read(&path).ctx(|| {
        format!(
            "read {} (was the bundle made by hull-image unpack?)",
            path.display()
        )
    })?;
    let origin: Origin = crate::image::parse_json(&data, || path.display().to_string())?;
    let config_path = state.join(ORIGIN_CONFIG);
    let config = fs::read(&config_path).ctx(|| format!("read {}", config_path.display()))?;
    let want = Digest::parse(&origin.config)?;
    let have = Digest::of(want.algorithm(), &config);
    if have != want {
        return Err(Error::Verify {
            blob: config_path.display().to_string(),
            reason: format!("digest is {have}, expected {want}"),
        });
    }
    Ok((origin, config))
}
