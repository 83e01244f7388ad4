//! Image sources: tags and digests, nested multi-platform indexes, oci-archive and both
//! docker-archive formats.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use hull_image::image::Platform;
use hull_image::reference::Reference;
use hull_image::unpack::{unpack, Options};
use serde_json::json;

fn unpack_ref(reference: &str, bundle: &Path, platform: Option<&str>) -> hull_image::Result<()> {
    let opts = Options {
        platform: platform.map_or_else(Platform::host, |p| Platform::parse(p).unwrap()),
        ..Options::default()
    };
    unpack(&Reference::parse(reference).unwrap(), bundle, &opts).map(|_| ())
}

/// A layout with one image per platform, under an image index, under index.json.
fn multi_platform(dir: &Path) -> Layout {
    let mut img = Layout::new(dir);
    let mut descs = vec![];
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8")), ("arm", Some("v7"))] {
        let mut one = Layout::new(dir);
        one.layer(&[file("arch", arch.as_bytes())], Compression::Gzip);
        let mut d = one.manifest(arch);
        d["platform"] = json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            d["platform"]["variant"] = json!(v);
        }
        descs.push(d);
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs});
    let (digest, size) = img.blob(&serde_json::to_vec(&index).unwrap());
    img.tag(json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size}), "multi");
    img
}

#[test]
fn platforms_are_picked_from_nested_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let img = multi_platform(&tmp.path().join("img"));
    let r = format!("oci:{}:multi", img.dir.display());
    let host = Platform::host();
    let b = tmp.path().join("host");
    unpack_ref(&r, &b, None).unwrap();
    assert_eq!(
        fs::read_to_string(b.join("rootfs/arch")).unwrap(),
        host.architecture
    );
    for (p, want) in [("linux/arm64", "arm64"), ("linux/arm/v7", "arm")] {
        let b = tmp.path().join(want);
        unpack_ref(&r, &b, Some(p)).unwrap();
        assert_eq!(fs::read_to_string(b.join("rootfs/arch")).unwrap(), want);
        let cfg: serde_json::Value =
            serde_json::from_slice(&fs::read(b.join("config.json")).unwrap()).unwrap();
        assert_eq!(
            cfg["annotations"]["org.opencontainers.image.architecture"],
            want
        );
    }
    let err = unpack_ref(&r, &tmp.path().join("x"), Some("linux/s390x"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("linux/s390x") && err.contains("linux/arm64"),
        "{err}"
    );
    let err = unpack_ref(&r, &tmp.path().join("y"), Some("linux/arm/v6"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("linux/arm/v6"), "{err}");
}

#[test]
fn tags_and_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(&[file("which", b"one")], Compression::None);
    let one = img.finish("one");
    let mut img2 = Layout::new(&tmp.path().join("img"));
    img2.layer(&[file("which", b"two")], Compression::None);
    let m = img2.manifest("amd64");
    let two = m["digest"].as_str().unwrap().to_string();
    img.tag(m, "two");
    let d = img.dir.display();
    for (i, (r, want)) in [
        (format!("oci:{d}:one"), "one"),
        (format!("oci:{d}:two"), "two"),
        (format!("oci:{d}@{one}"), "one"),
        (format!("oci:{d}@{two}"), "two"),
    ]
    .into_iter()
    .enumerate()
    {
        let b = tmp.path().join(format!("b-{i}"));
        unpack_ref(&r, &b, None).unwrap();
        assert_eq!(
            fs::read(b.join("rootfs/which")).unwrap(),
            want.as_bytes(),
            "{r}"
        );
    }
    let err = unpack_ref(&format!("oci:{d}"), &tmp.path().join("n"), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("one") && err.contains("two"),
        "asks for a tag: {err}"
    );
    let err = unpack_ref(&format!("oci:{d}:three"), &tmp.path().join("n"), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("three"), "{err}");
}

