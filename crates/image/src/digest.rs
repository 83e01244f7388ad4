//! Content digests and a reader that verifies size and digest while the bytes stream.

use std::fmt;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256, Sha512};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
}

/// `algorithm:hex`, checked on parse so that it is safe to use as a file name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid(format!("digest {s:?}"), reason);
        let (algo, hex) = s.split_once(':').ok_or_else(|| bad("no algorithm"))?;
        let algorithm = match algo {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => return Err(bad(&format!("unsupported algorithm {other:?}"))),
        };
        // Lower-case hex only: the digest names files in the blob store.
        if hex.len() != algorithm.hex_len()
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("malformed hex"));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The digest of `data`, with the given algorithm.
    pub fn of(algorithm: Algorithm, data: &[u8]) -> Self {
        let mut h = Hasher::new(algorithm);
        h.update(data);
        h.finish()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            Hasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { algorithm, hex }
    }
}

/// Wraps a blob stream: counts and hashes every byte and, at end of stream, fails the
/// read with `Error::Verify` if the size or digest differ from what was expected.
/// A short stream and an over-long one are both caught: reading stops at `size + 1`.
pub struct Verifier<R> {
    inner: R,
    name: String,
    expected: Option<Digest>,
    size: Option<u64>,
    seen: u64,
    hasher: Option<Hasher>,
    done: bool,
}

impl<R: Read> Verifier<R> {
    /// `size` is `None` when the descriptor carries no size (a DiffID check); `expected`
    /// is `None` for a docker-archive layer whose stored form nothing vouches for (its
    /// DiffID still does).
    pub fn new(
        inner: R,
        name: impl Into<String>,
        expected: Option<Digest>,
        size: Option<u64>,
    ) -> Self {
        let algorithm = expected
            .as_ref()
            .map_or(crate::digest::Algorithm::Sha256, Digest::algorithm);
        // Nothing to compare against: count the bytes, spare the hashing.
        let hasher = expected.as_ref().map(|_| Hasher::new(algorithm));
        Verifier {
            inner,
            name: name.into(),
            expected,
            size,
            seen: 0,
            hasher,
            done: false,
        }
    }

    fn fail(&self, reason: String) -> io::Error {
        io::Error::other(Error::Verify {
            blob: self.name.clone(),
            reason,
        })
    }

    /// Reads to the end (a tar stream may stop before its compressed end) and verifies.
    pub fn finish(mut self) -> Result<R> {
        let name = self.name.clone();
        io::copy(&mut self, &mut io::sink())
            .map_err(|e| crate::error::from_stream(e, || format!("read blob {name}")))?;
        Ok(self.inner)
    }
}

impl<R: Read> Read for Verifier<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0); // already verified at EOF
        }
        // Never read more than one byte past the declared size: enough to notice it.
        let want = match self.size {
            Some(size) => buf.len().min((size + 1).saturating_sub(self.seen) as usize),
            None => buf.len(),
        };
        let n = if want == 0 {
            0
        } else {
            self.inner.read(&mut buf[..want])?
        };
        if n > 0 {
            if let Some(hasher) = self.hasher.as_mut() {
                hasher.update(&buf[..n]);
            }
            self.seen += n as u64;
            if let Some(size) = self.size {
                if self.seen > size {
                    return Err(self.fail(format!("larger than its declared size {size}")));
                }
            }
            return Ok(n);
        }
        if let Some(size) = self.size {
            if self.seen != size {
                return Err(self.fail(format!(
                    "size {} does not match the declared size {size}",
                    self.seen
                )));
            }
        }
        self.done = true;
        if let (Some(expected), Some(hasher)) = (&self.expected, self.hasher.take()) {
            let actual = hasher.finish();
            if actual != *expected {
                return Err(self.fail(format!("digest is {actual}, expected {expected}")));
            }
        }
        Ok(0)
    }
}

/// Reads a whole small blob (manifest, config) into memory, verified.
pub fn read_verified(
    reader: impl Read,
    name: &str,
    expected: &Digest,
    size: u64,
    max: u64,
) -> Result<Vec<u8>> {
    if size > max {
        return Err(Error::Verify {
            blob: name.to_string(),
            reason: format!("declared size {size} exceeds the limit {max} for this kind of blob"),
        });
    }
    let mut v = Verifier::new(reader, name, Some(expected.clone()), Some(size));
    let mut buf = Vec::with_capacity(size as usize);
    v.read_to_end(&mut buf)
        .map_err(|e| crate::error::from_stream(e, || format!("read blob {name}")))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_bad_digests() {
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse("md5:d41d8cd98f00b204e9800998ecf8427e").is_err());
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(Digest::parse(&upper).is_err());
        let traversal = format!("sha256:../{}", "a".repeat(61));
        assert!(Digest::parse(&traversal).is_err());
        let ok = format!("sha256:{}", "a".repeat(64));
        assert_eq!(Digest::parse(&ok).unwrap().to_string(), ok);
    }

    #[test]
    fn verifier_checks_size_and_digest() {
        let data = b"hello world";
        for algo in [Algorithm::Sha256, Algorithm::Sha512] {
            let d = Digest::of(algo, data);
            assert_eq!(read_verified(&data[..], "b", &d, 11, 100).unwrap(), data);
            let short = read_verified(&data[..], "b", &d, 12, 100).unwrap_err();
            assert!(short
                .to_string()
                .contains("does not match the declared size"));
            let long = read_verified(&data[..], "b", &d, 10, 100).unwrap_err();
            assert!(long.to_string().contains("larger than"));
            let other = Digest::of(algo, b"hello there");
            let bad = read_verified(&data[..], "blob-x", &other, 11, 100).unwrap_err();
            assert!(bad.to_string().contains("blob-x"), "{bad}");
            assert!(bad.to_string().contains("digest is"), "{bad}");
        }
    }
}
