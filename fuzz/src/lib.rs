//! What the fuzz targets share: the layer target's sandbox.
//!
//! The layer applier runs as root and writes where a tar stream says. Should a hostile
//! stream ever get it to write outside the tree, that must show (a crash the fuzzer reports)
//! and must not touch the machine. So the target runs in a mount namespace of its own where
//! every mount is read-only, except the fuzz directory (libFuzzer's corpus and artifacts)
//! and a fresh tmpfs at /tmp (nodev, nosuid) holding the tree and a sentinel directory next
//! to it: a write outside the tree fails there, or lands in that tmpfs where
//! [`Sandbox::check`] finds it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The work directory in the sandbox's tmpfs: `root/` receives layers, `outside/` holds a
/// sentinel file nothing may change or link to.
pub struct Sandbox {
    pub work: PathBuf,
}

const SENTINEL: &[u8] = b"outside the tree: never written\n";

fn check(ret: Result<(), impl Into<std::io::Error>>, what: &str) {
    if let Err(e) = ret {
        panic!("sandbox: {what}: {}", e.into());
    }
}

/// Every mount under / made read-only, recursively, through the runtime's own mount_setattr(2)
/// wrapper (rustix has no mount_setattr).
fn make_every_mount_read_only() -> std::io::Result<()> {
    let ro = hull::sys::mount::MountAttr {
        attr_set: 0x1, // MOUNT_ATTR_RDONLY
        ..Default::default()
    };
    hull::sys::mount::mount_setattr(rustix::fs::CWD, c"/", true, &ro)
}

impl Sandbox {
    /// Enters the sandbox (once per process; the fuzz target calls it on its first input).
    pub fn enter() -> Sandbox {
        use rustix::mount::{MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags};
        let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let tmp = Path::new("/tmp");
        // SAFETY: only a new mount namespace, no CLONE_FILES, so no thread can be left with
        // another's fd table; the fuzzer calls this before it starts any thread of its own.
        let unshared =
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) };
        check(unshared, "unshare(CLONE_NEWNS)");
        check(
            rustix::mount::mount_change(
                "/",
                MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
            ),
            "make / private",
        );
        // The fuzz directory, cloned as it is (writable) before everything turns read-only.
        let fuzz = rustix::mount::open_tree(
            rustix::fs::CWD,
            fuzz_dir,
            OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC
                | OpenTreeFlags::AT_RECURSIVE,
        )
        .unwrap_or_else(|e| panic!("open_tree {}: {e}", fuzz_dir.display()));
        check(make_every_mount_read_only(), "make every mount read-only");
        check(
            rustix::mount::move_mount(
                &fuzz,
                "",
                rustix::fs::CWD,
                fuzz_dir,
                MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
            ),
            "put the fuzz directory back, writable",
        );
        drop(fuzz);
        check(
            rustix::mount::mount(
                "hull-fuzz",
                tmp,
                "tmpfs",
                MountFlags::NODEV | MountFlags::NOSUID,
                c"size=256m",
            ),
            "mount a tmpfs at /tmp",
        );
        // Paths libFuzzer was given relative to its directory now resolve in the new mounts.
        if let Ok(cwd) = std::env::current_dir() {
            let _ = std::env::set_current_dir(cwd);
        }
        let work = tmp.join("hull-fuzz-layer");
        std::fs::create_dir_all(work.join("outside")).unwrap();
        std::fs::write(work.join("outside/sentinel"), SENTINEL).unwrap();
        Sandbox { work }
    }

    pub fn root(&self) -> PathBuf {
        self.work.join("root")
    }

    /// A fresh tree for one input, as lower layers could have left it: a file, a directory,
    /// and symlinks pointing out of the tree (relative, absolute, through the root).
    pub fn fresh_root(&self) -> PathBuf {
        let root = self.root();
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
        let out = self.work.join("outside");
        std::os::unix::fs::symlink("../outside", root.join("rel")).unwrap();
        std::os::unix::fs::symlink(&out, root.join("abs")).unwrap();
        std::os::unix::fs::symlink("/", root.join("slash")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("usr/bin/up")).unwrap();
        root
    }

    /// Panics (a crash for the fuzzer) if anything outside the tree changed: /tmp holds only
    /// the work directory, which holds only root/ and outside/, and outside/ only the
    /// sentinel, unchanged and not linked from anywhere.
    pub fn check(&self) {
        let names = |dir: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            names(Path::new("/tmp")),
            ["hull-fuzz-layer"],
            "a file landed in /tmp"
        );
        assert_eq!(
            names(&self.work),
            ["outside", "root"],
            "a file landed next to the tree"
        );
        let out = self.work.join("outside");
        assert_eq!(names(&out), ["sentinel"], "a file landed in outside/");
        let sentinel = out.join("sentinel");
        let meta = std::fs::symlink_metadata(&sentinel).unwrap();
        assert!(meta.file_type().is_file(), "the sentinel was replaced");
        assert_eq!(
            meta.nlink(),
            1,
            "the sentinel was hard-linked into the tree"
        );
        assert_eq!(
            std::fs::read(&sentinel).unwrap(),
            SENTINEL,
            "the sentinel was written"
        );
    }
}
