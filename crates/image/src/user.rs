//! The image config's `User`, resolved through the rootfs's own /etc/passwd and
//! /etc/group (opened inside the rootfs: a symlinked /etc/passwd cannot point at the
//! host's).

use std::io::Read;
use std::os::fd::BorrowedFd;

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::error::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Reads a file of the rootfs, or None when it does not exist.
fn read_in_root(root: BorrowedFd<'_>, path: &str) -> Result<Option<String>> {
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let fd = match crate::tree::openat2_retrying(
        root,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        resolve,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => {
            return Err(Error::Io {
                what: format!("open /{path} in the rootfs"),
                source: e.into(),
            })
        }
    };
    let mut data = Vec::new();
    // A passwd file is small; a huge one is not worth reading whole.
    std::fs::File::from(fd)
        .take(16 << 20)
        .read_to_end(&mut data)
        .map_err(|source| Error::Io {
            what: format!("read /{path} in the rootfs"),
            source,
        })?;
    Ok(Some(String::from_utf8_lossy(&data).into_owned()))
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || line.starts_with('#') {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 || line.starts_with('#') {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// `user`, `uid`, `user:group`, `uid:gid`, `user:gid` or `uid:group`; empty means root.
pub fn resolve(root: BorrowedFd<'_>, spec: &str) -> Result<User> {
    let err = |reason: String| Error::User {
        user: spec.to_string(),
        reason,
    };
    if spec.is_empty() {
        return Ok(User::default());
    }
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_in_root(root, "etc/passwd")?
        .map(|t| parse_passwd(&t))
        .unwrap_or_default();
    let groups = read_in_root(root, "etc/group")?
        .map(|t| parse_group(&t))
        .unwrap_or_default();

    let (uid, mut gid, name) = match user_part.parse::<u32>() {
        Ok(uid) => match passwd.iter().find(|p| p.uid == uid) {
            Some(p) => (uid, p.gid, Some(p.name.clone())),
            None => (uid, 0, None),
        },
        Err(_) => {
            let p = passwd
                .iter()
                .find(|p| p.name == user_part)
                .ok_or_else(|| err(format!("no user {user_part:?} in the image's /etc/passwd")))?;
            (p.uid, p.gid, Some(p.name.clone()))
        }
    };
    let mut additional_gids = Vec::new();
    match group_part {
        Some(g) => {
            gid = match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => groups
                    .iter()
                    .find(|e| e.name == g)
                    .map(|e| e.gid)
                    .ok_or_else(|| err(format!("no group {g:?} in the image's /etc/group")))?,
            };
        }
        None => {
            // Supplementary groups only when the group is not given, as runc and docker do.
            if let Some(name) = &name {
                for g in &groups {
                    if g.members.iter().any(|m| m == name)
                        && g.gid != gid
                        && !additional_gids.contains(&g.gid)
                    {
                        additional_gids.push(g.gid);
                    }
                }
            }
        }
    }
    Ok(User {
        uid,
        gid,
        additional_gids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nalice:x:1000:\nwheel:x:10:alice,bob\naudio:x:29:alice\n",
        )
        .unwrap();
        d
    }

    fn res(d: &tempfile::TempDir, spec: &str) -> Result<User> {
        let f = std::fs::File::open(d.path()).unwrap();
        resolve(f.as_fd(), spec)
    }

    #[test]
    fn resolves_names_and_numbers() {
        let d = rootfs();
        let alice = res(&d, "alice").unwrap();
        assert_eq!((alice.uid, alice.gid), (1000, 1000));
        assert_eq!(alice.additional_gids, vec![10, 29]);
        let u = res(&d, "alice:wheel").unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids.len()), (1000, 10, 0));
        let u = res(&d, "1000:5").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 5));
        let u = res(&d, "4242").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 0));
        assert!(res(&d, "mallory")
            .unwrap_err()
            .to_string()
            .contains("mallory"));
        assert!(res(&d, "alice:nogroup").is_err());
    }

    #[test]
    fn passwd_symlink_stays_in_root() {
        let d = rootfs();
        std::fs::remove_file(d.path().join("etc/passwd")).unwrap();
        // The host's /etc/passwd has root; inside the root this resolves to etc/passwd
        // itself again (missing), so "root" must not be found.
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("etc/passwd")).unwrap();
        assert!(res(&d, "root").is_err());
    }
}
