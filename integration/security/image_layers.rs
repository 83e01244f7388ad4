//! Image layers that try to escape the rootfs, unpacked by hull-image: entries named with
//! `../` and absolute paths, an absolute symlink followed by writes through it (in the same
//! layer and the next), a symlink climbing out with `..`, and hardlinks to files outside. The
//! layers are built here, entry by entry (names a well-behaved tar writer refuses included),
//! into an OCI layout next to a host directory they aim at.
//!
//! crates/image resolves every parent inside the tree (openat2 RESOLVE_IN_ROOT) and creates
//! the last component with O_EXCL|O_NOFOLLOW; a hardlink must name a file inside the tree.
//! So the escaping writes land inside the rootfs, and the hardlinks fail the unpack (with no
//! bundle left behind).
//!
//! umoci 0.4.7 (the reference unpacker here) on the same layouts: also keeps the writes
//! inside and fails on the outside hardlinks ("link: no such file or directory"), leaving the
//! partial bundle directory behind.

use std::path::{Path, PathBuf};

use hull_integration::*;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::common::snapshot;

enum Kind<'a> {
    File(&'a [u8]),
    Dir,
    Symlink(&'a str),
    Hardlink(&'a str),
}

/// One ustar header + data, with the name written raw (`..` and leading `/` kept).
fn tar_entry(out: &mut Vec<u8>, name: &str, kind: Kind) {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, len: usize, v: &[u8]| {
        assert!(v.len() <= len, "{name}: field too long");
        h[at..at + v.len()].copy_from_slice(v);
    };
    let octal = |n: u64, width: usize| format!("{n:0w$o}\0", w = width - 1).into_bytes();
    let (flag, mode, data, link): (u8, u64, &[u8], &str) = match kind {
        Kind::File(d) => (b'0', 0o644, d, ""),
        Kind::Dir => (b'5', 0o755, &[], ""),
        Kind::Symlink(t) => (b'2', 0o777, &[], t),
        Kind::Hardlink(t) => (b'1', 0o644, &[], t),
    };
    put(&mut h, 0, 100, name.as_bytes());
    put(&mut h, 100, 8, &octal(mode, 8));
    put(&mut h, 108, 8, &octal(0, 8));
    put(&mut h, 116, 8, &octal(0, 8));
    put(&mut h, 124, 12, &octal(data.len() as u64, 12));
    put(&mut h, 136, 12, &octal(1_600_000_000, 12));
    h[148..156].fill(b' ');
    h[156] = flag;
    put(&mut h, 157, 100, link.as_bytes());
    put(&mut h, 257, 8, b"ustar\x0000");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn layer(entries: Vec<(&str, Kind)>) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, kind) in entries {
        tar_entry(&mut tar, name, kind);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

/// Writes an OCI layout with these (uncompressed) layers, tagged `t`.
fn oci_layout(dir: &Path, layers: &[Vec<u8>]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let blob = |data: &[u8]| {
        let hex: String = Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(blobs.join(&hex), data).unwrap();
        (format!("sha256:{hex}"), data.len())
    };
    let descs: Vec<_> = layers.iter().map(|l| blob(l)).collect();
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": descs.iter().map(|d| d.0.clone()).collect::<Vec<_>>()},
    });
    let (cdigest, csize) = blob(&serde_json::to_vec(&config).unwrap());
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
        "layers": descs.iter().map(|(d, s)| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s})).collect::<Vec<_>>(),
    });
    let (mdigest, msize) = blob(&serde_json::to_vec(&manifest).unwrap());
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": msize,
        "annotations": {"org.opencontainers.image.ref.name": "t"}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// The hull-image binary next to hull (built by `cargo build --workspace`).
fn hull_image_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HULL_IMAGE_BIN") {
        return PathBuf::from(p);
    }
    hull_bin().with_file_name("hull-image")
}

fn unpack(image: &Path, bundle: &Path) -> std::process::Output {
    std::process::Command::new(hull_image_bin())
        .arg("unpack")
        .arg("-q")
        .arg(format!("oci:{}:t", image.display()))
        .arg(bundle)
        .output()
        .expect("run hull-image (cargo build --workspace builds it)")
}

