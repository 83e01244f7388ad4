//! Symlink-exchange race on a mount target (CVE-2021-30465). The victim binds a shared volume
//! at /vol and mounts a tmpfs and a bind under /vol/a; another container sharing the volume
//! (here a helper process on the host) swaps `a` with a symlink to an absolute host path, in
//! a loop, while the victim is created again and again. A runtime that checks the path and
//! then mounts by path can be made to mount through the symlink, outside the rootfs, where
//! the mount is lost at pivot_root (or, in runc's case, lands on a host directory).
//!
//! hull resolves every destination inside the root (a symlink to an absolute path leads to
//! that path inside the rootfs) and attaches to the fd it checked, so each mount lands inside
//! the rootfs whatever the swapper did: the test finds both mounts in the container's own
//! mount table (a mount made outside the root is not there), and the host path untouched.
//!
//! runc 1.1.5: has the fix of 1.0.0-rc95 (mounts through /proc/self/fd of a checked handle);
//! not rerun here.

use hull_integration::*;
use serde_json::json;

use crate::common::{host_mount_points, init_pid, mountinfo, snapshot, RaceVolume};

const ROUNDS: usize = 60;

#[test]
fn mounts_never_land_outside_the_rootfs() {
    let race = RaceVolume::new();
    let marker = TempDir::new("hull-sec-marker");
    std::fs::write(marker.path().join("marker"), b"m").unwrap();
    let mut b = Bundle::busybox(&["true"]);
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.push(
        json!({"destination": "/vol", "type": "bind", "source": race.vol(), "options": ["rbind"]}),
    );
    mounts.push(json!({"destination": "/vol/a/t", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(json!({"destination": "/vol/a/m", "type": "bind", "source": marker.path(), "options": ["bind"]}));
    b.save();
    let outside = race.outside.clone();
    let before = snapshot(&outside);
    // Other work on the machine mounts things too: only mounts on our own paths count.
    let ours = |points: Vec<String>| -> Vec<String> {
        let (vol, bundle) = (
            race.dir.path().display().to_string(),
            b.path().display().to_string(),
        );
        points
            .into_iter()
            .filter(|p| p.starts_with(&vol) || p.starts_with(&bundle))
            .collect()
    };
    let host_before = ours(host_mount_points());
    let inside_outside = outside.display().to_string();

    let rt = Runtime::new();
    let swapper = race.swapper();
    let (mut created, mut through_link) = (0, 0);
    for _ in 0..ROUNDS {
        let id = unique("race");
        let out = rt.create(&id, &b);
        if !out.status.success() {
            // Refusing is safe; the error names the mount it was at.
            assert!(stderr(&out).contains("mounts["), "{}", stderr(&out));
        } else {
            created += 1;
            let mounts = mountinfo(&format!("/proc/{}/mountinfo", init_pid(&rt, &id)));
            let tmpfs = mounts
                .iter()
                .find(|m| m.fstype == "tmpfs" && m.point.ends_with("/t"))
                .unwrap_or_else(|| panic!("the tmpfs is not in the container: {mounts:?}"));
            let bind = mounts
                .iter()
                .find(|m| {
                    m.root
                        .ends_with(marker.path().file_name().unwrap().to_str().unwrap())
                })
                .unwrap_or_else(|| panic!("the bind is not in the container: {mounts:?}"));
            // Inside the volume, or (through the link) at the link's path inside the rootfs.
            for m in [tmpfs, bind] {
                let ok = ["/vol/a/", "/vol/b/"]
                    .iter()
                    .any(|p| m.point.starts_with(p))
                    || m.point.starts_with(&inside_outside);
                assert!(ok, "a mount landed at {}", m.point);
                through_link += usize::from(m.point.starts_with(&inside_outside));
            }
            ok(&rt.cmd(&["delete", "-f", &id]));
        }
        assert_eq!(
            snapshot(&outside),
            before,
            "the host path behind the link changed"
        );
    }
    drop(swapper);
    assert_eq!(
        ours(host_mount_points()),
        host_before,
        "a mount appeared on the host"
    );
    assert!(created > 0, "no create succeeded in {ROUNDS} rounds");
    eprintln!(
        "{created} of {ROUNDS} creates succeeded, {through_link} mounts went through the link"
    );
}
