//! Flatten-mode unpacking of images the tests build: every entry type, whiteouts, type
//! replacements, hostile layers, verification failures, limits and config.json.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use common::*;
use hull_image::layer::Limits;
use hull_image::reference::Reference;
use hull_image::unpack::{unpack, Options};
use serde_json::json;

fn run(layout: &Path, tag: &str, bundle: &Path) -> hull_image::Result<hull_image::unpack::Report> {
    run_with(layout, tag, bundle, &Options::default())
}

fn run_with(
    layout: &Path,
    tag: &str,
    bundle: &Path,
    opts: &Options,
) -> hull_image::Result<hull_image::unpack::Report> {
    let r = Reference::parse(&format!("oci:{}:{tag}", layout.display())).unwrap();
    unpack(&r, bundle, opts)
}

/// security.capability for cap_net_bind_service+ep (VFS_CAP_REVISION_2).
fn net_bind_cap() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0x0200_0001u32.to_le_bytes()); // revision 2, effective
    v.extend_from_slice(&(1u32 << 10).to_le_bytes()); // permitted lo: CAP_NET_BIND_SERVICE
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable lo
    v.extend_from_slice(&0u32.to_le_bytes()); // permitted hi
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable hi
    v
}

#[test]
fn entry_types_and_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(
        &[
            dir("./").mode(0o755),
            dir("srv")
                .mode(0o750)
                .owner(1000, 1001)
                .mtime(1_500_000_000),
            file("srv/data", b"hello")
                .mode(0o640)
                .owner(1000, 1001)
                .xattr("user.note", b"kept"),
            file("usr/bin/su", b"#!setuid").mode(0o4755),
            file("usr/bin/ping", b"cap")
                .mode(0o755)
                .xattr("security.capability", &net_bind_cap()),
            symlink("usr/bin/link", "su").owner(5, 6),
            hardlink("usr/bin/su-hard", "usr/bin/su"),
            fifo("run/fifo").mode(0o620),
            chardev("dev/null", 1, 3),
            blockdev("dev/loop9", 7, 9),
        ],
        Compression::Gzip,
    );
    img.finish("t");
    let bundle = tmp.path().join("bundle");
    run(&img.dir, "t", &bundle).unwrap();
    let rootfs = bundle.join("rootfs");

    let srv = fs::metadata(rootfs.join("srv")).unwrap();
    assert_eq!(
        (srv.mode() & 0o7777, srv.uid(), srv.gid()),
        (0o750, 1000, 1001)
    );
    assert_eq!(
        srv.mtime(),
        1_500_000_000,
        "directory mtime survives the files written into it"
    );
    let data = fs::metadata(rootfs.join("srv/data")).unwrap();
    assert_eq!(
        (data.mode() & 0o7777, data.uid(), data.mtime()),
        (0o640, 1000, MTIME as i64)
    );
    assert_eq!(fs::read(rootfs.join("srv/data")).unwrap(), b"hello");
    assert_eq!(xattrs_of(&rootfs.join("srv/data"))["user.note"], b"kept");

    let su = fs::metadata(rootfs.join("usr/bin/su")).unwrap();
    assert_eq!(
        su.mode() & 0o7777,
        0o4755,
        "setuid bit kept (set after chown)"
    );
    assert_eq!(
        xattrs_of(&rootfs.join("usr/bin/ping"))["security.capability"],
        net_bind_cap()
    );
    let hard = fs::metadata(rootfs.join("usr/bin/su-hard")).unwrap();
    assert_eq!((hard.ino(), hard.nlink()), (su.ino(), 2));
    assert_eq!(
        fs::read_link(rootfs.join("usr/bin/link")).unwrap(),
        Path::new("su")
    );
    let link = fs::symlink_metadata(rootfs.join("usr/bin/link")).unwrap();
    assert_eq!((link.uid(), link.gid()), (5, 6));
    // Parents that the archive does not list are created 0755.
    assert_eq!(
        fs::metadata(rootfs.join("usr/bin")).unwrap().mode() & 0o7777,
        0o755
    );

    let fifo = fs::metadata(rootfs.join("run/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o620);
    let null = fs::metadata(rootfs.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    let lp = fs::metadata(rootfs.join("dev/loop9")).unwrap();
    assert!(lp.file_type().is_block_device());
    assert_eq!(lp.rdev(), rustix::fs::makedev(7, 9));

    // The bundle is private: other users cannot reach the setuid binary or devices.
    assert_eq!(fs::metadata(&bundle).unwrap().mode() & 0o777, 0o700);
}

#[test]
fn whiteouts_and_opaque_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(
        &[
            file("a/x", b"x"),
            file("a/y", b"y"),
            dir("a/gone"),
            file("a/gone/deep", b"d"),
            file("d/old", b"old"),
            dir("d/sub"),
            file("d/sub/old", b"old"),
            file("keep/file", b"k"),
        ],
        Compression::None,
    );
    img.layer(
        &[
            file("a/.wh.x", b""),
            file("a/.wh.gone", b""),
            file("a/.wh.never-existed", b""),
            // This layer's own entries come before the opaque marker: they must survive it.
            file("d/new", b"new"),
            file("d/sub/newer", b"n"),
            file("d/.wh..wh..opq", b""),
            file("d/.wh..wh.plnk", b""),
        ],
        Compression::Gzip,
    );
    img.finish("t");
    let bundle = tmp.path().join("b");
    run(&img.dir, "t", &bundle).unwrap();
    let snap = snapshot(&bundle.join("rootfs"));
    let names: Vec<&str> = snap.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "a",
            "a/y",
            "d",
            "d/new",
            "d/sub",
            "d/sub/newer",
            "keep",
            "keep/file"
        ],
        "whiteouts removed lower entries, opaque dir kept only this layer's"
    );
}

