//! Against the reference tools: a differential test with `umoci unpack`, images made by
//! umoci and converted by skopeo, and a rootless unpack. Needs umoci, skopeo, runc and
//! setpriv (hack/lanes/image.sh installs them).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::*;

fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is it installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hull_unpack(reference: &str, bundle: &Path) {
    sh(Command::new(hull_image())
        .args(["unpack", reference])
        .arg(bundle));
}

fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) {
    sh(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle));
}

/// Compares two trees and reports every difference at once.
fn assert_same_tree(a: &BTreeMap<String, Node>, b: &BTreeMap<String, Node>, what: &str) {
    let mut diffs = vec![];
    for (path, na) in a {
        match b.get(path) {
            None => diffs.push(format!("only in first: {path}")),
            Some(nb) if na != nb => diffs.push(format!("{path}: {na:?} != {nb:?}")),
            _ => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        diffs.push(format!("only in second: {path}"));
    }
    assert!(
        diffs.is_empty(),
        "{what}: trees differ:\n{}",
        diffs.join("\n")
    );
}

/// Everything but umoci-specific bookkeeping xattrs.
fn tree(root: &Path) -> BTreeMap<String, Node> {
    snapshot(root)
}

#[test]
fn differential_against_umoci() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    let caps = {
        let mut v = Vec::new();
        for w in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v
    };
    let mut base = busybox_entries();
    base.extend([
        dir("srv").mode(0o2775).owner(1000, 50),
        file("srv/data", b"data")
            .mode(0o640)
            .owner(1000, 50)
            .xattr("user.origin", b"layer1"),
        file("usr/bin/su", b"su").mode(0o4755),
        file("usr/bin/ping", b"ping")
            .mode(0o755)
            .xattr("security.capability", &caps),
        hardlink("usr/bin/su2", "usr/bin/su"),
        symlink("usr/bin/rel", "../../srv/data"),
        symlink("abs", "/srv"),
        fifo("run/ctl").mode(0o600).owner(7, 8),
        chardev("dev/zero", 1, 5),
        blockdev("dev/sda", 8, 0),
        dir("tmp").mode(0o1777),
        file("old/a", b"a"),
        file("old/b", b"b"),
        dir("op"),
        file("op/lower", b"l"),
        file("swap-file", b"f"),
        dir("swap-dir"),
        file("swap-dir/x", b"x"),
        file("ro/file", b"r").mode(0o400),
    ]);
    img.layer(&base, Compression::Gzip);
    img.layer(
        &[
            file("old/.wh.a", b""),
            // Marker first: umoci's order of applying it is not what this test is about.
            file("op/.wh..wh..opq", b""),
            file("op/upper", b"u"),
            dir("swap-file"),
            file("swap-file/inside", b"i"),
            file("swap-dir", b"now a file"),
            file("srv/data", b"rewritten").mode(0o600).owner(1000, 50),
            dir("ro").mode(0o555),
        ],
        // umoci 0.4 reads no zstd layers.
        Compression::Gzip,
    );
    img.layer(
        &[
            file("big", &vec![7u8; 3 << 20]),
            symlink("usr/bin/rel", "su"),
        ],
        Compression::None,
    );
    img.finish("t");

    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    hull_unpack(&format!("oci:{}:t", img.dir.display()), &ours);
    umoci_unpack(&img.dir, "t", &theirs);
    let a = tree(&ours.join("rootfs"));
    let b = tree(&theirs.join("rootfs"));
    assert!(a.len() > 25, "the image is not trivial: {}", a.len());
    assert_same_tree(&a, &b, "hull-image vs umoci");
    // mtimes of files agree too (umoci restores them from the headers as well).
    for p in ["srv/data", "usr/bin/su", "big"] {
        let ma = fs::metadata(ours.join("rootfs").join(p)).unwrap().mtime();
        let mb = fs::metadata(theirs.join("rootfs").join(p)).unwrap().mtime();
        assert_eq!(ma, mb, "{p}");
    }
}

/// An image made by umoci from a directory of files.
fn umoci_image(tmp: &Path) -> std::path::PathBuf {
    let layout = tmp.join("umoci-img");
    sh(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    sh(Command::new("umoci")
        .args(["new", "--image"])
        .arg(format!("{}:t", layout.display())));
    let root = tmp.join("files");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nweb:x:33:33::/:/bin/sh\n",
    )
    .unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\nweb:x:33:\n").unwrap();
    fs::write(root.join("etc/motd"), "made by umoci\n").unwrap();
    sh(Command::new("umoci")
        .args(["insert", "--image"])
        .arg(format!("{}:t", layout.display()))
        .arg(&root)
        .arg("/"));
    sh(Command::new("umoci")
        .args(["config", "--image"])
        .arg(format!("{}:t", layout.display()))
        .args(["--config.user", "web", "--config.workingdir", "/etc"])
        .args([
            "--config.cmd",
            "/bin/sh",
            "--config.cmd",
            "-c",
            "--config.cmd",
            "id -u; cat motd",
        ]));
    layout
}

