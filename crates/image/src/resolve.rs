//! From a reference to the verified config and the list of layers to apply.
//! The root index (or docker's manifest.json) is the trust anchor; everything below it
//! is fetched by digest and verified.

use crate::digest::{read_verified, Algorithm, Digest};
use crate::error::{Error, Result};
use crate::image::{
    media, parse_json, Descriptor, ImageConfig, IndexOrManifest, Platform, MAX_JSON_BLOB,
};
use crate::reference::{Pick, Reference};
use crate::source::Source;

/// Nested indexes deeper than this are refused (a cycle would otherwise never end).
const MAX_INDEX_DEPTH: usize = 8;

pub struct Image {
    pub source: Source,
    pub config: ImageConfig,
    pub config_digest: Digest,
    /// The config as stored (what a repacked image starts from).
    pub config_raw: Vec<u8>,
    /// The manifest and its digest; docker-archive's legacy format has none.
    pub manifest_digest: Option<Digest>,
    pub manifest_raw: Option<Vec<u8>>,
    pub layers: Vec<Layer>,
}

pub struct Layer {
    /// Name of the blob inside the source.
    pub path: String,
    pub media_type: String,
    /// The digest and size of the blob as stored, when a descriptor gives them.
    pub digest: Option<Digest>,
    pub size: Option<u64>,
    /// The digest of the uncompressed tar, from the (verified) config.
    pub diff_id: Digest,
}

impl Layer {
    /// A short name for messages.
    pub fn name(&self) -> String {
        match &self.digest {
            Some(d) => d.to_string(),
            None => self.path.clone(),
        }
    }
}

pub fn open(
    reference: &Reference,
    platform: &Platform,
    registry: &crate::registry::Options,
) -> Result<Image> {
    match reference {
        Reference::Registry(r) => from_registry(r, platform, registry),
        Reference::Layout { dir, pick } => from_index(Source::dir(dir)?, pick, platform),
        Reference::OciArchive { tar, pick } => {
            let source = Source::tar(tar)?;
            let layout = source.read_root_file("oci-layout", 4096)?;
            crate::source::check_layout_version(&layout, "oci-layout")?;
            from_index(source, pick, platform)
        }
        Reference::DockerArchive { tar, repo_tag } => {
            let source = Source::tar(tar)?;
            if source.has("manifest.json") {
                from_docker_manifest(source, repo_tag.as_deref())
            } else {
                let pick = repo_tag
                    .as_ref()
                    .map_or(Pick::Default, |t| Pick::Tag(t.clone()));
                from_index(source, &pick, platform)
            }
        }
    }
}

fn read_json_blob(source: &Source, desc: &Descriptor) -> Result<(Digest, Vec<u8>)> {
    let digest = desc.digest()?;
    let name = digest.to_string();
    let data = read_verified(
        source.open_blob(&digest)?,
        &name,
        &digest,
        desc.size,
        MAX_JSON_BLOB,
    )?;
    Ok((digest, data))
}

fn from_index(source: Source, pick: &Pick, platform: &Platform) -> Result<Image> {
    let data = source.read_root_file("index.json", MAX_JSON_BLOB)?;
    let root: IndexOrManifest = parse_json(&data, || "index.json".into())?;
    let entries = root.manifests.unwrap_or_default();
    let chosen = match pick {
        Pick::Digest(d) => entries
            .iter()
            .find(|e| e.digest == d.to_string())
            .ok_or_else(|| Error::NotFound(format!("manifest {d} in index.json")))?,
        Pick::Tag(tag) => entries
            .iter()
            .find(|e| e.ref_name() == Some(tag) || tag_matches(e, tag))
            .ok_or_else(|| Error::NotFound(format!("tag {tag:?} in index.json")))?,
        Pick::Default if entries.len() == 1 => &entries[0],
        Pick::Default if entries.iter().any(|e| e.platform.is_some()) => {
            by_platform(&entries, platform, "index.json")?
        }
        Pick::Default => {
            let tags: Vec<_> = entries.iter().filter_map(|e| e.ref_name()).collect();
            return Err(Error::invalid(
                "image reference",
                format!(
                    "index.json holds {} manifests, name one of the tags {tags:?}",
                    entries.len()
                ),
            ));
        }
    };
    let mut desc = chosen.clone();
    for _ in 0..MAX_INDEX_DEPTH {
        let (digest, data) = read_json_blob(&source, &desc)?;
        let what = || format!("manifest {digest}");
        let node: IndexOrManifest = parse_json(&data, what)?;
        let is_index = node.manifests.is_some()
            || matches!(
                node.media_type.as_deref(),
                Some(media::OCI_INDEX | media::DOCKER_LIST)
            );
        if is_index {
            let entries = node.manifests.unwrap_or_default();
            desc = by_platform(&entries, platform, &digest.to_string())?.clone();
            continue;
        }
        return from_manifest(source, &digest, data, node);
    }
    Err(Error::invalid(
        "image index",
        format!("nested deeper than {MAX_INDEX_DEPTH} levels"),
    ))
}

