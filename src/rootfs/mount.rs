//! One `mounts` entry: resolve its destination inside the rootfs, mount through the fd, then
//! remount, set recursive attributes and propagation as its options ask.

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;

use super::options::{self, Parsed};
use super::Rootfs;
use crate::{sys, Context, Error, Result};

pub fn is_bind(m: &Mount, opts: &Parsed) -> bool {
    opts.is_bind() || m.typ().as_deref() == Some("bind")
}

/// The magic link that names an fd's file: mount(2) follows it to the very inode.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Resolves `dest` inside the rootfs (creating it as a directory, or as a file when the
/// source is one) and returns a handle on it.
pub fn resolve_dest(root: &pathrs::Root, dest: &Path, file: bool) -> Result<pathrs::Handle> {
    let perm = std::fs::Permissions::from_mode(0o755);
    let err = |e: pathrs::error::Error| Error::Other(format!("{e}"));
    if file {
        if root.resolve(dest).is_err() {
            if let Some(parent) = dest.parent() {
                root.mkdir_all(parent, &perm).map_err(err)?;
            }
            root.create(
                dest,
                &pathrs::InodeType::File(std::fs::Permissions::from_mode(0o644)),
            )
            .map_err(err)?;
        }
        root.resolve(dest).map_err(err)
    } else {
        root.mkdir_all(dest, &perm).map_err(err)
    }
}

pub fn mount_one(rootfs: &Rootfs, root: &pathrs::Root, i: usize, m: &Mount) -> Result<()> {
    let dest = m.destination();
    let what = format!("mounts[{i}] ({})", dest.display());
    let wrap = |e: Error| match e {
        Error::Os { what: w, source } => Error::Os {
            what: format!("{what}: {w}"),
            source,
        },
        other => Error::Other(format!("{what}: {other}")),
    };
    let opts = options::parse(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or_default();
    if is_bind(m, &opts) {
        mount_bind(rootfs, root, m, &opts).map_err(wrap)?;
    } else if typ == "cgroup" || typ == "cgroup2" {
        super::mount::mount_cgroup(root, dest, &opts).map_err(wrap)?;
    } else {
        mount_fs(root, m, typ, &opts).map_err(wrap)?;
    }
    finish(root, dest, &opts).map_err(wrap)
}

fn mount_bind(rootfs: &Rootfs, root: &pathrs::Root, m: &Mount, opts: &Parsed) -> Result<()> {
    let source = rootfs
        .bind_source(m)
        .expect("validated: bind mounts have a source");
    let is_file = !std::fs::metadata(&source)
        .with_ctx(|| format!("bind source {}", source.display()))?
        .is_dir();
    let target = resolve_dest(root, m.destination(), is_file)?;
    let rec = opts.flags & MsFlags::MS_REC;
    mount(
        Some(&source),
        &fd_path(&target.as_fd()),
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )
    .with_ctx(|| format!("bind {}", source.display()))?;
    // A bind mount ignores other flags: they take effect through a remount.
    let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if !extra.is_empty() {
        let top = root
            .resolve(m.destination())
            .map_err(|e| Error::Other(e.to_string()))?;
        let path = fd_path(&top.as_fd());
        let keep = locked_flags(&path)?;
        mount(
            None::<&str>,
            &path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra | keep,
            None::<&str>,
        )
        .ctx("remount with its options")?;
    }
    Ok(())
}

fn mount_fs(root: &pathrs::Root, m: &Mount, typ: &str, opts: &Parsed) -> Result<()> {
    let target = resolve_dest(root, m.destination(), false)?;
    let path = fd_path(&target.as_fd());
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
    let data = opts.data();
    let flags = opts.flags - MsFlags::MS_REMOUNT;
    if opts.tmpcopyup && typ == "tmpfs" {
        return tmpcopyup(
            root,
            m.destination(),
            &path,
            &source,
            flags,
            data.as_deref(),
        );
    }
    mount(Some(&source), &path, Some(typ), flags, data.as_deref())
        .with_ctx(|| format!("mount {typ}"))
}

/// `tmpcopyup`: a tmpfs that starts with what the image had at the destination.
fn tmpcopyup(
    root: &pathrs::Root,
    dest: &Path,
    path: &Path,
    source: &Path,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    // Keep a handle on the directory the tmpfs will cover: its contents are the seed.
    let under = std::fs::File::open(path).ctx("open the directory under the tmpfs")?;
    mount(
        Some(source),
        path,
        Some("tmpfs"),
        flags - MsFlags::MS_RDONLY,
        data,
    )
    .ctx("mount tmpfs")?;
    let top = root
        .resolve(dest)
        .map_err(|e| Error::Other(e.to_string()))?;
    copy_tree(&fd_path(&under.as_fd()), &fd_path(&top.as_fd())).ctx("tmpcopyup")?;
    if flags.contains(MsFlags::MS_RDONLY) {
        mount(
            None::<&str>,
            &fd_path(&top.as_fd()),
            None::<&str>,
            flags | MsFlags::MS_REMOUNT,
            data,
        )
        .ctx("remount tmpfs read-only")?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let dst = to.join(entry.file_name());
        if meta.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&entry.path(), &dst)?;
        } else if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dst)?;
        } else if meta.is_file() {
            std::fs::copy(entry.path(), &dst)?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
        if !meta.file_type().is_symlink() {
            std::fs::set_permissions(&dst, meta.permissions())?;
        }
    }
    Ok(())
}

