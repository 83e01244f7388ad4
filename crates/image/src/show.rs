//! `inspect` (an image: manifest, config, layers) and `ls` (what the store holds and who
//! uses it), as text for people or JSON for scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::{json, Value};

use crate::error::Result;
use crate::image::{parse_json, Platform};
use crate::reference::Reference;
use crate::resolve;
use crate::store::Store;

/// Sizes as people read them (1000-based, as registries and podman print them).
pub fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Everything `inspect` knows about an image, as JSON.
pub fn inspect_json(
    reference: &Reference,
    platform: &Platform,
    registry: &crate::registry::Options,
) -> Result<Value> {
    let image = resolve::open(reference, platform, registry)?;
    let config: Value = parse_json(&image.config_raw, || "config".into())?;
    let manifest: Option<Value> = match &image.manifest_raw {
        Some(m) => Some(parse_json(m, || "manifest".into())?),
        None => None,
    };
    let layers: Vec<Value> = image
        .layers
        .iter()
        .map(|l| {
            json!({
                "digest": l.digest.as_ref().map(ToString::to_string),
                "size": l.size,
                "mediaType": l.media_type,
                "diffID": l.diff_id.to_string(),
            })
        })
        .collect();
    Ok(json!({
        "name": crate::unpack::reference_name(reference),
        "manifestDigest": image.manifest_digest.as_ref().map(ToString::to_string),
        "manifest": manifest,
        "configDigest": image.config_digest.to_string(),
        "config": config,
        "layers": layers,
    }))
}

pub fn inspect_text(v: &Value) -> String {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "Name:          {}", s("/name"));
    if let Some(m) = v.get("manifestDigest").and_then(Value::as_str) {
        let mt = s("/manifest/mediaType");
        let _ = writeln!(out, "Manifest:      {m} {mt}");
    }
    let _ = writeln!(out, "Config:        {}", s("/configDigest"));
    let mut platform = format!("{}/{}", s("/config/os"), s("/config/architecture"));
    if let Some(variant) = v.pointer("/config/variant").and_then(Value::as_str) {
        platform.push('/');
        platform.push_str(variant);
    }
    let _ = writeln!(out, "Platform:      {platform}");
    let _ = writeln!(out, "Created:       {}", s("/config/created"));
    let list = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let _ = writeln!(
        out,
        "Entrypoint:    {:?}",
        list("/config/config/Entrypoint")
    );
    let _ = writeln!(out, "Cmd:           {:?}", list("/config/config/Cmd"));
    let user = s("/config/config/User");
    if !user.is_empty() {
        let _ = writeln!(out, "User:          {user}");
    }
    for e in list("/config/config/Env") {
        let _ = writeln!(out, "Env:           {e}");
    }
    let layers = v["layers"].as_array().cloned().unwrap_or_default();
    let total: u64 = layers.iter().filter_map(|l| l["size"].as_u64()).sum();
    let _ = writeln!(out, "Layers:        {} ({})", layers.len(), human(total));
    for l in &layers {
        let _ = writeln!(
            out,
            "  {}  {:>9}  {}",
            l["digest"].as_str().unwrap_or("(no stored digest)"),
            l["size"].as_u64().map(human).unwrap_or_default(),
            l["mediaType"].as_str().unwrap_or("")
        );
        let _ = writeln!(
            out,
            "    diff_id {}",
            l["diffID"].as_str().unwrap_or_default()
        );
    }
    if let Some(h) = v.pointer("/config/history").and_then(Value::as_array) {
        let _ = writeln!(out, "History:");
        for e in h {
            let by = e["created_by"].as_str().unwrap_or("");
            let comment = e["comment"].as_str().unwrap_or("");
            let empty = if e["empty_layer"].as_bool() == Some(true) {
                " (no layer)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {}  {by}{}{empty}",
                e["created"].as_str().unwrap_or(""),
                if comment.is_empty() {
                    String::new()
                } else {
                    format!(" # {comment}")
                }
            );
        }
    }
    out
}

