//! `checkpoint`: CRIU dumps the running container's processes into an image directory; the
//! container is then deleted, unless it is to keep running (`--leave-running`, `--pre-dump`).
//!
//! What CRIU cannot work out alone, hull tells it, as runc does: the container's root, its
//! init, its freezer cgroup, the mounts that come from the host (`rootfs::criu`), the network
//! and pid namespaces it joined by path (external: a restore must be given them again), and,
//! in descriptors.json beside the image, what the container's stdio were, so that a restore
//! can replace those pipes with its own caller's.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::state::{self, Dir, State, Status};
use crate::criu::{self, rpc, Criu};
use crate::{Context, Error, Result};

/// The file beside the image that records the container's stdio (runc's name and format).
pub const DESCRIPTORS: &str = "descriptors.json";

/// The CRIU settings `checkpoint` and `restore` share: runc's flags.
#[derive(Debug, Clone, Default)]
pub struct CriuFlags {
    /// `--criu`: the binary; `criu` from PATH when not given.
    pub criu: Option<String>,
    /// Where the image is written or read.
    pub image_path: PathBuf,
    /// Where CRIU's log (and work files) go; the image directory when not given.
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    /// soft, full, strict or ignore; CRIU's default (soft) when not given.
    pub manage_cgroups_mode: Option<String>,
    /// Namespaces to make empty at restore instead of restoring them: only `network`.
    pub empty_ns: Vec<String>,
    pub auto_dedup: bool,
}

impl CriuFlags {
    pub fn criu(&self) -> Criu {
        Criu::new(self.criu.as_deref())
    }

    /// Checks the flags' values before anything is done.
    pub fn check(&self) -> Result<()> {
        self.cgroup_mode()?;
        self.empty_ns_mask()?;
        Ok(())
    }

    fn cgroup_mode(&self) -> Result<rpc::CgMode> {
        Ok(match self.manage_cgroups_mode.as_deref() {
            None | Some("") => rpc::CgMode::Default,
            Some("soft") => rpc::CgMode::Soft,
            Some("full") => rpc::CgMode::Full,
            Some("strict") => rpc::CgMode::Strict,
            Some("ignore") => rpc::CgMode::Ignore,
            Some(other) => {
                return Err(Error::invalid(format!(
                    "--manage-cgroups-mode {other:?}: expected soft, full, strict or ignore"
                )))
            }
        })
    }

    /// runc's rule: hull, like runc, does not manage network devices, so the network
    /// namespace is always restored empty (CLONE_NEWNET); `--empty-ns network` says so again.
    fn empty_ns_mask(&self) -> Result<u32> {
        for ns in &self.empty_ns {
            if ns != "network" {
                return Err(Error::invalid(format!(
                    "--empty-ns {ns:?}: only the network namespace can be left empty"
                )));
            }
        }
        Ok(libc::CLONE_NEWNET as u32)
    }

    /// The options every request carries.
    pub fn request_opts(
        &self,
        spec: &Spec,
        images: &File,
        work: Option<&File>,
        log: &str,
    ) -> Result<rpc::Opts> {
        Ok(rpc::Opts {
            images_dir_fd: images.as_raw_fd(),
            work_dir_fd: work.map(|w| w.as_raw_fd()),
            log_level: Some(4),
            log_file: Some(log.into()),
            manage_cgroups: Some(true),
            manage_cgroups_mode: Some(self.cgroup_mode()? as i32),
            notify_scripts: Some(true),
            shell_job: Some(self.shell_job),
            tcp_established: Some(self.tcp_established),
            ext_unix_sk: Some(self.ext_unix_sk),
            file_locks: Some(self.file_locks),
            empty_ns: Some(self.empty_ns_mask()?),
            // A terminal's master lives outside the container: CRIU restores the pair and
            // hands the master over (sent on to the console socket).
            orphan_pts_master: Some(true),
            auto_dedup: Some(self.auto_dedup),
            config_file: config_file(spec),
            network_lock: criu::network_lock().map(|m| m as i32),
            ..Default::default()
        })
    }

    /// The directory CRIU's log is in.
    pub fn log_dir(&self) -> &Path {
        self.work_path.as_deref().unwrap_or(&self.image_path)
    }
}

/// runc's annotation `org.criu.config` names a CRIU configuration file for this container
/// (empty: none at all); otherwise hull's own, which CRIU skips when it does not exist.
fn config_file(spec: &Spec) -> Option<String> {
    match spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get("org.criu.config"))
    {
        Some(path) if path.is_empty() => None,
        Some(path) => Some(path.clone()),
        None => Some("/etc/criu/hull.conf".into()),
    }
}

/// Creates `path` (and its parents) unless it exists; says whether it made the last part.
pub fn make_dir(path: &Path, what: &str) -> Result<bool> {
    if path.is_dir() {
        return Ok(false);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::os(format!("{what} {}", path.display()), e))?;
    Ok(true)
}

