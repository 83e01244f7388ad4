//! Test images built from scratch: layers written entry by entry with the tar crate
//! (hostile names included, which tar's own path setters refuse), stored as OCI layouts.

#![allow(dead_code)]

pub mod registry;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256, Sha512};

#[derive(Clone, Debug)]
pub enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

pub const MTIME: u64 = 1_600_000_000;

fn entry(path: &str, kind: Kind, mode: u32) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: MTIME,
        xattrs: vec![],
    }
}

pub fn file(path: &str, data: &[u8]) -> Entry {
    entry(path, Kind::File(data.to_vec()), 0o644)
}
pub fn dir(path: &str) -> Entry {
    entry(path, Kind::Dir, 0o755)
}
pub fn symlink(path: &str, target: &str) -> Entry {
    entry(path, Kind::Symlink(target.into()), 0o777)
}
pub fn hardlink(path: &str, target: &str) -> Entry {
    entry(path, Kind::Hardlink(target.into()), 0o644)
}
pub fn chardev(path: &str, major: u32, minor: u32) -> Entry {
    entry(path, Kind::Char(major, minor), 0o666)
}
pub fn blockdev(path: &str, major: u32, minor: u32) -> Entry {
    entry(path, Kind::Block(major, minor), 0o660)
}
pub fn fifo(path: &str) -> Entry {
    entry(path, Kind::Fifo, 0o600)
}

impl Entry {
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mtime(mut self, mtime: u64) -> Self {
        self.mtime = mtime;
        self
    }
    pub fn xattr(mut self, name: &str, value: &[u8]) -> Self {
        self.xattrs.push((name.into(), value.to_vec()));
        self
    }
}

/// A tar stream of the entries, names written raw into the header.
pub fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        if !e.xattrs.is_empty() {
            let exts: Vec<(String, Vec<u8>)> = e
                .xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.clone()))
                .collect();
            b.append_pax_extensions(exts.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .unwrap();
        }
        let mut h = tar::Header::new_ustar();
        let (etype, data): (tar::EntryType, &[u8]) = match &e.kind {
            Kind::File(d) => (tar::EntryType::Regular, d),
            Kind::Dir => (tar::EntryType::Directory, &[]),
            Kind::Symlink(_) => (tar::EntryType::Symlink, &[]),
            Kind::Hardlink(_) => (tar::EntryType::Link, &[]),
            Kind::Char(..) => (tar::EntryType::Char, &[]),
            Kind::Block(..) => (tar::EntryType::Block, &[]),
            Kind::Fifo => (tar::EntryType::Fifo, &[]),
        };
        h.set_entry_type(etype);
        assert!(e.path.len() < 100, "test names fit the header");
        h.as_old_mut().name[..e.path.len()].copy_from_slice(e.path.as_bytes());
        if let Kind::Symlink(t) | Kind::Hardlink(t) = &e.kind {
            h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        if let Kind::Char(ma, mi) | Kind::Block(ma, mi) = e.kind {
            h.set_device_major(ma).unwrap();
            h.set_device_minor(mi).unwrap();
        }
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(data, 1).unwrap(),
    }
}

/// Deterministic bytes gzip cannot shrink: big layers, for downloads to interrupt.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub fn sha512(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(data)))
}

