//! What the lifecycle attacks check after each step: that nothing of a container is left on
//! the host (state directory, cgroup directories, processes, mounts), and a few ways to start
//! the runtime the way an attacker would.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use hull_integration::*;

/// The directories a container's cgroup has on this host for a relative cgroupsPath `rel`:
/// one per cgroup hierarchy, nested in this process's own cgroup there (where the runtime,
/// our child, puts it).
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut dirs = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let right: Vec<&str> = right.split(' ').collect();
        let point = left.split(' ').nth(4).unwrap();
        let own_path = match right[0] {
            "cgroup2" => own.lines().find_map(|l| l.strip_prefix("0::")),
            "cgroup" => {
                let opts: Vec<&str> = right[2].split(',').collect();
                own.lines().find_map(|l| {
                    let mut f = l.splitn(3, ':');
                    let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
                    // "memory" or "name=systemd": every name on the line is a mount option.
                    let this = ctrls.split(',').all(|c| opts.contains(&c));
                    (!ctrls.is_empty() && this).then_some(path)
                })
            }
            _ => None,
        };
        if let Some(p) = own_path {
            dirs.push(Path::new(point).join(p.trim_start_matches('/')).join(rel));
        }
    }
    assert!(!dirs.is_empty(), "no cgroup hierarchy found");
    dirs
}

/// Asserts that nothing of container `id` (cgroupsPath `rel`, processes marked `marker`) is
/// left: no state directory, no cgroup directory, no process, no mount under the root.
#[track_caller]
pub fn assert_nothing_left(rt: &Runtime, id: &str, rel: &str, marker: &str) {
    let state_dir = rt.root.path().join(id);
    assert!(
        !state_dir.exists(),
        "state directory {} left",
        state_dir.display()
    );
    let cgroups: Vec<PathBuf> = cgroup_dirs(rel)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    assert!(!process_with(marker), "a process marked {marker} is left");
    let root = rt.root.path().to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.lines().any(|l| l.contains(&root)),
        "mounts under {root} left"
    );
    assert!(
        rt.state(id).is_none(),
        "`state {id}` still answers after delete"
    );
}

/// The runtime with `args`, started with nothing open but stdio (as a caller that has no fd
/// to pass would start it), stdout and stderr collected.
pub fn without_extra_fds(rt: &Runtime, args: &[&str]) -> Output {
    without_extra_fds_env(rt, args, &[])
}

/// [`without_extra_fds`] with variables added to the runtime's environment.
pub fn without_extra_fds_env(rt: &Runtime, args: &[&str], env: &[(&str, &str)]) -> Output {
    let err_path = std::env::temp_dir().join(unique("hull-stderr"));
    let err_file = std::fs::File::create(&err_path).unwrap();
    let out_path = std::env::temp_dir().join(unique("hull-stdout"));
    let out_file = std::fs::File::create(&out_path).unwrap();
    let mut cmd = rt.command();
    cmd.args(args)
        .envs(env.iter().copied())
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .stdout(out_file)
        .stderr(err_file);
    // SAFETY: only close_range, async-signal-safe, in the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().expect("run the runtime");
    let out = Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(&err_path);
    let _ = std::fs::remove_file(&out_path);
    out
}

/// A shell script for a bundle that runs `script` and then sleeps, its command line carrying
/// `marker` so that its processes can be found.
pub fn marked_sleeper(marker: &str) -> Bundle {
    Bundle::sh(&format!("sleep 1000; : {marker}"))
}

/// `exec` into container `id`, retried when the executable is briefly busy (ETXTBSY: a copy
/// in the rootfs may still be open in a child another test forked meanwhile).
pub fn exec(rt: &Runtime, args: &[&str]) -> Output {
    let mut full = vec!["exec"];
    full.extend_from_slice(args);
    for _ in 0..20 {
        let out = rt.cmd(&full);
        if !stderr(&out).contains("Text file busy") {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    rt.cmd(&full)
}

/// A snapshot of everything under `dir`: path, type and size, for "nothing changed here".
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() && !meta.is_symlink() {
                stack.push(e.path());
            }
            out.push(format!(
                "{} {:?} {}",
                e.path().display(),
                meta.file_type(),
                meta.len()
            ));
        }
    }
    out.sort();
    out
}