pub fn open_dir(path: &Path, what: &str) -> Result<File> {
    File::open(path).map_err(|e| Error::os(format!("{what} {}", path.display()), e))
}

/// The error of a failed CRIU request, with the lines of its log that say why.
pub fn with_log(e: Error, log: &Path) -> Error {
    match criu::log_errors(log) {
        Some(lines) => Error::Other(format!("{e}; {}: {lines}", log.display())),
        None => Error::Other(format!("{e} (criu log: {})", log.display())),
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub flags: CriuFlags,
    /// The image of an earlier `--pre-dump`, relative to the image path.
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub pre_dump: bool,
}

/// `checkpoint`: dumps the container; deletes it afterwards unless it keeps running.
pub fn checkpoint(dir: Dir, state: &State, o: &Options) -> Result<()> {
    match state::status(&dir, state) {
        Status::Running | Status::Paused => {}
        other => {
            return Err(Error::Other(format!(
                "container cannot be checkpointed in {} state",
                other.as_str()
            )))
        }
    }
    o.flags.check()?;
    if let Some(parent) = &o.parent_path {
        if parent.is_absolute() {
            return Err(Error::invalid(
                "--parent-path must be relative to --image-path",
            ));
        }
    }
    let images = &o.flags.image_path;
    let made_images = make_dir(images, "--image-path")?;
    let result = dump(&dir.path, state, o);
    if result.is_err() && made_images && !images.join(log_name(o)).exists() {
        // A half-written image is of no use. Kept only when it holds the log that the error
        // points to (no --work-path).
        let _ = std::fs::remove_dir_all(images);
    }
    result?;
    if !(o.leave_running || o.pre_dump) {
        // CRIU has killed the container's processes: what is left is removed as `delete`
        // does (cgroup, poststop hooks, state).
        super::delete::delete(dir, state, true)?;
    }
    Ok(())
}

fn log_name(o: &Options) -> &'static str {
    if o.pre_dump {
        "pre-dump.log"
    } else {
        "dump.log"
    }
}

fn dump(state_dir: &Path, state: &State, o: &Options) -> Result<()> {
    let f = &o.flags;
    let images = open_dir(&f.image_path, "--image-path")?;
    if let Some(parent) = &o.parent_path {
        let full = f.image_path.join(parent);
        if !full.is_dir() {
            return Err(Error::invalid(format!(
                "--parent-path {}: {} is not a directory",
                parent.display(),
                full.display()
            )));
        }
    }
    let work = match &f.work_path {
        Some(w) => {
            make_dir(w, "--work-path")?;
            Some(open_dir(w, "--work-path")?)
        }
        None => None,
    };
    let spec = &state.config;
    let log = log_name(o);
    let mut opts = f.request_opts(spec, &images, work.as_ref(), log)?;
    opts.pid = Some(state.pid);
    opts.root = Some(state.rootfs.to_string_lossy().into_owned());
    opts.leave_running = Some(o.leave_running || o.pre_dump);
    opts.external = external_namespaces(spec)?;
    opts.freeze_cgroup = super::cgroup::freezer_path(state).map(|p| p.to_string_lossy().into());
    if let Some(parent) = &o.parent_path {
        opts.parent_img = Some(parent.to_string_lossy().into());
        opts.track_mem = Some(true);
    }
    if !o.pre_dump {
        // A pre-dump saves memory only: mounts and descriptors belong to the final dump.
        // The rootfs as create planned it, the notify bind included.
        let notify = state
            .notify_socket
            .as_ref()
            .map(|_| crate::io::notify::bind(state_dir));
        let rootfs_opts = crate::rootfs::Options {
            no_pivot: false,
            notify,
        };
        let rootfs = crate::rootfs::Plan::parse(spec, &state.bundle, rootfs_opts)?;
        opts.ext_mnt = crate::rootfs::criu::dump_externals(&rootfs, state.pid)?
            .into_iter()
            .map(|(key, val)| rpc::ExtMountMap { key, val })
            .collect();
        let (descriptors, external_files) = stdio(state)?;
        opts.external.extend(external_files);
        let json = serde_json::to_vec(&descriptors).map_err(|e| Error::Other(e.to_string()))?;
        let path = f.image_path.join(DESCRIPTORS);
        state::write_atomic(&path, &json, 0o600)?;
    }

    let criu = f.criu();
    if o.pre_dump {
        feature_check(&criu)?;
    }
    let kind = if o.pre_dump {
        rpc::ReqType::PreDump
    } else {
        rpc::ReqType::Dump
    };
    let req = rpc::Req {
        r#type: kind as i32,
        opts: Some(opts),
        ..Default::default()
    };
    criu.start(&[], false)?
        .request(&req, |_| Ok(()))
        .map_err(|e| with_log(e, &f.log_dir().join(log)))?;
    Ok(())
}