#[test]
fn types_replace_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(
        &[
            file("p", b"file"),
            dir("q"),
            file("q/inner", b"i"),
            symlink("s", "q"),
            file("f", b"f"),
        ],
        Compression::None,
    );
    img.layer(
        &[
            dir("p"),
            file("p/child", b"c"),
            file("q", b"now a file"),
            dir("s"),
            file("s/own", b"o"),
            symlink("f", "p"),
        ],
        Compression::Zstd,
    );
    img.finish("t");
    let bundle = tmp.path().join("b");
    run(&img.dir, "t", &bundle).unwrap();
    let r = bundle.join("rootfs");
    assert!(fs::symlink_metadata(r.join("p")).unwrap().is_dir());
    assert_eq!(fs::read(r.join("p/child")).unwrap(), b"c");
    assert_eq!(fs::read(r.join("q")).unwrap(), b"now a file");
    let s = fs::symlink_metadata(r.join("s")).unwrap();
    assert!(
        s.is_dir(),
        "a symlink replaced by a directory is a real directory"
    );
    assert_eq!(fs::read(r.join("s/own")).unwrap(), b"o");
    assert!(fs::symlink_metadata(r.join("f"))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// A directory outside the rootfs that hostile layers aim at; it must come out as it went in.
struct Target {
    dir: tempfile::TempDir,
}

impl Target {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("sentinel"), b"untouched").unwrap();
        Target { dir }
    }
    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }
    fn assert_untouched(&self) {
        let names: Vec<_> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            ["sentinel"],
            "nothing was created outside the rootfs"
        );
        assert_eq!(
            fs::read(self.dir.path().join("sentinel")).unwrap(),
            b"untouched"
        );
    }
}

