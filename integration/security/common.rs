//! What the attack tests share: a snapshot of a host directory to show it unchanged, the
//! mount tables of the host and of a container, and a racing helper process.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use hull_integration::*;

/// Everything under `dir`: each path with its type and, for files and links, what they hold.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let rel = path.strip_prefix(root).unwrap().to_path_buf();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let what = if meta.is_symlink() {
            format!("link {}", std::fs::read_link(&path).unwrap().display())
        } else if meta.is_dir() {
            walk(root, &path, out);
            "dir".to_string()
        } else {
            format!("file {:?}", std::fs::read(&path).unwrap_or_default())
        };
        out.insert(rel, what);
    }
}

/// One line of a mountinfo file: the mount point (as the reader's root sees it), the root of
/// the mount in its filesystem, and the filesystem type.
#[derive(Debug, Clone)]
pub struct Mount {
    pub point: String,
    pub root: String,
    pub fstype: String,
}

pub fn mountinfo(path: &str) -> Vec<Mount> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            Some(Mount {
                root: l.get(3)?.to_string(),
                point: l.get(4)?.to_string(),
                fstype: right.split(' ').next()?.to_string(),
            })
        })
        .collect()
}

/// The host's mount points (this test process's namespace).
pub fn host_mount_points() -> Vec<String> {
    mountinfo("/proc/self/mountinfo")
        .into_iter()
        .map(|m| m.point)
        .collect()
}

/// The pid of a created container's init.
pub fn init_pid(rt: &Runtime, id: &str) -> i64 {
    rt.state(id).expect("state of a created container")["pid"]
        .as_i64()
        .unwrap()
}

/// Asserts that the runtime refused: a failed command whose error says `why`, and no
/// container left behind.
#[track_caller]
pub fn assert_refused(rt: &Runtime, out: &std::process::Output, why: &str) {
    assert!(
        !out.status.success(),
        "the runtime accepted the hostile bundle: {}",
        stdout(out)
    );
    assert!(
        stderr(out).contains(why),
        "expected {why:?} in: {}",
        stderr(out)
    );
    assert!(rt.ids().is_empty(), "a refused create left {:?}", rt.ids());
}

/// A process that swaps two paths with renameat2(RENAME_EXCHANGE) as fast as it can, as a
/// container sharing a volume with the victim would; killed when dropped (or when the test
/// process dies), and bounded on its own besides.
pub struct Swapper {
    pid: rustix::process::Pid,
}

impl Swapper {
    pub fn start(a: &Path, b: &Path) -> Swapper {
        const MAX_SWAPS: u64 = 50_000_000;
        let a = CString::new(a.as_os_str().as_bytes()).unwrap();
        let b = CString::new(b.as_os_str().as_bytes()).unwrap();
        let swap = move || {
            let _ = rustix::process::set_parent_process_death_signal(Some(
                rustix::process::Signal::KILL,
            ));
            for _ in 0..MAX_SWAPS {
                let _ = rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    a.as_c_str(),
                    rustix::fs::CWD,
                    b.as_c_str(),
                    rustix::fs::RenameFlags::EXCHANGE,
                );
            }
        };
        // SAFETY: the child only makes raw system calls (prctl, renameat2) on the paths
        // prepared before the fork, so the fork of this threaded test process is sound.
        let pid = unsafe { fork_child(swap) }.expect("fork the swapper");
        Swapper { pid }
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        let _ = rustix::process::kill_process(self.pid, rustix::process::Signal::KILL);
        let _ = rustix::process::waitpid(Some(self.pid), rustix::process::WaitOptions::empty());
    }
}

/// A shared volume for the race tests: `vol/a` a directory and `vol/b` a symlink to the
/// absolute host path `outside`, which the swapper exchanges; `vol` is bound into the victim
/// at /vol.
pub struct RaceVolume {
    pub dir: TempDir,
    pub outside: PathBuf,
}

impl RaceVolume {
    pub fn new() -> RaceVolume {
        let dir = TempDir::new("hull-sec-race");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("sentinel"), b"host").unwrap();
        let vol = dir.path().join("vol");
        std::fs::create_dir_all(vol.join("a")).unwrap();
        std::os::unix::fs::symlink(&outside, vol.join("b")).unwrap();
        RaceVolume { dir, outside }
    }

    pub fn vol(&self) -> PathBuf {
        self.dir.path().join("vol")
    }

    pub fn swapper(&self) -> Swapper {
        Swapper::start(&self.vol().join("a"), &self.vol().join("b"))
    }
}