/// The container's stdio, as the image records them (descriptors.json) and CRIU must be told:
/// still what the runtime's caller gave at create, a pipe is named by its inode (`pipe:[N]`,
/// runc's form); a file (a host file, /dev/null), which CRIU could not find from inside the
/// container, becomes an external file `file[MNT:INO]` (hex, CRIU's key). A restore hands its
/// own caller's stdio in the place of both. Anything else is recorded as it is.
fn stdio(state: &State) -> Result<(Vec<String>, Vec<String>)> {
    let mut descriptors = Vec::new();
    let mut external = Vec::new();
    for (fd, given) in state.external_descriptors.iter().enumerate() {
        let link = format!("/proc/{}/fd/{fd}", state.pid);
        let now = std::fs::read_link(&link).map(|p| p.to_string_lossy().into_owned());
        if !given.starts_with('/') || now.as_deref().ok() != Some(given.as_str()) {
            descriptors.push(given.clone());
            continue;
        }
        let ino = std::fs::metadata(&link)
            .with_ctx(|| format!("stat {link}"))?
            .ino();
        let info = format!("/proc/{}/fdinfo/{fd}", state.pid);
        let mnt_id: u64 = std::fs::read_to_string(&info)
            .with_ctx(|| format!("read {info}"))?
            .lines()
            .find_map(|l| l.strip_prefix("mnt_id:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| Error::Other(format!("{info}: no mnt_id")))?;
        let key = format!("file[{mnt_id:x}:{ino:x}]");
        external.push(key.clone());
        descriptors.push(key);
    }
    Ok((descriptors, external))
}

/// A pre-dump needs the kernel's memory tracking (soft-dirty bits); asked first, so its
/// absence is a clear error and not a line in CRIU's log.
fn feature_check(criu: &Criu) -> Result<()> {
    let req = rpc::Req {
        r#type: rpc::ReqType::FeatureCheck as i32,
        features: Some(rpc::Features {
            mem_track: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let resp = criu.start(&[], false)?.request(&req, |_| Ok(()))?;
    if resp.features.and_then(|f| f.mem_track) != Some(true) {
        return Err(Error::Other(
            "--pre-dump: criu reports no memory tracking on this kernel (MemTrack)".into(),
        ));
    }
    Ok(())
}

/// The CRIU key of a namespace the container joined by path: dumped as external, given back
/// at restore by fd.
pub fn external_key(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Network => "extRootNetNS",
        _ => "extRootPidNS",
    }
}

/// `net[INODE]:extRootNetNS` (and pid) for the network and pid namespaces joined by path.
fn external_namespaces(spec: &Spec) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (typ, name) in [
        (LinuxNamespaceType::Network, "net"),
        (LinuxNamespaceType::Pid, "pid"),
    ] {
        if let Some(Some(path)) = crate::spec::namespace(spec, typ) {
            let ino = std::fs::metadata(&path)
                .with_ctx(|| format!("{name} namespace {}", path.display()))?
                .ino();
            out.push(format!("{name}[{ino}]:{}", external_key(typ)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values() {
        let mut f = CriuFlags::default();
        assert_eq!(f.cgroup_mode().unwrap(), rpc::CgMode::Default);
        for (name, mode) in [
            ("soft", rpc::CgMode::Soft),
            ("full", rpc::CgMode::Full),
            ("strict", rpc::CgMode::Strict),
            ("ignore", rpc::CgMode::Ignore),
        ] {
            f.manage_cgroups_mode = Some(name.into());
            assert_eq!(f.cgroup_mode().unwrap(), mode);
        }
        f.manage_cgroups_mode = Some("props".into());
        assert!(f
            .check()
            .unwrap_err()
            .to_string()
            .contains("--manage-cgroups-mode"));
        f.manage_cgroups_mode = None;
        assert_eq!(f.empty_ns_mask().unwrap(), libc::CLONE_NEWNET as u32);
        f.empty_ns = vec!["network".into()];
        assert_eq!(f.empty_ns_mask().unwrap(), libc::CLONE_NEWNET as u32);
        f.empty_ns = vec!["pid".into()];
        assert!(f
            .check()
            .unwrap_err()
            .to_string()
            .contains("--empty-ns \"pid\""));
    }

    #[test]
    fn criu_config_file() {
        let mut spec = Spec::default();
        assert_eq!(config_file(&spec).as_deref(), Some("/etc/criu/hull.conf"));
        let mut a = std::collections::HashMap::new();
        a.insert("org.criu.config".to_string(), String::new());
        spec.set_annotations(Some(a.clone()));
        assert_eq!(config_file(&spec), None);
        a.insert("org.criu.config".to_string(), "/etc/mine.conf".into());
        spec.set_annotations(Some(a));
        assert_eq!(config_file(&spec).as_deref(), Some("/etc/mine.conf"));
    }
}