#[test]
fn hostile_paths_stay_inside() {
    let outside = Target::new();
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    let out = outside.path();
    let sentinel = format!("{out}/sentinel");
    img.layer(
        &[
            file("../../../../escape-dotdot", b"1"),
            file(&format!("{out}/absolute"), b"2"),
            symlink("esc", &out),
            file("esc/through-symlink", b"3"),
            symlink("up", "../../../../../../../.."),
            symlink("sent", &sentinel),
            symlink("proc-root", "/proc/self/root"),
        ],
        Compression::None,
    );
    img.layer(
        &[
            // A symlink planted by an earlier layer.
            file("esc/next-layer", b"4"),
            dir("up/made-dir"),
            file("up/made-dir/f", b"5"),
            // A regular file over a symlink replaces the symlink, never writes through it.
            file("sent", b"overwritten?"),
            // A whiteout through a symlink must not delete outside.
            file("esc/.wh.sentinel", b""),
            // A hardlink to a symlink that points outside links the symlink itself.
            hardlink("hl-to-symlink", "esc"),
            // /proc/self/root in an image is just a path inside the rootfs.
            file("proc-root/etc/magic", b"6"),
        ],
        Compression::Gzip,
    );
    img.finish("t");
    let bundle = tmp.path().join("b");
    run(&img.dir, "t", &bundle).unwrap();
    outside.assert_untouched();
    let r = bundle.join("rootfs");
    let inner = r.join(out.trim_start_matches('/'));
    assert_eq!(fs::read(r.join("escape-dotdot")).unwrap(), b"1");
    assert_eq!(fs::read(inner.join("absolute")).unwrap(), b"2");
    assert_eq!(fs::read(inner.join("through-symlink")).unwrap(), b"3");
    assert_eq!(fs::read(inner.join("next-layer")).unwrap(), b"4");
    assert_eq!(fs::read(r.join("made-dir/f")).unwrap(), b"5");
    assert_eq!(fs::read(r.join("sent")).unwrap(), b"overwritten?");
    assert!(fs::symlink_metadata(r.join("hl-to-symlink"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(r.join("proc/self/root/etc/magic")).unwrap(), b"6");
}

#[test]
fn hostile_hardlinks_fail() {
    let outside = Target::new();
    let cases: Vec<(&str, Vec<Entry>)> = vec![
        (
            "hardlink up",
            vec![hardlink("pw", "../../../../../../etc/passwd")],
        ),
        (
            "hardlink through a symlink",
            vec![
                symlink("esc", &outside.path()),
                hardlink("pw", "esc/sentinel"),
            ],
        ),
        ("root replaced", vec![file("./", b"")]),
    ];
    for (what, entries) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let mut img = Layout::new(&tmp.path().join("img"));
        img.layer(&entries, Compression::None);
        img.finish("t");
        let bundle = tmp.path().join("b");
        let err = run(&img.dir, "t", &bundle).expect_err(what);
        assert!(
            !bundle.exists(),
            "{what}: a failed unpack leaves no bundle behind"
        );
        eprintln!("{what}: {err}");
        outside.assert_untouched();
    }
    // The host's /etc/passwd was not linked into any rootfs.
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), 1);
}

