//! A cache of compiled programs, one file per profile, as crun keeps.
//!
//! libseccomp's compiler costs milliseconds for a Docker-sized profile, on the hot
//! path of every create, while engines send the same handful of profiles again and
//! again. The key is a SHA-256 over everything the program depends on: the rules
//! (not the listener path or metadata, which vary per container), the native
//! architecture, libseccomp's version (its code generation changes between releases)
//! and the kernel release (libseccomp adapts its output to what the kernel supports).
//!
//! The directory is the caller's (under the runtime's root, private to root). Files
//! are written to a temporary name and renamed, so a reader sees a whole file or none;
//! a file that does not parse is ignored and rewritten.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use super::{decode, encode, Program};
use crate::{Context, Result};

const MAGIC: &[u8; 8] = b"HULLBPF1";
/// Bump when the program hull generates for the same inputs changes (the stub).
const FORMAT: &str = "hull seccomp program v1";

pub(super) fn key(s: &LinuxSeccomp) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT);
    h.update([0]);
    feed_rules(&mut h, s);
    h.update(super::audit_arch(libseccomp::ScmpArch::Native).to_le_bytes());
    h.update(super::libseccomp_version());
    h.update([0]);
    h.update(rustix::system::uname().release().to_bytes());
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

/// Feed the rules to the hash field by field, every list and string prefixed with its
/// length so no two profiles encode alike. (Serializing to JSON first costs more
/// than the hashing on a Docker-sized profile.)
fn feed_rules(h: &mut Sha256, s: &LinuxSeccomp) {
    let num = |h: &mut Sha256, v: u64| h.update(v.to_le_bytes());
    let opt = |h: &mut Sha256, v: Option<u64>| {
        num(h, v.is_some() as u64);
        num(h, v.unwrap_or(0));
    };
    num(
        h,
        u64::from(s.default_action().as_u32(s.default_errno_ret())),
    );
    opt(h, s.default_errno_ret().map(u64::from));
    let arches = s.architectures().as_deref().unwrap_or_default();
    num(h, arches.len() as u64);
    for a in arches {
        num(h, *a as u64);
    }
    let flags = s.flags().as_deref().unwrap_or_default();
    num(h, flags.len() as u64);
    for f in flags {
        num(h, *f as u64);
    }
    let syscalls = s.syscalls().as_deref().unwrap_or_default();
    num(h, syscalls.len() as u64);
    for sc in syscalls {
        num(h, sc.names().len() as u64);
        for n in sc.names() {
            num(h, n.len() as u64);
            h.update(n.as_bytes());
        }
        num(h, u64::from(sc.action().as_u32(sc.errno_ret())));
        opt(h, sc.errno_ret().map(u64::from));
        let args = sc.args().as_deref().unwrap_or_default();
        num(h, args.len() as u64);
        for a in args {
            num(h, a.index() as u64);
            num(h, a.value());
            opt(h, a.value_two());
            num(h, a.op() as u64);
        }
    }
}

fn path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.bpf"))
}

/// The cached program for `key`, if there is a sound one with the expected flags.
pub(super) fn lookup(dir: &Path, key: &str, flags: u32) -> Option<Program> {
    let raw = fs::read(path(dir, key)).ok()?;
    let rest = raw.strip_prefix(MAGIC)?;
    let (head, body) = rest.split_at_checked(4)?;
    let stored = u32::from_le_bytes(head.try_into().ok()?);
    if stored != flags {
        return None;
    }
    let insns = decode(body)?;
    if insns.is_empty() || insns.len() > super::MAX_INSNS {
        return None;
    }
    Some(Program { insns, flags })
}

pub(super) fn store(dir: &Path, key: &str, p: &Program) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_ctx(|| format!("create seccomp cache {}", dir.display()))?;
    let mut bytes = Vec::with_capacity(12 + p.insns.len() * 8);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&p.flags.to_le_bytes());
    encode(&p.insns, &mut bytes);

    let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        fs::rename(&tmp, path(dir, key))
    };
    write()
        .inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
        .with_ctx(|| format!("write seccomp cache entry {}", path(dir, key).display()))
}