/// An OCI image layout under construction.
pub struct Layout {
    pub dir: PathBuf,
    pub sha512: bool,
    layers: Vec<(Value, String)>,
    pub run_config: Value,
    pub docker_types: bool,
    index: Vec<Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Self {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::create_dir_all(dir.join("blobs/sha512")).unwrap();
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_path_buf(),
            sha512: false,
            layers: vec![],
            run_config: json!({}),
            docker_types: false,
            index: vec![],
        }
    }

    pub fn blob(&self, data: &[u8]) -> (String, u64) {
        let digest = if self.sha512 {
            sha512(data)
        } else {
            sha256(data)
        };
        let (algo, hex) = digest.split_once(':').unwrap();
        fs::write(self.dir.join("blobs").join(algo).join(hex), data).unwrap();
        (digest, data.len() as u64)
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (algo, hex) = digest.split_once(':').unwrap();
        self.dir.join("blobs").join(algo).join(hex)
    }

    /// Adds a layer; returns its blob digest.
    pub fn layer(&mut self, entries: &[Entry], c: Compression) -> String {
        let tar = layer_tar(entries);
        self.raw_layer(&tar, c)
    }

    pub fn raw_layer(&mut self, tar: &[u8], c: Compression) -> String {
        let blob = compress(tar, c);
        let (digest, size) = self.blob(&blob);
        let media = match (self.docker_types, c) {
            (true, Compression::Gzip) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            (true, _) => "application/vnd.docker.image.rootfs.diff.tar",
            (false, Compression::None) => "application/vnd.oci.image.layer.v1.tar",
            (false, Compression::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
            (false, Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
        };
        let desc = json!({"mediaType": media, "digest": digest, "size": size});
        let diff_id = if self.sha512 {
            sha512(tar)
        } else {
            sha256(tar)
        };
        self.layers.push((desc, diff_id));
        digest
    }

    pub fn config_json(&self, arch: &str) -> Value {
        json!({
            "architecture": arch, "os": "linux", "created": "2020-09-13T12:26:40Z",
            "config": self.run_config,
            "rootfs": {"type": "layers", "diff_ids": self.layers.iter().map(|l| l.1.clone()).collect::<Vec<_>>()},
        })
    }

    /// Writes config and manifest; returns the manifest descriptor.
    pub fn manifest(&self, arch: &str) -> Value {
        self.manifest_with_config(&serde_json::to_vec(&self.config_json(arch)).unwrap())
    }

    pub fn manifest_with_config(&self, config: &[u8]) -> Value {
        let (cdigest, csize) = self.blob(config);
        let (mt, ct) = if self.docker_types {
            (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
            )
        } else {
            (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
            )
        };
        let manifest = json!({
            "schemaVersion": 2, "mediaType": mt,
            "config": {"mediaType": ct, "digest": cdigest, "size": csize},
            "layers": self.layers.iter().map(|l| l.0.clone()).collect::<Vec<_>>(),
        });
        let (digest, size) = self.blob(&serde_json::to_vec(&manifest).unwrap());
        json!({"mediaType": mt, "digest": digest, "size": size})
    }

    /// Adds a descriptor to index.json under a tag.
    pub fn tag(&mut self, mut desc: Value, tag: &str) {
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.index.push(desc);
        self.write_index();
    }

    pub fn write_index(&self) {
        let index = json!({"schemaVersion": 2, "manifests": self.index});
        fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }

    /// Layers, config, manifest and tag in one go.
    pub fn finish(&mut self, tag: &str) -> String {
        let m = self.manifest("amd64");
        let digest = m["digest"].as_str().unwrap().to_string();
        self.tag(m, tag);
        digest
    }
}

pub fn hull_image() -> &'static str {
    env!("CARGO_BIN_EXE_hull-image")
}

/// A recursive description of a tree: what the differential test compares.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Node {
    pub kind: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub content: String,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

pub fn xattrs_of(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; 65536];
    let n = rustix::fs::llistxattr(path, &mut names[..]).unwrap_or(0);
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let mut value = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::lgetxattr(path, name.as_str(), &mut value[..]) {
            value.truncate(len);
            out.insert(name, value);
        }
    }
    out
}

pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let md = fs::symlink_metadata(&path).unwrap();
        let ft = md.file_type();
        let (kind, content) = if ft.is_dir() {
            ("dir", String::new())
        } else if ft.is_symlink() {
            (
                "symlink",
                fs::read_link(&path).unwrap().display().to_string(),
            )
        } else if ft.is_file() {
            ("file", sha256(&fs::read(&path).unwrap()))
        } else if ft.is_char_device() {
            ("char", format!("{:x}", md.rdev()))
        } else if ft.is_block_device() {
            ("block", format!("{:x}", md.rdev()))
        } else {
            ("fifo", String::new())
        };
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        out.insert(
            rel,
            Node {
                kind: kind.into(),
                mode: if ft.is_symlink() {
                    0
                } else {
                    md.mode() & 0o7777
                },
                uid: md.uid(),
                gid: md.gid(),
                content,
                xattrs: xattrs_of(&path),
            },
        );
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}

/// Runs a bundle with `runtime` (private state root, unique id) and returns its output.
fn run_with(runtime: &Path, bundle: &Path, id: &str) -> (bool, String, String) {
    let state = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(runtime)
        .arg("--root")
        .arg(state.path())
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", runtime.display()));
    // `run` deletes the container when it exits; make sure nothing is left either way.
    let _ = std::process::Command::new(runtime)
        .arg("--root")
        .arg(state.path())
        .args(["delete", "-f", id])
        .output();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a bundle with runc and, when the workspace's hull is built, with hull too: both must
/// succeed with the same output. Returns runc's result.
pub fn runc_run(bundle: &Path, id: &str) -> (bool, String, String) {
    let runc = run_with(Path::new("runc"), bundle, id);
    let hull = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/hull");
    if hull.exists() {
        let ours = run_with(&hull, bundle, &format!("{id}-hull"));
        assert_eq!(
            (ours.0, &ours.1),
            (runc.0, &runc.1),
            "hull and runc disagree on {}: {}",
            bundle.display(),
            ours.2
        );
    }
    runc
}

/// A busybox rootfs as layer entries (from the host's static busybox).
pub fn busybox_entries() -> Vec<Entry> {
    let busybox = fs::read("/bin/busybox").expect("busybox-static is installed");
    vec![
        dir("bin"),
        file("bin/busybox", &busybox).mode(0o755),
        symlink("bin/sh", "busybox"),
        dir("etc"),
        file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        ),
        file("etc/group", b"root:x:0:\napp:x:1000:\nstaff:x:50:app\n"),
    ]
}

pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}