#[test]
fn verification_failures_name_the_blob() {
    let build = |tmp: &Path| {
        let mut img = Layout::new(&tmp.join("img"));
        let layer = img.layer(&[file("f", b"content")], Compression::Gzip);
        img.finish("t");
        (img, layer)
    };

    // A layer blob altered after the manifest was written.
    let tmp = tempfile::tempdir().unwrap();
    let (img, layer) = build(tmp.path());
    let path = img.blob_path(&layer);
    let mut data = fs::read(&path).unwrap();
    let n = data.len();
    data[n - 9] ^= 0xff; // inside the gzip trailer: decompression alone might not notice
    fs::write(&path, &data).unwrap();
    let bundle = tmp.path().join("b");
    let err = run(&img.dir, "t", &bundle).unwrap_err().to_string();
    assert!(err.contains(&layer), "error names the layer: {err}");
    assert!(!bundle.exists());

    // A truncated layer.
    let tmp = tempfile::tempdir().unwrap();
    let (img, layer) = build(tmp.path());
    let path = img.blob_path(&layer);
    let data = fs::read(&path).unwrap();
    fs::write(&path, &data[..data.len() - 4]).unwrap();
    let err = run(&img.dir, "t", &tmp.path().join("b"))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&layer), "{err}");

    // A config whose DiffID does not match the layer's content.
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(&[file("f", b"content")], Compression::Gzip);
    let mut config = img.config_json("amd64");
    let wrong = sha256(b"other");
    config["rootfs"]["diff_ids"] = json!([wrong]);
    let m = img.manifest_with_config(&serde_json::to_vec(&config).unwrap());
    img.tag(m, "t");
    let err = run(&img.dir, "t", &tmp.path().join("b"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("DiffID") && err.contains(&wrong), "{err}");

    // A config or manifest altered after being referenced.
    for victim in ["config", "manifest"] {
        let tmp = tempfile::tempdir().unwrap();
        let (img, _) = build(tmp.path());
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(img.dir.join("index.json")).unwrap()).unwrap();
        let mdigest = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let digest = if victim == "manifest" {
            mdigest
        } else {
            let m: serde_json::Value =
                serde_json::from_slice(&fs::read(img.blob_path(&mdigest)).unwrap()).unwrap();
            m["config"]["digest"].as_str().unwrap().to_string()
        };
        let path = img.blob_path(&digest);
        let text = String::from_utf8(fs::read(&path).unwrap()).unwrap();
        fs::write(
            &path,
            text.replacen("\"schemaVersion\":2", "\"schemaVersion\":3", 1)
                .replacen("amd64", "arm64", 1),
        )
        .unwrap();
        let err = run(&img.dir, "t", &tmp.path().join("b"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&digest), "{victim}: {err}");
    }

    // sha512 digests verify too.
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.sha512 = true;
    img.layer(&[file("f", b"512")], Compression::Zstd);
    img.finish("t");
    run(&img.dir, "t", &tmp.path().join("b")).unwrap();
    assert_eq!(fs::read(tmp.path().join("b/rootfs/f")).unwrap(), b"512");
}

