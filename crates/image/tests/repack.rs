//! `repack` round trips: an image from the local registry is unpacked (flattened, and as
//! an overlay bundle), a real container changes files in it (adds, modifies, deletes,
//! chmods, chowns, links, replaces a directory), the bundle is repacked into an OCI
//! layout, and that image, unpacked again by hull-image, umoci and (through skopeo and
//! the registry) hull-image once more, gives the container's tree back. podman reads it
//! too. Needs root, docker-registry, skopeo, umoci, podman and runc (or the workspace's
//! hull binary, preferred when built).

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::registry::{sh, Auth, Registry};
use common::*;
use serde_json::{json, Value};

fn hull(args: &[&str]) -> String {
    sh(Command::new(hull_image()).args(args).stdin(Stdio::null()))
}

/// The runtime the container runs with: the workspace's hull when it is built, else runc.
fn runtime() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/hull");
    if built.exists() {
        built
    } else {
        eprintln!("hull is not built in this workspace: running the container with runc");
        PathBuf::from("runc")
    }
}

/// Runs `script` in the bundle's container (private state root, deleted after).
fn run_script(bundle: &Path, script: &str) {
    let config_path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&fs::read(&config_path).unwrap()).unwrap();
    config["process"]["args"] = json!(["/bin/sh", "-c", script]);
    config["process"]["terminal"] = json!(false);
    // chown and chmod of others' files, as an image build step would.
    let caps = json!(["CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE", "CAP_KILL"]);
    for set in ["bounding", "effective", "permitted"] {
        config["process"]["capabilities"][set] = caps.clone();
    }
    fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let id = unique("repack");
    let rt = runtime();
    let out = Command::new(&rt)
        .arg("--root")
        .arg(state.path())
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new(&rt)
        .arg("--root")
        .arg(state.path())
        .args(["delete", "-f", &id])
        .output();
    assert!(
        out.status.success(),
        "{} run: {}{}",
        rt.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the container does to its rootfs.
const CHANGES: &str = "set -e
echo new > /new
chown 1000:50 /new
ln /new /new-link
echo more >> /etc/motd
rm /old/a
rm -rf /dir2
chmod 600 /chm
echo s > /suid && chmod 4755 /suid
mkdir -p /newdir/sub && echo deep > /newdir/sub/f && chmod 700 /newdir
ln -s ../etc/motd /newdir/sym
rm -rf /srv && mkdir /srv && echo fresh > /srv/fresh
rm /swap && mkdir /swap && echo in > /swap/in
rm -rf /swap2 && echo file > /swap2
mkfifo /fifo
";

fn base_image(at: &Path) -> Layout {
    let mut img = Layout::new(at);
    img.run_config = json!({"Cmd": ["/bin/true"]});
    let mut base = busybox_entries();
    base.extend([
        file("etc/motd", b"hello\n"),
        file("old/a", b"a"),
        file("old/b", b"b"),
        file("dir2/x", b"x"),
        file("dir2/deeper/y", b"y"),
        file("chm", b"c").mode(0o644),
        dir("srv").mode(0o2750).owner(1000, 50),
        file("srv/data", b"d").owner(1000, 50).xattr("user.k", b"v"),
        hardlink("srv/link", "srv/data"),
        file("swap", b"was a file"),
        dir("swap2"),
        file("swap2/z", b"z"),
        file("keep/untouched", b"u").mode(0o640).owner(7, 8),
    ]);
    img.layer(&base, Compression::Gzip);
    // gzip: umoci 0.4 reads no zstd layers.
    img.layer(&[file("second", b"layer two")], Compression::Gzip);
    img.finish("base");
    img
}

/// The names in a gzip'd tar layer.
fn layer_names(blob: &Path) -> Vec<String> {
    let mut data = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(blob).unwrap())
        .read_to_end(&mut data)
        .unwrap();
    let mut archive = tar::Archive::new(&data[..]);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .display()
                .to_string()
                .trim_end_matches('/')
                .to_string()
        })
        .collect()
}