/// A host directory the layers aim at, with one file in it.
fn target() -> (TempDir, String) {
    let dir = TempDir::new("hull-sec-layer-target");
    std::fs::write(dir.path().join("sentinel"), b"host").unwrap();
    let path = dir.path().display().to_string();
    (dir, path)
}

#[test]
fn escaping_writes_land_inside_the_rootfs() {
    let (outside, out) = target();
    let work = TempDir::new("hull-sec-image");
    let dotdot = format!("{}escape-dotdot", "../".repeat(12));
    let absolute = format!("{out}/absolute");
    let up = "../".repeat(12);
    let l1 = layer(vec![
        (dotdot.as_str(), Kind::File(b"1")),
        (absolute.as_str(), Kind::File(b"2")),
        ("esc", Kind::Symlink(&out)),
        ("esc/through-symlink", Kind::File(b"3")),
        ("up", Kind::Symlink(&up)),
        ("up/made-dir", Kind::Dir),
        ("up/made-dir/f", Kind::File(b"4")),
    ]);
    let l2 = layer(vec![
        // Through the symlink an earlier layer planted.
        ("esc/next-layer", Kind::File(b"5")),
        // Through it again, onto the name of the host's file.
        ("esc/sentinel", Kind::File(b"overwritten?")),
    ]);
    oci_layout(&work.path().join("img"), &[l1, l2]);
    let before = snapshot(outside.path());
    let parent_before = snapshot(work.path());
    let bundle = work.path().join("bundle");
    let result = unpack(&work.path().join("img"), &bundle);
    assert!(result.status.success(), "{}", stderr(&result));
    assert_eq!(
        snapshot(outside.path()),
        before,
        "the host directory changed"
    );
    // Next to the bundle, only the bundle is new.
    let mut after = snapshot(work.path());
    after.retain(|p, _| !p.starts_with("bundle"));
    assert_eq!(after, parent_before);
    // Everything landed inside the rootfs.
    let r = bundle.join("rootfs");
    let inner = r.join(out.trim_start_matches('/'));
    assert_eq!(std::fs::read(r.join("escape-dotdot")).unwrap(), b"1");
    assert_eq!(std::fs::read(inner.join("absolute")).unwrap(), b"2");
    assert_eq!(std::fs::read(inner.join("through-symlink")).unwrap(), b"3");
    assert_eq!(std::fs::read(r.join("made-dir/f")).unwrap(), b"4");
    assert_eq!(std::fs::read(inner.join("next-layer")).unwrap(), b"5");
    assert_eq!(
        std::fs::read(inner.join("sentinel")).unwrap(),
        b"overwritten?"
    );
}

#[test]
fn hardlinks_to_outside_fail_the_unpack() {
    let (outside, out) = target();
    let sentinel = format!(
        "{}{}/sentinel",
        "../".repeat(12),
        out.trim_start_matches('/')
    );
    let cases = [
        ("hardlink up", vec![("pw", Kind::Hardlink(&sentinel))]),
        (
            "hardlink through a symlink",
            vec![
                ("esc", Kind::Symlink(&out)),
                ("pw", Kind::Hardlink("esc/sentinel")),
            ],
        ),
    ];
    let before = snapshot(outside.path());
    for (what, entries) in cases {
        let work = TempDir::new("hull-sec-image");
        oci_layout(&work.path().join("img"), &[layer(entries)]);
        let bundle = work.path().join("bundle");
        let result = unpack(&work.path().join("img"), &bundle);
        assert!(!result.status.success(), "{what}: unpacked");
        assert!(!bundle.exists(), "{what}: a failed unpack left a bundle");
        assert_eq!(
            snapshot(outside.path()),
            before,
            "{what}: the host directory changed"
        );
        // The link count of the host file says no hardlink to it was made anywhere.
        let nlink = std::os::unix::fs::MetadataExt::nlink(
            &std::fs::metadata(outside.path().join("sentinel")).unwrap(),
        );
        assert_eq!(nlink, 1, "{what}: the host file got a hardlink");
    }
}