#[test]
fn compression_bombs_hit_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    let zeros = vec![0u8; 8 << 20];
    let digest = img.layer(&[file("bomb", &zeros)], Compression::Gzip);
    img.finish("t");
    assert!(fs::metadata(img.blob_path(&digest)).unwrap().len() < 100 << 10);
    let opts = Options {
        limits: Limits {
            max_bytes: 1 << 20,
            max_entries: 100,
        },
        ..Options::default()
    };
    let bundle = tmp.path().join("b");
    let err = run_with(&img.dir, "t", &bundle, &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--max-size"), "{err}");
    assert!(!bundle.exists());

    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    let many: Vec<Entry> = (0..200).map(|i| file(&format!("f{i}"), b"")).collect();
    img.layer(&many, Compression::Gzip);
    img.finish("t");
    let err = run_with(&img.dir, "t", &tmp.path().join("b"), &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--max-entries"), "{err}");
}

#[test]
fn compressions_and_docker_media_types() {
    let entries = [
        dir("etc"),
        file("etc/hostname", b"box"),
        symlink("l", "etc"),
    ];
    let mut snaps = Vec::new();
    for (docker, c) in [
        (false, Compression::None),
        (false, Compression::Gzip),
        (false, Compression::Zstd),
        (true, Compression::Gzip),
        (true, Compression::None),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut img = Layout::new(&tmp.path().join("img"));
        img.docker_types = docker;
        img.layer(&entries, c);
        img.finish("t");
        run(&img.dir, "t", &tmp.path().join("b")).unwrap();
        snaps.push(snapshot(&tmp.path().join("b/rootfs")));
    }
    assert_eq!(snaps[0].len(), 3);
    assert!(snaps.iter().all(|s| s == &snaps[0]));
}

#[test]
fn config_json_from_the_image() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(&busybox_entries(), Compression::Gzip);
    img.run_config = json!({
        "User": "app", "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["id -u; id -G; pwd; echo $GREETING"],
        "Env": ["GREETING=hello", "PATH=/bin"], "WorkingDir": "/tmp",
        "Labels": {"org.opencontainers.image.os": "from-label", "team": "hull"},
        "Volumes": {"/data": {}}, "StopSignal": "SIGTERM",
    });
    img.finish("t");
    let bundle = tmp.path().join("b");
    run(&img.dir, "t", &bundle).unwrap();
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        spec["process"]["user"],
        json!({"uid": 1000, "gid": 1000, "additionalGids": [50]})
    );
    assert_eq!(
        spec["process"]["args"],
        json!(["/bin/sh", "-c", "id -u; id -G; pwd; echo $GREETING"])
    );
    assert_eq!(spec["process"]["cwd"], "/tmp");
    assert_eq!(
        spec["process"]["env"],
        json!(["PATH=/bin", "TERM=xterm", "GREETING=hello"])
    );
    assert_eq!(
        spec["annotations"]["org.opencontainers.image.os"],
        "from-label"
    );
    assert_eq!(
        spec["annotations"]["org.opencontainers.image.architecture"],
        "amd64"
    );
    assert_eq!(
        spec["annotations"]["org.opencontainers.image.stopSignal"],
        "SIGTERM"
    );
    assert_eq!(spec["annotations"]["team"], "hull");
    assert!(bundle.join("volumes/data").is_dir());
    let _: oci_spec::runtime::Spec = serde_json::from_value(spec.clone()).unwrap();

    // runc runs it as it is.
    let (ok, stdout, stderr) = runc_run(&bundle, &unique("hull-image-cfg"));
    assert!(ok, "runc run failed: {stderr}");
    assert_eq!(stdout, "1000\n1000 50\n/tmp\nhello\n");

    // An unknown user is an error, and leaves no bundle.
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(&busybox_entries(), Compression::Gzip);
    img.run_config = json!({"User": "nobody-here"});
    img.finish("t");
    let bundle = tmp.path().join("b");
    let err = run(&img.dir, "t", &bundle).unwrap_err().to_string();
    assert!(err.contains("nobody-here"), "{err}");
    assert!(!bundle.exists());
}

#[test]
fn bundle_must_be_new_or_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(&[file("f", b"")], Compression::None);
    img.finish("t");
    let bundle = tmp.path().join("b");
    fs::create_dir(&bundle).unwrap();
    fs::write(bundle.join("precious"), b"x").unwrap();
    assert!(run(&img.dir, "t", &bundle)
        .unwrap_err()
        .to_string()
        .contains("not empty"));
    assert_eq!(fs::read(bundle.join("precious")).unwrap(), b"x");
    // An empty existing directory is fine, and becomes private.
    let empty = tmp.path().join("e");
    fs::create_dir(&empty).unwrap();
    run(&img.dir, "t", &empty).unwrap();
    assert_eq!(fs::metadata(&empty).unwrap().mode() & 0o777, 0o700);
}

#[test]
fn empty_numeric_header_fields_read_as_zero() {
    // Writers that leave uid/gid/mtime unset (all NUL) produce layers Go's tar and umoci
    // accept.
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..4].copy_from_slice(b"file");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(2);
    h.as_old_mut().uid = [0; 8];
    h.as_old_mut().gid = [0; 8];
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"ok"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.raw_layer(&tar, Compression::None);
    img.finish("t");
    run(&img.dir, "t", &tmp.path().join("b")).unwrap();
    let md = fs::metadata(tmp.path().join("b/rootfs/file")).unwrap();
    assert_eq!((md.uid(), md.gid(), md.len()), (0, 0, 2));
}