fn assert_same(a: &Path, b: &Path, what: &str) {
    let (ta, tb) = (snapshot(a), snapshot(b));
    let mut diffs = vec![];
    for (p, na) in &ta {
        match tb.get(p) {
            None => diffs.push(format!("only in {}: {p}", a.display())),
            Some(nb) if na != nb => diffs.push(format!("{p}: {na:?} != {nb:?}")),
            _ => {}
        }
    }
    for p in tb.keys().filter(|p| !ta.contains_key(*p)) {
        diffs.push(format!("only in {}: {p}", b.display()));
    }
    assert!(diffs.is_empty(), "{what}:\n{}", diffs.join("\n"));
}

/// Repacks `bundle` into `out:new` and checks the image every way it can be read.
fn repack_and_check(bundle: &Path, reg: &Registry, out: &Path, tmp: &Path, name: &str) {
    let rootfs = bundle.join("rootfs");
    let manifest = hull(&[
        "repack",
        bundle.to_str().unwrap(),
        "--image",
        &format!("oci:{}:new", out.display()),
    ]);
    let manifest = manifest.trim();
    assert!(manifest.starts_with("sha256:"), "{manifest}");

    // The image: the base's layers and one more, history saying so.
    let v: Value = serde_json::from_str(&hull(&[
        "inspect",
        "--json",
        &format!("oci:{}:new", out.display()),
    ]))
    .unwrap();
    assert_eq!(v["manifestDigest"], json!(manifest));
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    assert_eq!(
        v["config"]["rootfs"]["diff_ids"].as_array().unwrap().len(),
        3
    );
    let history = v["config"]["history"].as_array().unwrap();
    assert_eq!(
        history.last().unwrap()["created_by"],
        json!("hull-image repack")
    );

    // The new layer holds the changes only, deletions as whiteouts.
    let new_layer = layers[2]["digest"].as_str().unwrap();
    let names = layer_names(&out.join("blobs/sha256").join(&new_layer[7..]));
    for want in [
        "new",
        "new-link",
        "etc/motd",
        "old/.wh.a",
        ".wh.dir2",
        "chm",
        "suid",
        "fifo",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    for unchanged in ["bin/busybox", "keep/untouched", "second", "old/b"] {
        assert!(
            !names.iter().any(|n| n == unchanged),
            "{unchanged} in {names:?}"
        );
    }

    // hull-image unpacks it to the container's tree.
    let again = tmp.join(format!("{name}-again"));
    hull(&[
        "unpack",
        &format!("oci:{}:new", out.display()),
        again.to_str().unwrap(),
    ]);
    assert_same(
        &rootfs,
        &again.join("rootfs"),
        "hull-image unpack of the repacked image",
    );
    let t = snapshot(&again.join("rootfs"));
    assert_eq!(t["new"].uid, 1000);
    assert_eq!(t["suid"].mode, 0o4755);
    assert_eq!(t["chm"].mode, 0o600);
    assert_eq!(t["swap"].kind, "dir");
    assert_eq!(t["swap2"].kind, "file");
    assert!(!t.contains_key("srv/data") && t.contains_key("srv/fresh"));
    assert!(!t.contains_key("dir2") && !t.contains_key("old/a") && t.contains_key("old/b"));
    let md = |p: &str| fs::metadata(again.join("rootfs").join(p)).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(md("new").ino(), md("new-link").ino(), "the hardlink is one");

    // umoci reads the layout and gets the same tree.
    let by_umoci = tmp.join(format!("{name}-umoci"));
    sh(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:new", out.display()))
        .arg(&by_umoci));
    assert_same(
        &rootfs,
        &by_umoci.join("rootfs"),
        "umoci unpack of the repacked image",
    );

    // skopeo reads it and pushes it; pulled back from the registry it is the same again.
    let inspected: Value = serde_json::from_str(&sh(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:new", out.display()))))
    .unwrap();
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 3);
    reg.push(
        &format!("oci:{}:new", out.display()),
        &format!("{name}:new"),
        &[],
    );
    let pulled = tmp.join(format!("{name}-pulled"));
    hull(&[
        "unpack",
        &format!("docker://{}/{name}:new", reg.host()),
        pulled.to_str().unwrap(),
    ]);
    assert_same(
        &rootfs,
        &pulled.join("rootfs"),
        "the repacked image through the registry",
    );

    // podman, with a private store, reads it too.
    if Command::new("podman").arg("--version").output().is_ok() {
        // podman names the image after the layout's path, which must be lower case: a
        // directory of our own under the temp dir (tempfile's names have capitals).
        struct Gone(PathBuf);
        impl Drop for Gone {
            fn drop(&mut self) {
                let _ = fs::remove_dir_all(&self.0);
            }
        }
        let root = Gone(std::env::temp_dir().join(unique("hull-image-podman")));
        fs::create_dir(&root.0).unwrap();
        let podman = |args: &[&str]| {
            sh(Command::new("podman")
                .arg("--root")
                .arg(root.0.join("root"))
                .arg("--runroot")
                .arg(root.0.join("run"))
                .args(["--storage-driver", "vfs", "--events-backend", "none"])
                .args(args))
        };
        let link = root.0.join("layout");
        std::os::unix::fs::symlink(out, &link).unwrap();
        let id = podman(&["pull", "-q", &format!("oci:{}:new", link.display())]);
        let history = podman(&["image", "history", "--format", "{{.CreatedBy}}", id.trim()]);
        assert!(history.contains("hull-image repack"), "{history}");
        let _ = podman(&["rmi", "-a", "-f"]);
    }
}

#[test]
fn repack_flattened_bundle_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_image(&tmp.path().join("base"));
    let reg = Registry::start(Auth::None);
    reg.push(&format!("oci:{}:base", base.dir.display()), "base:1", &[]);
    let bundle = tmp.path().join("bundle");
    hull(&[
        "unpack",
        &format!("docker://{}/base:1", reg.host()),
        bundle.to_str().unwrap(),
    ]);
    run_script(&bundle, CHANGES);
    // An xattr set from outside the container: busybox has no setfattr.
    rustix::fs::lsetxattr(
        bundle.join("rootfs/new"),
        "user.added",
        b"1",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    // The base's blobs are not in the new layout: repack fetches them from the registry.
    let out = tmp.path().join("out");
    repack_and_check(&bundle, &reg, &out, tmp.path(), "flat");
    let t = snapshot(&bundle.join("rootfs"));
    assert_eq!(
        t["new"].xattrs.get("user.added").map(Vec::as_slice),
        Some(&b"1"[..])
    );

    // Repacking into the base's own layout reuses its blobs, and a second tag keeps the first.
    hull(&[
        "repack",
        bundle.to_str().unwrap(),
        "--image",
        &format!("oci:{}:changed", base.dir.display()),
    ]);
    let index: Value =
        serde_json::from_slice(&fs::read(base.dir.join("index.json")).unwrap()).unwrap();
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert_eq!(tags, ["base", "changed"]);
}

#[test]
fn repack_overlay_bundle_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_image(&tmp.path().join("base"));
    let reg = Registry::start(Auth::None);
    reg.push(&format!("oci:{}:base", base.dir.display()), "base:1", &[]);
    let store = tmp.path().join("store");
    let bundle = tmp.path().join("bundle");
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = Command::new(hull_image())
                .arg("umount")
                .arg(&self.0)
                .output();
        }
    }
    let _umount = Umount(bundle.clone());
    hull(&[
        "unpack",
        "--overlay",
        "--store",
        store.to_str().unwrap(),
        &format!("docker://{}/base:1", reg.host()),
        bundle.to_str().unwrap(),
    ]);
    run_script(&bundle, CHANGES);
    // The changes are in the upper directory, deletions as overlay whiteouts.
    let upper = bundle.join(".hull-image/upper");
    assert!(upper.join("new").exists());
    assert!(fs::symlink_metadata(upper.join("dir2")).is_ok());
    let out = tmp.path().join("out");
    repack_and_check(&bundle, &reg, &out, tmp.path(), "ovl");
}