/// Recursive attributes and propagation, on the mount now at `dest`.
fn finish(root: &pathrs::Root, dest: &Path, opts: &Parsed) -> Result<()> {
    if opts.attr_set == 0 && opts.attr_clr == 0 && opts.propagation.is_empty() {
        return Ok(());
    }
    let top = root
        .resolve(dest)
        .map_err(|e| Error::Other(e.to_string()))?;
    if opts.attr_set != 0 || opts.attr_clr != 0 {
        sys::mount::setattr_recursive(top.as_fd(), opts.attr_set, opts.attr_clr)
            .ctx("mount_setattr (recursive options)")?;
    }
    for p in &opts.propagation {
        mount(
            None::<&str>,
            &fd_path(&top.as_fd()),
            None::<&str>,
            *p,
            None::<&str>,
        )
        .ctx("set propagation")?;
    }
    Ok(())
}

/// Flags a bind remount must repeat or the kernel refuses it (EPERM) when they are locked.
pub fn locked_flags(path: &Path) -> Result<MsFlags> {
    let st = nix::sys::statvfs::statvfs(path).with_ctx(|| format!("statvfs {}", path.display()))?;
    let f = st.flags();
    let mut out = MsFlags::empty();
    use nix::sys::statvfs::FsFlags;
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    Ok(out)
}

/// A `cgroup` mount. On a v2 host: cgroup2 itself. On v1 and hybrid hosts, as runc does: a
/// tmpfs with one directory per v1 hierarchy, each a fresh cgroup mount (inside a cgroup
/// namespace the container's own cgroup is its root) — read-only unless `rw` is asked.
pub fn mount_cgroup(root: &pathrs::Root, dest: &Path, opts: &Parsed) -> Result<()> {
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let base = opts.flags - MsFlags::MS_RDONLY - MsFlags::MS_BIND - MsFlags::MS_REC;
    let hierarchies = v1_hierarchies()?;
    let target = resolve_dest(root, dest, false)?;
    if hierarchies.is_empty() {
        return mount(
            Some("cgroup2"),
            &fd_path(&target.as_fd()),
            Some("cgroup2"),
            opts.flags,
            None::<&str>,
        )
        .ctx("mount cgroup2");
    }
    mount(
        Some("tmpfs"),
        &fd_path(&target.as_fd()),
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .ctx("mount tmpfs for cgroup hierarchies")?;
    for (name, options) in &hierarchies {
        let sub = resolve_dest(root, &dest.join(name), false)?;
        mount(
            Some("cgroup"),
            &fd_path(&sub.as_fd()),
            Some("cgroup"),
            base | if ro {
                MsFlags::MS_RDONLY
            } else {
                MsFlags::empty()
            },
            Some(options.as_str()),
        )
        .with_ctx(|| format!("mount cgroup {name} ({options})"))?;
    }
    if ro {
        let top = root
            .resolve(dest)
            .map_err(|e| Error::Other(e.to_string()))?;
        mount(
            None::<&str>,
            &fd_path(&top.as_fd()),
            None::<&str>,
            base | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            Some("mode=755"),
        )
        .ctx("remount cgroup tmpfs read-only")?;
    }
    Ok(())
}

/// The v1 hierarchies mounted on the host: (directory name, mount data naming the
/// controllers or `name=`), from mountinfo (not directory listings, which may hold strays).
fn v1_hierarchies() -> Result<Vec<(String, String)>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ctx("read /proc/self/mountinfo")?;
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        if r.next() != Some("cgroup") {
            continue;
        }
        let super_opts = r.nth(1).unwrap_or_default();
        let mount_point = left.split(' ').nth(4).unwrap_or_default();
        let Some(name) = Path::new(mount_point).file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let data: Vec<&str> = super_opts
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"))
            .collect();
        if !out.iter().any(|(n, _): &(String, String)| n == name) {
            out.push((name.to_string(), data.join(",")));
        }
    }
    Ok(out)
}
