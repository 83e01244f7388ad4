//! Who owns extracted files: the image's ids as they are, mapped through `--uid-map` /
//! `--gid-map`, or (rootless) recorded in the `user.rootlesscontainers` xattr that
//! rootless runtimes and umoci read.

use crate::error::{Error, Result};

pub const ROOTLESS_XATTR: &str = "user.rootlesscontainers";

/// One line of an id map: container ids `container..container+size` are host ids
/// `host..host+size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdMap {
    /// `CONTAINER:HOST:SIZE`, as umoci and newuidmap take it.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::invalid(format!("id map {s:?}"), "expected CONTAINER:HOST:SIZE");
        let parts: Vec<u32> = s
            .split(':')
            .map(|p| p.parse::<u32>().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        match parts[..] {
            [container, host, size] if size > 0 => Ok(IdMap {
                container,
                host,
                size,
            }),
            _ => Err(bad()),
        }
    }
}

fn map_id(maps: &[IdMap], id: u32, kind: &str) -> Result<u32> {
    if maps.is_empty() {
        return Ok(id);
    }
    maps.iter()
        .find(|m| id >= m.container && id - m.container < m.size)
        .map(|m| m.host + (id - m.container))
        .ok_or_else(|| Error::invalid(format!("{kind} {id}"), "not covered by the id map"))
}

#[derive(Clone, Debug, Default)]
pub struct Owners {
    pub uid_map: Vec<IdMap>,
    pub gid_map: Vec<IdMap>,
    /// Not root: never chown, keep the image's owner in the rootless xattr.
    pub rootless: bool,
}

/// What to do about one entry's owner.
#[derive(Debug, PartialEq, Eq)]
pub enum Ownership {
    Chown(u32, u32),
    /// Rootless: the xattr value to write, or None when the owner is root (the default).
    Xattr(Option<Vec<u8>>),
}

impl Owners {
    pub fn resolve(&self, uid: u32, gid: u32) -> Result<Ownership> {
        if self.rootless {
            return Ok(Ownership::Xattr(rootless_payload(uid, gid)));
        }
        Ok(Ownership::Chown(
            map_id(&self.uid_map, uid, "uid")?,
            map_id(&self.gid_map, gid, "gid")?,
        ))
    }
}

/// The protobuf `message Resource { uint32 uid = 1; uint32 gid = 2; }` of the
/// rootlesscontainers spec; proto3 leaves out zero fields, and an all-root owner needs no
/// xattr at all.
pub fn rootless_payload(uid: u32, gid: u32) -> Option<Vec<u8>> {
    if uid == 0 && gid == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(12);
    for (tag, v) in [(0x08u8, uid), (0x10u8, gid)] {
        if v == 0 {
            continue;
        }
        out.push(tag);
        let mut v = v;
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_ids() {
        let maps = [IdMap::parse("0:100000:65536").unwrap()];
        assert_eq!(map_id(&maps, 0, "uid").unwrap(), 100000);
        assert_eq!(map_id(&maps, 1000, "uid").unwrap(), 101000);
        assert!(map_id(&maps, 65536, "uid").is_err());
        assert!(IdMap::parse("0:1").is_err());
        assert!(IdMap::parse("0:1:0").is_err());
    }

    #[test]
    fn rootless_protobuf() {
        assert_eq!(rootless_payload(0, 0), None);
        assert_eq!(rootless_payload(1000, 0).unwrap(), vec![0x08, 0xe8, 0x07]);
        assert_eq!(rootless_payload(0, 5).unwrap(), vec![0x10, 0x05]);
        assert_eq!(rootless_payload(1, 2).unwrap(), vec![0x08, 1, 0x10, 2]);
    }
}
