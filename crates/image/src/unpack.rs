//! `unpack`: an image reference in, a bundle (rootfs + config.json) out.

use std::fs;
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::image::Platform;
use crate::layer::{Applier, Limits, Target};
use crate::owner::Owners;
use crate::reference::Reference;
use crate::resolve::{self, Image};
use crate::spec;
use crate::store::{self, Store};
use crate::tree::Tree;

#[derive(Clone, Debug)]
pub struct Options {
    pub platform: Platform,
    /// Overlay mode, with this layer store; flatten when None.
    pub store: Option<PathBuf>,
    pub owners: Owners,
    pub limits: Limits,
    pub spec: spec::Options,
    /// Draw a progress bar (only ever on a terminal).
    pub progress: bool,
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
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub layers_extracted: usize,
    pub layers_reused: usize,
    pub warnings: Vec<String>,
}

/// Undoes a half-made bundle: nothing half-written is left looking complete.
struct Cleanup {
    bundle: PathBuf,
    created_bundle: bool,
    mounted: bool,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let rootfs = self.bundle.join("rootfs");
        if self.mounted {
            let _ = rustix::mount::unmount(&rootfs, rustix::mount::UnmountFlags::DETACH);
        }
        if self.created_bundle {
            let _ = store::remove_tree(&self.bundle);
        } else {
            for name in ["config.json", "rootfs", "volumes", store::BUNDLE_STATE] {
                let p = self.bundle.join(name);
                if p.symlink_metadata().is_ok() {
                    let _ = store::remove_tree(&p);
                }
            }
        }
    }
}

pub fn unpack(reference: &Reference, bundle: &Path, opts: &Options) -> Result<Report> {
    let image = resolve::open(reference, &opts.platform)?;
    if opts.store.is_some() && opts.owners.rootless {
        return Err(Error::invalid(
            "--overlay",
            "overlay mode needs root (overlay whiteouts are device nodes)",
        ));
    }

    let created_bundle = prepare_bundle(bundle)?;
    let bundle = fs::canonicalize(bundle).ctx(|| format!("resolve bundle {}", bundle.display()))?;
    let mut cleanup = Cleanup {
        bundle: bundle.clone(),
        created_bundle,
        mounted: false,
        armed: true,
    };
    let rootfs = bundle.join("rootfs");
    let progress = progress_bar(&image, opts.progress);
    let mut report = Report::default();

    match &opts.store {
        None => {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(&rootfs)
                .ctx(|| format!("create {}", rootfs.display()))?;
            let tree = Tree::open(&rootfs).ctx(|| format!("open {}", rootfs.display()))?;
            let mut applier = Applier::new(tree, Target::Flatten, opts.owners.clone(), opts.limits);
            for layer in &image.layers {
                let (blob, _) = image.source.open(&layer.path)?;
                applier.apply(layer, blob, &progress)?;
                report.layers_extracted += 1;
            }
            applier.finish_dirs()?;
            report.warnings.extend(applier.warnings.lines());
        }
        Some(store_dir) => {
            let store = Store::open(store_dir, false)?;
            let mut used = (0, 0);
            for layer in &image.layers {
                if store.has_layer(&layer.diff_id) {
                    report.layers_reused += 1;
                    progress.inc(layer.size.unwrap_or(0));
                    continue;
                }
                let tmp = store.temp_dir()?;
                // The layer's root is the container's /: traversable by its users unless
                // the layer says otherwise (a "./" entry). The store itself stays 0700.
                fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
                    .ctx(|| format!("chmod {}", tmp.path().display()))?;
                let tree =
                    Tree::open(tmp.path()).ctx(|| format!("open {}", tmp.path().display()))?;
                let mut applier =
                    Applier::new(tree, Target::Overlay, opts.owners.clone(), opts.limits);
                // The limits hold for the whole image, not per layer.
                applier.start_at(used);
                let (blob, _) = image.source.open(&layer.path)?;
                applier.apply(layer, blob, &progress)?;
                used = applier.used();
                report.warnings.extend(applier.warnings.lines());
                store.commit_layer(tmp, &layer.diff_id)?;
                report.layers_extracted += 1;
            }
            let layers: Vec<_> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
            store.mount(&bundle, &layers)?;
            cleanup.mounted = true;
        }
    }
    progress.finish_and_clear();

    let config = image.config.config.clone().unwrap_or_default();
    let root = fs::File::open(&rootfs).ctx(|| format!("open {}", rootfs.display()))?;
    let user = crate::user::resolve(root.as_fd(), config.user.as_deref().unwrap_or(""))?;
    for volume in config.volumes.iter().flatten().map(|(v, _)| v) {
        let dir = bundle.join("volumes").join(spec::volume_dir(volume));
        fs::create_dir_all(&dir).ctx(|| format!("create volume directory {}", dir.display()))?;
    }
    let spec = spec::generate(&image.config, &user, &bundle, &opts.spec);
    write_config(&bundle, &spec)?;
    cleanup.armed = false;
    Ok(report)
}

/// The bundle must be new or empty. It is made private (0700): the rootfs holds the
/// image's setuid files and device nodes, which other users must not reach.
fn prepare_bundle(bundle: &Path) -> Result<bool> {
    let created = match fs::DirBuilder::new().mode(0o700).create(bundle) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut entries =
                fs::read_dir(bundle).ctx(|| format!("read bundle {}", bundle.display()))?;
            if entries.next().is_some() {
                return Err(Error::invalid(
                    format!("bundle {}", bundle.display()),
                    "exists and is not empty",
                ));
            }
            false
        }
        Err(e) => return Err(e).ctx(|| format!("create bundle {}", bundle.display())),
    };
    store::set_private(bundle)?;
    Ok(created)
}

fn write_config(bundle: &Path, spec: &serde_json::Value) -> Result<()> {
    let path = bundle.join("config.json");
    let tmp = bundle.join(".config.json.tmp");
    let mut data = serde_json::to_vec_pretty(spec).expect("a JSON value serializes");
    data.push(b'\n');
    let mut f = fs::File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
    f.write_all(&data)
        .ctx(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, &path).ctx(|| format!("rename {}", path.display()))
}

fn progress_bar(image: &Image, wanted: bool) -> indicatif::ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let total: u64 = image.layers.iter().filter_map(|l| l.size).sum();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} unpacking [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar
}
