//! Empty files and directories made on the host through a racing symlink in a bind target's
//! path (CVE-2024-45310). The victim's mount destinations pass through a shared volume's `a`,
//! which a helper process swaps with a symlink to an absolute host path; the destinations'
//! missing directories and the empty file a file bind needs are created as the victim is set
//! up. A runtime that creates them by path (runc's MkdirAll and os.Create after securejoin)
//! creates them in the host directory behind the link.
//!
//! hull creates every missing component from a directory fd resolved inside the root, the
//! last one with O_EXCL|O_NOFOLLOW (src/rootfs/inroot.rs), so whatever the swapper does,
//! nothing appears behind the link on the host.
//!
//! runc 1.1.5 (fixed in 1.1.14): creates them on the host. The same bundles, with the same
//! swapper, left the directory `d60` in the host directory behind the link (one round of 60;
//! 14 creates failed with ENOENT or "possibly malicious path detected").

use hull_integration::*;
use serde_json::json;

use crate::common::{snapshot, RaceVolume};

const ROUNDS: usize = 60;

#[test]
fn nothing_is_created_behind_a_racing_symlink() {
    let race = RaceVolume::new();
    let source = TempDir::new("hull-sec-file");
    std::fs::write(source.path().join("file"), b"f").unwrap();
    let mut b = Bundle::busybox(&["true"]);
    let base = b.config["mounts"].as_array().unwrap().clone();
    let before = snapshot(&race.outside);

    let rt = Runtime::new();
    let swapper = race.swapper();
    let mut created = 0;
    for round in 0..ROUNDS {
        // New names every round: a directory or file the victim has to create, each time.
        let mut mounts = base.clone();
        mounts.push(json!({"destination": "/vol", "type": "bind", "source": race.vol(), "options": ["rbind"]}));
        mounts.push(
            json!({"destination": format!("/vol/a/d{round}"), "type": "tmpfs", "source": "tmpfs"}),
        );
        mounts.push(
            json!({"destination": format!("/vol/a/f{round}"), "type": "bind",
            "source": source.path().join("file"), "options": ["bind"]}),
        );
        b.config["mounts"] = mounts.into();
        b.save();
        let id = unique("race");
        let out = rt.create(&id, &b);
        if out.status.success() {
            created += 1;
            ok(&rt.cmd(&["delete", "-f", &id]));
        } else {
            assert!(stderr(&out).contains("mounts["), "{}", stderr(&out));
        }
        assert_eq!(
            snapshot(&race.outside),
            before,
            "something was created on the host"
        );
    }
    drop(swapper);
    assert!(created > 0, "no create succeeded in {ROUNDS} rounds");
    // What went through the link was made at the link's path inside the rootfs instead.
    let inside = b.rootfs().join(race.outside.strip_prefix("/").unwrap());
    eprintln!(
        "{created} of {ROUNDS} creates succeeded; inside the rootfs behind the link: {}",
        snapshot(&inside).len()
    );
}