#[test]
fn repack_refuses_what_it_cannot_do() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain");
    fs::create_dir_all(plain.join("rootfs")).unwrap();
    let out = Command::new(hull_image())
        .args(["repack", plain.to_str().unwrap(), "--image"])
        .arg(format!("oci:{}:t", tmp.path().join("o").display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("hull-image unpack"), "{e}");
    // The target must be a layout and a tag.
    let base = base_image(&tmp.path().join("base"));
    let bundle = tmp.path().join("b");
    hull(&[
        "unpack",
        &format!("oci:{}:base", base.dir.display()),
        bundle.to_str().unwrap(),
    ]);
    for bad in ["oci:/x", "docker://localhost/x:y"] {
        let out = Command::new(hull_image())
            .args(["repack", bundle.to_str().unwrap(), "--image", bad])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("oci:DIR:TAG"));
    }
}

/// Every path's mtime to the nanosecond (symlinks' own), the root's excepted.
fn mtimes(root: &Path) -> std::collections::BTreeMap<String, (i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let md = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            out.insert(rel, (md.mtime(), md.mtime_nsec()));
            if md.is_dir() {
                todo.push(p);
            }
        }
    }
    out
}

#[test]
fn repack_keeps_nanosecond_mtimes() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_image(&tmp.path().join("base"));
    let bundle = tmp.path().join("bundle");
    hull(&[
        "unpack",
        &format!("oci:{}:base", base.dir.display()),
        bundle.to_str().unwrap(),
    ]);
    let rootfs = bundle.join("rootfs");
    // Changed files, a new directory, a symlink and a hardlink, each with its own
    // sub-second mtime (one before 1970), set last so that nothing bumps them again.
    fs::write(rootfs.join("etc/motd"), "changed\n").unwrap();
    fs::create_dir(rootfs.join("newdir")).unwrap();
    fs::write(rootfs.join("newdir/f"), "f").unwrap();
    std::os::unix::fs::symlink("f", rootfs.join("newdir/l")).unwrap();
    fs::hard_link(rootfs.join("newdir/f"), rootfs.join("newdir/h")).unwrap();
    fs::write(rootfs.join("whole"), "whole seconds").unwrap();
    let stamps = [
        ("etc/motd", 1_700_000_000, 123_456_789),
        ("newdir/f", 1_600_000_000, 1),
        ("newdir/l", 1_500_000_000, 999_999_999),
        ("whole", 1_400_000_000, 0),
        ("old", -2, 750_000_000),
        ("newdir", 1_650_000_000, 500_000_000),
        ("etc", 1_650_000_001, 42),
    ];
    for (path, sec, nsec) in stamps {
        let t = rustix::fs::Timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            rootfs.join(path),
            &rustix::fs::Timestamps {
                last_access: t,
                last_modification: t,
            },
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }
    let before = mtimes(&rootfs);
    assert_eq!(before["etc/motd"], (1_700_000_000, 123_456_789));
    assert_eq!(before["old"], (-2, 750_000_000));

    let out = tmp.path().join("out");
    hull(&[
        "repack",
        bundle.to_str().unwrap(),
        "--image",
        &format!("oci:{}:new", out.display()),
    ]);
    let again = tmp.path().join("again");
    hull(&[
        "unpack",
        &format!("oci:{}:new", out.display()),
        again.to_str().unwrap(),
    ]);
    let after = mtimes(&again.join("rootfs"));
    // Directories no layer has an entry for (parents made on the way) get the time of
    // the unpack; every other path has its image mtime, and must have it back exactly.
    let implicit = |p: &str| {
        fs::symlink_metadata(rootfs.join(p)).unwrap().is_dir()
            && !stamps.iter().any(|(s, _, _)| *s == p)
    };
    let diffs: Vec<String> = before
        .iter()
        .filter(|(p, t)| !implicit(p) && after.get(*p) != Some(t))
        .map(|(p, t)| format!("{p}: {t:?} became {:?}", after.get(p)))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(before.len(), after.len());
}
