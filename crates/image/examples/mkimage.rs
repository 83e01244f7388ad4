//! Writes a synthetic multi-layer OCI image for benchmarks:
//! `mkimage DIR LAYERS FILES TOTAL_MB` (gzip layers, tag "bench").
//! File contents are half random, half repeated, so gzip has work to do both ways.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn put_blob(dir: &Path, data: &[u8]) -> (String, usize) {
    let d = sha256(data);
    fs::write(dir.join("blobs/sha256").join(&d[7..]), data).unwrap();
    (d, data.len())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: mkimage DIR LAYERS FILES TOTAL_MB");
        std::process::exit(2);
    }
    let dir = Path::new(&args[1]);
    let layers: usize = args[2].parse().unwrap();
    let files: usize = args[3].parse().unwrap();
    let total = args[4].parse::<usize>().unwrap() << 20;
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();

    let per_file = total / files;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut descs = vec![];
    let mut diff_ids = vec![];
    for l in 0..layers {
        let mut tar = tar::Builder::new(Vec::new());
        let n = files / layers;
        for i in 0..n {
            let mut data = vec![0u8; per_file];
            for chunk in data[..per_file / 2].chunks_mut(8) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let b = rng.to_le_bytes();
                chunk.copy_from_slice(&b[..chunk.len()]);
            }
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_600_000_000);
            h.set_uid(0);
            h.set_gid(0);
            h.set_entry_type(tar::EntryType::Regular);
            let path = format!("layer{l}/dir{:03}/file{i:06}", i % 200);
            tar.append_data(&mut h, path, data.as_slice()).unwrap();
        }
        let raw = tar.into_inner().unwrap();
        diff_ids.push(sha256(&raw));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let (digest, size) = put_blob(dir, &gz.finish().unwrap());
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}));
    }
    let config = json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let (cd, cs) = put_blob(dir, &serde_json::to_vec(&config).unwrap());
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": descs});
    let (md, ms) = put_blob(dir, &serde_json::to_vec(&manifest).unwrap());
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "bench"}}]});
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}
