//! Image references, named the way skopeo names transports.

use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub enum Reference {
    /// `oci:DIR[:TAG|@DIGEST]`: an OCI image layout directory.
    Layout { dir: PathBuf, pick: Pick },
    /// `oci-archive:TAR[:TAG]`: an OCI image layout in a tar file.
    OciArchive { tar: PathBuf, pick: Pick },
    /// `docker-archive:TAR[:REPO:TAG]`: `docker save` output, legacy or OCI-inside.
    DockerArchive {
        tar: PathBuf,
        repo_tag: Option<String>,
    },
    /// `docker://[HOST/]REPO[:TAG|@DIGEST]`: an image in a registry (HTTP API v2).
    Registry(RegistryRef),
}

/// An image in a registry, named as docker names it: a name without a host is on Docker
/// Hub, and a one-component Docker Hub name is in `library/`.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryRef {
    /// `host[:port]` as written (`docker.io` for Docker Hub).
    pub host: String,
    pub repo: String,
    /// `Pick::Default` is the tag `latest`.
    pub pick: Pick,
}

impl RegistryRef {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid(format!("image reference docker://{s}"), reason);
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d)?)),
            None => (s, None),
        };
        // The tag is after the last colon that is not part of the host's port.
        let (name, tag) = match name.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t)),
            _ => (name, None),
        };
        let (host, repo) = match name.split_once('/') {
            Some((h, r)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (h.to_string(), r.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let repo = if host == "docker.io" && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo
        };
        if host.is_empty() || repo.is_empty() {
            return Err(bad("expected docker://[HOST/]REPO[:TAG|@DIGEST]"));
        }
        // The distribution spec's name grammar, loosely: it ends up in URLs.
        let ok_repo = repo.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
        if !ok_repo {
            return Err(bad(&format!(
                "repository {repo:?}: lower-case letters, digits and ._-/ only"
            )));
        }
        let ok_host = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if !ok_host {
            return Err(bad(&format!("host {host:?}")));
        }
        let pick = match (digest, tag) {
            (Some(d), _) => Pick::Digest(d),
            (None, Some(t)) => {
                let valid = !t.is_empty()
                    && t.len() <= 128
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
                if !valid {
                    return Err(bad(&format!("tag {t:?}")));
                }
                Pick::Tag(t.to_string())
            }
            (None, None) => Pick::Default,
        };
        Ok(RegistryRef { host, repo, pick })
    }

    /// The tag or digest, as the manifests endpoint takes it.
    pub fn reference(&self) -> String {
        match &self.pick {
            Pick::Default => "latest".into(),
            Pick::Tag(t) => t.clone(),
            Pick::Digest(d) => d.to_string(),
        }
    }
}

impl std::fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "docker://{}/{}", self.host, self.repo)?;
        match &self.pick {
            Pick::Default => write!(f, ":latest"),
            Pick::Tag(t) => write!(f, ":{t}"),
            Pick::Digest(d) => write!(f, "@{d}"),
        }
    }
}

/// Which manifest of an index to take.
#[derive(Clone, Debug, PartialEq)]
pub enum Pick {
    /// The only one (or, for a multi-platform index, the host's).
    Default,
    Tag(String),
    Digest(Digest),
}