#[test]
fn umoci_and_skopeo_images() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = umoci_image(tmp.path());
    let from_oci = tmp.path().join("oci");
    hull_unpack(&format!("oci:{}:t", layout.display()), &from_oci);
    let theirs = tmp.path().join("theirs");
    umoci_unpack(&layout, "t", &theirs);
    let reference_tree = tree(&theirs.join("rootfs"));
    assert_same_tree(
        &tree(&from_oci.join("rootfs")),
        &reference_tree,
        "umoci image",
    );

    // skopeo converts the same image to the archive formats.
    let docker = tmp.path().join("docker.tar");
    let ociarc = tmp.path().join("oci.tar");
    let src = format!("oci:{}:t", layout.display());
    sh(Command::new("skopeo").args(["copy", &src]).arg(format!(
        "docker-archive:{}:example.com/web:1",
        docker.display()
    )));
    sh(Command::new("skopeo")
        .args(["copy", &src])
        .arg(format!("oci-archive:{}:v1", ociarc.display())));
    for (reference, name) in [
        (format!("docker-archive:{}", docker.display()), "d1"),
        (
            format!("docker-archive:{}:example.com/web:1", docker.display()),
            "d2",
        ),
        (format!("oci-archive:{}:v1", ociarc.display()), "o1"),
    ] {
        let b = tmp.path().join(name);
        hull_unpack(&reference, &b);
        assert_same_tree(&tree(&b.join("rootfs")), &reference_tree, &reference);
        let spec: serde_json::Value =
            serde_json::from_slice(&fs::read(b.join("config.json")).unwrap()).unwrap();
        assert_eq!(spec["process"]["user"]["uid"], 33, "{reference}");
        assert_eq!(spec["process"]["cwd"], "/etc", "{reference}");
    }
    // Last: runc adds mount points to the rootfs.
    let (ok, stdout, stderr) = runc_run(&from_oci, &unique("hull-image-umoci"));
    assert!(ok, "runc: {stderr}");
    assert_eq!(stdout, "33\nmade by umoci\n");
}

#[test]
fn rootless_unpack_keeps_owners_in_xattrs() {
    let tmp = tempfile::tempdir().unwrap();
    // The unprivileged user must reach the image and write the bundle.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(
        &[
            dir("home").mode(0o555),
            dir("home/app").owner(1000, 1000).mode(0o700),
            file("home/app/secret", b"s").owner(1000, 1000).mode(0o600),
            file("rootfile", b"r"),
            chardev("dev/null", 1, 3),
            fifo("fifo"),
        ],
        Compression::Gzip,
    );
    img.layer(
        &[file("home/app/later", b"l").owner(1000, 1000)],
        Compression::Gzip,
    );
    img.run_config = serde_json::json!({"Cmd": ["/bin/true"]});
    img.finish("t");
    sh(Command::new("chmod").args(["-R", "a+rX"]).arg(&img.dir));
    let bundle = tmp.path().join("b");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(hull_image())
        .args(["unpack", "--quiet"])
        .arg(format!("oci:{}:t", img.dir.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rootless unpack: {stderr}");
    assert!(
        stderr.contains("skipped device nodes"),
        "warns about devices: {stderr}"
    );
    let r = bundle.join("rootfs");
    assert!(!r.join("dev/null").exists(), "device nodes are skipped");
    let secret = fs::metadata(r.join("home/app/secret")).unwrap();
    assert_eq!(secret.uid(), 65534, "files belong to the unpacking user");
    assert_eq!(secret.mode() & 0o777, 0o600);
    let x = xattrs_of(&r.join("home/app/secret"));
    assert_eq!(
        x["user.rootlesscontainers"],
        [0x08, 0xe8, 0x07, 0x10, 0xe8, 0x07]
    );
    assert!(!xattrs_of(&r.join("rootfile")).contains_key("user.rootlesscontainers"));
    // Read-only directories got their final mode after their contents were written.
    assert_eq!(fs::metadata(r.join("home")).unwrap().mode() & 0o777, 0o555);
    assert_eq!(fs::read(r.join("home/app/later")).unwrap(), b"l");
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["linux"]["uidMappings"][0]["hostID"], 65534);
    assert!(spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "user"));
}
