//! The bundle the rootfs tests build on, with or without root (`tests`, `seam_tests`,
//! `plan_tests`): a private temp dir holding a rootfs, and the config and plan for it.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use oci_spec::runtime::{
    LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, Mount, MountBuilder, RootBuilder,
    Spec,
};

use super::{Options, Plan};
use crate::Result;

/// The devices every container is expected to get (runc's defaults), written out here rather
/// than read from `devices`, so the tests do not check the code against its own table.
pub const DEFAULT_DEVICES: &[(&str, u32, u32)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// A bundle in a private temp dir; removed on drop.
pub struct Bundle {
    pub dir: PathBuf,
    pub root: PathBuf,
}

impl Bundle {
    /// An empty rootfs (what the seam tests need: nothing runs in it).
    pub fn empty(name: &str) -> Bundle {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hull-rootfs-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let root = dir.join("rootfs");
        fs::create_dir_all(&root).unwrap();
        Bundle { dir, root }
    }

    /// A rootfs with busybox and a few applets, for the tests that run commands inside it.
    pub fn busybox(name: &str) -> Bundle {
        let b = Bundle::empty(name);
        fs::create_dir_all(b.root.join("bin")).unwrap();
        fs::copy("/bin/busybox", b.root.join("bin/busybox")).unwrap();
        for applet in ["sh", "cat", "ls", "true", "stat"] {
            symlink("busybox", b.root.join("bin").join(applet)).unwrap();
        }
        b
    }

    /// runc's default spec (what `hull spec` writes), rooted here (read-only).
    pub fn default_spec(&self) -> Spec {
        let mut spec = Spec::default();
        spec.set_root(Some(
            RootBuilder::default().path(&self.root).build().unwrap(),
        ));
        spec
    }

    /// The default spec with `mounts` instead of the default ones, the root writable, and a
    /// mount namespace as the only namespace (no cgroup or user namespace unless a test
    /// adds one).
    pub fn spec(&self, mounts: Vec<Mount>) -> Spec {
        let mut spec = self.default_spec();
        spec.set_mounts(Some(mounts));
        spec.set_root(Some(
            RootBuilder::default()
                .path(&self.root)
                .readonly(false)
                .build()
                .unwrap(),
        ));
        let mut linux = spec.linux().clone().unwrap();
        linux.set_namespaces(Some(vec![ns(LinuxNamespaceType::Mount)]));
        spec.set_linux(Some(linux));
        spec
    }

    /// The rootfs plan for `spec` in this bundle, as create makes it (no runtime options).
    pub fn plan(&self, spec: &Spec) -> Result<Plan> {
        Plan::new(spec, &self.dir, Options::default())
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn ns(typ: LinuxNamespaceType) -> LinuxNamespace {
    LinuxNamespaceBuilder::default().typ(typ).build().unwrap()
}

/// One `mounts` entry.
pub fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .unwrap()
}