impl Reference {
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("docker://") {
            return Ok(Reference::Registry(RegistryRef::parse(rest)?));
        }
        let (transport, rest) = s.split_once(':').ok_or_else(|| {
            Error::invalid(
                format!("image reference {s:?}"),
                "expected docker://[HOST/]REPO[:TAG|@DIGEST], oci:DIR[:TAG|@DIGEST], oci-archive:TAR[:TAG] or docker-archive:TAR[:REPO:TAG]",
            )
        })?;
        if rest.is_empty() {
            return Err(Error::invalid(
                format!("image reference {s:?}"),
                "empty path",
            ));
        }
        match transport {
            "oci" => {
                let (dir, pick) = split_pick(rest)?;
                Ok(Reference::Layout { dir, pick })
            }
            "oci-archive" => {
                let (tar, pick) = split_pick(rest)?;
                if matches!(pick, Pick::Digest(_)) {
                    return Err(Error::invalid(
                        format!("image reference {s:?}"),
                        "oci-archive takes a tag, not a digest",
                    ));
                }
                Ok(Reference::OciArchive { tar, pick })
            }
            "docker-archive" => {
                // The path ends at the first colon; the rest is a docker reference,
                // which may itself contain a colon (registry port).
                let (tar, repo_tag) = match rest.split_once(':') {
                    Some((p, r)) if !r.is_empty() => (p, Some(r.to_string())),
                    Some((p, _)) => (p, None),
                    None => (rest, None),
                };
                Ok(Reference::DockerArchive {
                    tar: tar.into(),
                    repo_tag,
                })
            }
            other => Err(Error::invalid(
                format!("image reference {s:?}"),
                format!("unknown transport {other:?}"),
            )),
        }
    }
}

fn split_pick(rest: &str) -> Result<(PathBuf, Pick)> {
    if let Some((path, digest)) = rest.rsplit_once('@') {
        if digest.contains(':') {
            return Ok((path.into(), Pick::Digest(Digest::parse(digest)?)));
        }
    }
    Ok(match rest.split_once(':') {
        Some((path, "")) => (path.into(), Pick::Default),
        Some((path, tag)) => (path.into(), Pick::Tag(tag.to_string())),
        None => (rest.into(), Pick::Default),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_transports() {
        assert_eq!(
            Reference::parse("oci:/x/img:v1").unwrap(),
            Reference::Layout {
                dir: "/x/img".into(),
                pick: Pick::Tag("v1".into())
            }
        );
        assert_eq!(
            Reference::parse("oci:img").unwrap(),
            Reference::Layout {
                dir: "img".into(),
                pick: Pick::Default
            }
        );
        let d = format!("sha256:{}", "0".repeat(64));
        assert_eq!(
            Reference::parse(&format!("oci:img@{d}")).unwrap(),
            Reference::Layout {
                dir: "img".into(),
                pick: Pick::Digest(Digest::parse(&d).unwrap())
            }
        );
        assert_eq!(
            Reference::parse("docker-archive:a.tar:localhost:5000/busybox:1").unwrap(),
            Reference::DockerArchive {
                tar: "a.tar".into(),
                repo_tag: Some("localhost:5000/busybox:1".into())
            }
        );
        assert!(Reference::parse("docker:busybox").is_err());
        assert!(Reference::parse("oci:").is_err());
        assert!(Reference::parse("oci:img@sha256:12").is_err());
    }

    #[test]
    fn parses_registry_names() {
        let r = |s: &str| match Reference::parse(s).unwrap() {
            Reference::Registry(r) => r,
            other => panic!("{other:?}"),
        };
        let bb = r("docker://busybox");
        assert_eq!(
            (bb.host.as_str(), bb.repo.as_str()),
            ("docker.io", "library/busybox")
        );
        assert_eq!(bb.reference(), "latest");
        let local = r("docker://127.0.0.1:5000/a/b:v1.2");
        assert_eq!(local.host, "127.0.0.1:5000");
        assert_eq!(local.repo, "a/b");
        assert_eq!(local.pick, Pick::Tag("v1.2".into()));
        let d = format!("sha256:{}", "0".repeat(64));
        let pinned = r(&format!("docker://localhost:5000/x:tag@{d}"));
        assert_eq!(pinned.host, "localhost:5000");
        assert_eq!(pinned.reference(), d);
        assert_eq!(r("docker://quay.io/org/img").host, "quay.io");
        assert_eq!(r("docker://user/img").repo, "user/img");
        assert_eq!(r("docker://localhost:5000/x").pick, Pick::Default);
        assert!(Reference::parse("docker://Upper/Case").is_err());
        assert!(Reference::parse("docker://host.io/a:b/c").is_err());
        assert!(Reference::parse("docker://host.io/a:").is_err());
        assert!(Reference::parse("docker://").is_err());
    }
}
