//! Where blobs come from: a layout directory, or members of a tar file (oci-archive,
//! docker-archive). Tar members are indexed once and then read in place, never copied out.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Context, Error, Result};

/// Blob readers are buffered: tar headers are read 512 bytes at a time. Layers are read
/// 64 KiB at a time by the decompressor's own buffer, which then bypasses this one
/// (a larger one would be filled and copied for nothing: resident memory, per job).
const READ_BUFFER: usize = 64 << 10;

pub enum Source {
    Dir(PathBuf),
    Tar(TarIndex),
    /// A registry: blobs by digest over HTTP.
    Registry(crate::registry::Client),
}

pub type BlobReader<'a> = Box<dyn Read + Send + 'a>;

impl Source {
    pub fn dir(path: &Path) -> Result<Self> {
        let layout = path.join("oci-layout");
        let data = std::fs::read(&layout).ctx(|| format!("read {}", layout.display()))?;
        check_layout_version(&data, &layout.display().to_string())?;
        Ok(Source::Dir(path.to_path_buf()))
    }

    pub fn tar(path: &Path) -> Result<Self> {
        Ok(Source::Tar(TarIndex::build(path)?))
    }

    /// Whether a member or file exists (docker-archive uses it to tell its formats apart).
    pub fn has(&self, name: &str) -> bool {
        match self {
            Source::Dir(root) => root.join(name).is_file(),
            Source::Tar(t) => t.members.contains_key(normalize(name)),
            Source::Registry(_) => false,
        }
    }

    /// Opens a file of the image by its relative name. Names come from the image's own
    /// JSON only in docker-archive (where they are looked up in the tar index, never on a
    /// filesystem); directory names are built from verified digests.
    pub fn open(&self, name: &str) -> Result<(BlobReader<'_>, u64)> {
        match self {
            Source::Dir(root) => {
                let path = root.join(name);
                let file = File::open(&path).ctx(|| format!("open {}", path.display()))?;
                let size = file
                    .metadata()
                    .ctx(|| format!("stat {}", path.display()))?
                    .len();
                Ok((Box::new(BufReader::with_capacity(READ_BUFFER, file)), size))
            }
            Source::Tar(t) => {
                let &(offset, size) = t
                    .members
                    .get(normalize(name))
                    .ok_or_else(|| Error::NotFound(format!("{name} in {}", t.path.display())))?;
                let section = Section {
                    file: &t.file,
                    pos: offset,
                    end: offset + size,
                };
                Ok((
                    Box::new(BufReader::with_capacity(READ_BUFFER, section)),
                    size,
                ))
            }
            // Only blobs, named by their digest (the size comes from their descriptor).
            Source::Registry(client) => {
                let digest = name
                    .strip_prefix("blobs/")
                    .and_then(|r| r.split_once('/'))
                    .and_then(|(algo, hex)| Digest::parse(&format!("{algo}:{hex}")).ok())
                    .ok_or_else(|| {
                        Error::NotFound(format!("{name} in registry {}", client.host()))
                    })?;
                Ok((
                    Box::new(BufReader::with_capacity(READ_BUFFER, client.blob(&digest)?)),
                    0,
                ))
            }
        }
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<BlobReader<'_>> {
        Ok(self.open(&blob_path(digest))?.0)
    }

    /// Reads a small file that no digest vouches for (index.json, manifest.json).
    pub fn read_root_file(&self, name: &str, max: u64) -> Result<Vec<u8>> {
        let (reader, size) = self.open(name)?;
        if size > max {
            return Err(Error::invalid(
                name,
                format!("{size} bytes is over the limit {max}"),
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        reader
            .take(max)
            .read_to_end(&mut buf)
            .ctx(|| format!("read {name}"))?;
        Ok(buf)
    }
}

pub fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

pub fn check_layout_version(data: &[u8], what: &str) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Layout {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    let layout: Layout = crate::image::parse_json(data, || what.to_string())?;
    if !layout.version.starts_with("1.") {
        return Err(Error::invalid(
            what,
            format!("unsupported imageLayoutVersion {:?}", layout.version),
        ));
    }
    Ok(())
}

fn normalize(name: &str) -> &str {
    name.trim_start_matches("./")
}

/// Offsets and sizes of the regular files in a tar archive.
pub struct TarIndex {
    path: PathBuf,
    file: File,
    members: HashMap<String, (u64, u64)>,
}

impl TarIndex {
    fn build(path: &Path) -> Result<Self> {
        let what = || format!("index archive {}", path.display());
        let file = File::open(path).ctx(|| format!("open {}", path.display()))?;
        let mut archive = tar::Archive::new(BufReader::new(file.try_clone().ctx(what)?));
        let mut members = HashMap::new();
        // Seeking over member data: indexing a large archive reads only its headers.
        for entry in archive.entries_with_seek().ctx(what)? {
            let entry = entry.ctx(what)?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let name = entry.path().ctx(what)?.to_string_lossy().into_owned();
            members.insert(
                normalize(&name).to_string(),
                (entry.raw_file_position(), entry.size()),
            );
        }
        Ok(TarIndex {
            path: path.to_path_buf(),
            file,
            members,
        })
    }
}

/// A byte range of a file, read with pread so that several may be open at once.
struct Section<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive member is truncated",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}
