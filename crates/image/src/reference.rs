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
        let (transport, rest) = s.split_once(':').ok_or_else(|| {
            Error::invalid(
                format!("image reference {s:?}"),
                "expected oci:DIR[:TAG|@DIGEST], oci-archive:TAR[:TAG] or docker-archive:TAR[:REPO:TAG]",
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
        assert!(Reference::parse("docker://busybox").is_err());
        assert!(Reference::parse("oci:").is_err());
        assert!(Reference::parse("oci:img@sha256:12").is_err());
    }
}