/// Writes a tar holding `files` (name, bytes).
fn write_tar(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut b = tar::Builder::new(fs::File::create(path).unwrap());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

fn layout_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    for sub in ["oci-layout", "index.json"] {
        out.push((sub.to_string(), fs::read(dir.join(sub)).unwrap()));
    }
    for algo in ["sha256", "sha512"] {
        for e in fs::read_dir(dir.join("blobs").join(algo)).unwrap() {
            let e = e.unwrap();
            out.push((
                format!("blobs/{algo}/{}", e.file_name().to_string_lossy()),
                fs::read(e.path()).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn oci_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(
        &[file("from", b"oci-archive"), symlink("l", "from")],
        Compression::Gzip,
    );
    img.finish("v1");
    let tar = tmp.path().join("img.tar");
    write_tar(&tar, &layout_files(&img.dir));
    let b = tmp.path().join("b");
    unpack_ref(&format!("oci-archive:{}:v1", tar.display()), &b, None).unwrap();
    assert_eq!(fs::read(b.join("rootfs/l")).unwrap(), b"oci-archive");
    let b = tmp.path().join("b2");
    unpack_ref(&format!("oci-archive:{}", tar.display()), &b, None).unwrap();
    assert_eq!(fs::read(b.join("rootfs/from")).unwrap(), b"oci-archive");
}

#[test]
fn docker_archive_legacy_and_oci_inside() {
    let tmp = tempfile::tempdir().unwrap();
    let l1 = layer_tar(&[dir("etc"), file("etc/os", b"legacy")]);
    let l2 = layer_tar(&[file("etc/.wh.os", b""), file("etc/second", b"2")]);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": null, "Cmd": ["/bin/true"], "Labels": null},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&l1), sha256(&l2)]},
    }))
    .unwrap();
    let config_hex = sha256(&config)[7..].to_string();

    // Legacy `docker save`: <id>/layer.tar, <config hex>.json, manifest.json.
    let manifest = json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": ["example.com/app:1", "busybox:latest"],
        "Layers": ["aaa/layer.tar", "bbb/layer.tar"],
    }]);
    let legacy = tmp.path().join("legacy.tar");
    write_tar(
        &legacy,
        &[
            ("aaa/layer.tar".into(), l1.clone()),
            ("bbb/layer.tar".into(), compress(&l2, Compression::Gzip)),
            (format!("{config_hex}.json"), config.clone()),
            (
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
            ),
        ],
    );
    for (r, name) in [
        (format!("docker-archive:{}", legacy.display()), "a"),
        (
            format!("docker-archive:{}:example.com/app:1", legacy.display()),
            "b",
        ),
        (
            format!(
                "docker-archive:{}:docker.io/library/busybox:latest",
                legacy.display()
            ),
            "c",
        ),
    ] {
        let b = tmp.path().join(name);
        unpack_ref(&r, &b, None).unwrap();
        let names: Vec<String> = snapshot(&b.join("rootfs")).into_keys().collect();
        assert_eq!(names, ["etc", "etc/second"], "{r}");
        let cfg: serde_json::Value =
            serde_json::from_slice(&fs::read(b.join("config.json")).unwrap()).unwrap();
        assert_eq!(cfg["process"]["args"], json!(["/bin/true"]));
    }
    let err = unpack_ref(
        &format!("docker-archive:{}:other:1", legacy.display()),
        &tmp.path().join("x"),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("other:1"), "{err}");

    // A tampered legacy layer fails its DiffID.
    let bad = tmp.path().join("bad.tar");
    let mut l1_bad = l1.clone();
    let pos = l1_bad.windows(6).position(|w| w == b"legacy").unwrap();
    l1_bad[pos] = b'L';
    write_tar(
        &bad,
        &[
            ("aaa/layer.tar".into(), l1_bad),
            ("bbb/layer.tar".into(), l2.clone()),
            (format!("{config_hex}.json"), config.clone()),
            (
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
            ),
        ],
    );
    let err = unpack_ref(
        &format!("docker-archive:{}", bad.display()),
        &tmp.path().join("bad"),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("aaa/layer.tar") && err.contains("DiffID"),
        "{err}"
    );

    // Docker 25+: an OCI layout inside the tar, plus manifest.json naming blobs.
    let mut img = Layout::new(&tmp.path().join("oci"));
    img.raw_layer(&l1, Compression::None);
    img.raw_layer(&l2, Compression::None);
    let m = img.manifest_with_config(&config);
    img.tag(m, "1");
    let manifest = json!([{
        "Config": format!("blobs/sha256/{config_hex}"),
        "RepoTags": ["example.com/app:1"],
        "Layers": [format!("blobs/{}", sha256(&l1).replace(':', "/")), format!("blobs/{}", sha256(&l2).replace(':', "/"))],
    }]);
    let mut files = layout_files(&img.dir);
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    let newer = tmp.path().join("newer.tar");
    write_tar(&newer, &files);
    let b = tmp.path().join("newer");
    unpack_ref(
        &format!("docker-archive:{}:example.com/app:1", newer.display()),
        &b,
        None,
    )
    .unwrap();
    let names: Vec<String> = snapshot(&b.join("rootfs")).into_keys().collect();
    assert_eq!(names, ["etc", "etc/second"]);
}