/// Bytes of the files in a tree (apparent sizes; hardlinks counted once).
fn tree_size(root: &Path) -> u64 {
    let mut total = 0;
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.nlink() == 1 || seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
    }
    total
}

/// The store's images, layers and bundles, as JSON.
pub fn ls_json(store_dir: &Path) -> Result<Value> {
    let store = Store::open(store_dir, false)?;
    let images = store.images()?;
    let bundles = store.bundles()?;
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for img in &images {
        for l in &img.layers {
            users
                .entry(l.diff_id.clone())
                .or_default()
                .push(format!("image {}", img.name));
        }
    }
    for (b, mounted) in &bundles {
        for l in &b.layers {
            users.entry(l.clone()).or_default().push(format!(
                "bundle {}{}",
                b.bundle.display(),
                if *mounted { "" } else { " (not mounted)" }
            ));
        }
    }
    let layers: Vec<Value> = store
        .layers()?
        .iter()
        .map(|d| {
            let size = tree_size(&store.layer_dir(d));
            json!({
                "diffID": d.to_string(),
                "size": size,
                "usedBy": users.get(&d.to_string()).cloned().unwrap_or_default(),
            })
        })
        .collect();
    let sizes: BTreeMap<String, u64> = layers
        .iter()
        .map(|l| {
            (
                l["diffID"].as_str().unwrap_or("").to_string(),
                l["size"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let images: Vec<Value> = images
        .iter()
        .map(|i| {
            json!({
                "name": i.name,
                "manifest": i.manifest,
                "config": i.config,
                "layers": i.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
                "compressedSize": i.layers.iter().filter_map(|l| l.size).sum::<u64>(),
                "size": i.layers.iter().filter_map(|l| sizes.get(&l.diff_id)).sum::<u64>(),
            })
        })
        .collect();
    let bundles: Vec<Value> = bundles
        .iter()
        .map(|(b, mounted)| {
            json!({
                "bundle": b.bundle,
                "image": b.image,
                "mounted": mounted,
                "layers": b.layers,
            })
        })
        .collect();
    Ok(json!({
        "store": store.root(),
        "images": images,
        "layers": layers,
        "bundles": bundles,
    }))
}

pub fn ls_text(v: &Value) -> String {
    let mut out = String::new();
    let arr = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let short = |d: &str| {
        d.split(':')
            .nth(1)
            .unwrap_or(d)
            .chars()
            .take(12)
            .collect::<String>()
    };
    let _ = writeln!(out, "IMAGES");
    for i in arr("images") {
        let _ = writeln!(
            out,
            "  {}  {}  {} layers  {} ({} compressed)",
            i["name"].as_str().unwrap_or(""),
            short(i["manifest"].as_str().unwrap_or("-")),
            i["layers"].as_array().map_or(0, Vec::len),
            human(i["size"].as_u64().unwrap_or(0)),
            human(i["compressedSize"].as_u64().unwrap_or(0)),
        );
    }
    let _ = writeln!(out, "LAYERS");
    for l in arr("layers") {
        let used: Vec<String> = l["usedBy"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}  {:>9}  {}",
            l["diffID"].as_str().unwrap_or(""),
            human(l["size"].as_u64().unwrap_or(0)),
            if used.is_empty() {
                "unused (gc removes it)".to_string()
            } else {
                used.join(", ")
            }
        );
    }
    let _ = writeln!(out, "BUNDLES");
    for b in arr("bundles") {
        let _ = writeln!(
            out,
            "  {}  {}  {}",
            b["bundle"].as_str().unwrap_or(""),
            b["image"].as_str().unwrap_or("-"),
            if b["mounted"].as_bool() == Some(true) {
                "mounted"
            } else {
                "not mounted"
            }
        );
    }
    out
}