/// A registry's manifest by tag or digest is the trust anchor: the digest that names it
/// (ours, or the registry's `Docker-Content-Digest` for a tag) is checked, and everything
/// below it is fetched by digest.
fn from_registry(
    r: &crate::reference::RegistryRef,
    platform: &Platform,
    opts: &crate::registry::Options,
) -> Result<Image> {
    let client = crate::registry::Client::connect(r, opts)?;
    let mut m = client.manifest(&r.reference())?;
    for _ in 0..MAX_INDEX_DEPTH {
        let digest = m.digest.clone();
        let node: IndexOrManifest = parse_json(&m.data, || format!("manifest {r} ({digest})"))?;
        let is_index = node.manifests.is_some()
            || matches!(
                node.media_type.as_deref().or(m.media_type.as_deref()),
                Some(media::OCI_INDEX | media::DOCKER_LIST)
            );
        if !is_index {
            return from_manifest(Source::Registry(client), &digest, m.data, node);
        }
        let entries = node.manifests.unwrap_or_default();
        let desc = by_platform(&entries, platform, &format!("{r} ({digest})"))?;
        let want = desc.digest()?;
        m = client.manifest(&want.to_string())?;
        if m.data.len() as u64 != desc.size {
            return Err(Error::Verify {
                blob: want.to_string(),
                reason: format!(
                    "size {} does not match the declared size {}",
                    m.data.len(),
                    desc.size
                ),
            });
        }
    }
    Err(Error::invalid(
        "image index",
        format!("nested deeper than {MAX_INDEX_DEPTH} levels"),
    ))
}

/// docker-archive's index.json names images `docker.io/library/busybox:latest`.
fn tag_matches(entry: &Descriptor, tag: &str) -> bool {
    entry
        .annotations
        .get("io.containerd.image.name")
        .is_some_and(|name| {
            name == tag || normalize_docker_name(name) == normalize_docker_name(tag)
        })
}

fn by_platform<'a>(
    entries: &'a [Descriptor],
    platform: &Platform,
    index: &str,
) -> Result<&'a Descriptor> {
    entries
        .iter()
        .find(|e| e.platform.as_ref().is_some_and(|p| p.matches(platform)))
        .ok_or_else(|| {
            let have: Vec<String> = entries
                .iter()
                .filter_map(|e| e.platform.as_ref().map(ToString::to_string))
                .collect();
            Error::NotFound(format!("platform {platform} in {index} (it has {have:?})"))
        })
}

fn from_manifest(
    source: Source,
    manifest: &Digest,
    manifest_raw: Vec<u8>,
    node: IndexOrManifest,
) -> Result<Image> {
    let config_desc = node
        .config
        .ok_or_else(|| Error::invalid(format!("manifest {manifest}"), "no config"))?;
    let (config_digest, data) = read_json_blob(&source, &config_desc)?;
    let config: ImageConfig = parse_json(&data, || format!("config {config_digest}"))?;
    let descs = node.layers.unwrap_or_default();
    if descs.len() != config.rootfs.diff_ids.len() {
        return Err(Error::invalid(
            format!("manifest {manifest}"),
            format!(
                "{} layers but config {config_digest} lists {} diff_ids",
                descs.len(),
                config.rootfs.diff_ids.len()
            ),
        ));
    }
    let mut layers = Vec::with_capacity(descs.len());
    for (desc, diff_id) in descs.iter().zip(&config.rootfs.diff_ids) {
        let digest = desc.digest()?;
        layers.push(Layer {
            path: crate::source::blob_path(&digest),
            media_type: desc.media_type.clone(),
            digest: Some(digest),
            size: Some(desc.size),
            diff_id: Digest::parse(diff_id)?,
        });
    }
    Ok(Image {
        source,
        config,
        config_digest,
        config_raw: data,
        manifest_digest: Some(manifest.clone()),
        manifest_raw: Some(manifest_raw),
        layers,
    })
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn normalize_docker_name(name: &str) -> String {
    let name = name.strip_prefix("docker.io/").unwrap_or(name);
    let name = name.strip_prefix("library/").unwrap_or(name);
    if name
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
    {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// The digest a docker-archive member's name encodes: `<hex>.json`, `<hex>/layer.tar`
/// (legacy: the layer id, not a content digest) or `blobs/sha256/<hex>`.
fn digest_in_name(name: &str) -> Option<Digest> {
    let name = name.trim_start_matches("./");
    if let Some(hex) = name.strip_prefix("blobs/sha256/") {
        return Digest::parse(&format!("sha256:{hex}")).ok();
    }
    let hex = name.strip_suffix(".json")?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

fn from_docker_manifest(source: Source, repo_tag: Option<&str>) -> Result<Image> {
    let data = source.read_root_file("manifest.json", MAX_JSON_BLOB)?;
    let entries: Vec<DockerEntry> = parse_json(&data, || "manifest.json".into())?;
    let entry = match repo_tag {
        Some(want) => {
            let want = normalize_docker_name(want);
            entries
                .iter()
                .find(|e| {
                    e.repo_tags
                        .iter()
                        .flatten()
                        .any(|t| normalize_docker_name(t) == want)
                })
                .ok_or_else(|| Error::NotFound(format!("{want} in manifest.json")))?
        }
        None if entries.len() == 1 => &entries[0],
        None => {
            return Err(Error::invalid(
                "image reference",
                format!(
                    "the archive holds {} images, name one as REPO:TAG",
                    entries.len()
                ),
            ))
        }
    };
    // The config's name is its digest: that is what vouches for it, and it in turn vouches
    // for the layers through diff_ids.
    let config_digest = digest_in_name(&entry.config).ok_or_else(|| {
        Error::invalid(
            "manifest.json",
            format!("config name {:?} is not a digest", entry.config),
        )
    })?;
    let (reader, size) = source.open(&entry.config)?;
    let data = read_verified(reader, &entry.config, &config_digest, size, MAX_JSON_BLOB)?;
    let config: ImageConfig = parse_json(&data, || format!("config {}", entry.config))?;
    if entry.layers.len() != config.rootfs.diff_ids.len() {
        return Err(Error::invalid(
            "manifest.json",
            format!(
                "{} layers but config lists {} diff_ids",
                entry.layers.len(),
                config.rootfs.diff_ids.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    for (path, diff_id) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
        let digest = path
            .starts_with("blobs/")
            .then(|| digest_in_name(path))
            .flatten();
        layers.push(Layer {
            path: path.clone(),
            media_type: String::new(),
            digest,
            size: None,
            diff_id: Digest::parse(diff_id)?,
        });
    }
    debug_assert!(config_digest.algorithm() == Algorithm::Sha256);
    Ok(Image {
        source,
        config,
        config_digest,
        config_raw: data,
        manifest_digest: None,
        manifest_raw: None,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_normalize() {
        assert_eq!(normalize_docker_name("busybox"), "busybox:latest");
        assert_eq!(
            normalize_docker_name("docker.io/library/busybox:1"),
            "busybox:1"
        );
        assert_eq!(
            normalize_docker_name("localhost:5000/a"),
            "localhost:5000/a:latest"
        );
    }
}
