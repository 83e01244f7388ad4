//! Containers without a mount namespace of their own (no `mount` in linux.namespaces), as runc
//! runs them: the rootfs is bound on itself in the runtime's mount namespace, the config's
//! mounts are made under that bind, and init chroots into it. The container's mounts are
//! then the host's to see while it runs; they all hang from the one rootfs bind, so detaching
//! that bind removes every one of them.
//!
//! What hull does beyond runc 1.1: it changes no propagation of the host's mounts (runc 1.1
//! made the host's `/` a recursive slave), the rootfs bind is a slave (nothing mounted under
//! it propagates back to the host's mounts), and `delete` (or a failed create) detaches the
//! bind, which runc 1.1 left behind; runc 1.4's host-mntns tests expect both.
//!
//! A bind the user made on the rootfs before the create is not ours: the mount id found at
//! the rootfs before the create is recorded with the create's first record, and delete only
//! ever detaches what is stacked above it (after a finished create, exactly the bind whose id
//! was recorded then).

use std::path::Path;

use rustix::fs::{statx, AtFlags, StatxFlags, CWD};
use rustix::mount::{unmount, UnmountFlags};
use serde::{Deserialize, Serialize};

use crate::{Context, Error, Result};

/// The record of a rootfs bind made in the runtime's mount namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsMount {
    /// The mount id at the rootfs path before the create bound it (the user's, or the
    /// filesystem's).
    pub below: u64,
    /// The id of the create's own bind, once the create has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ours: Option<u64>,
}

/// The id of the topmost mount at `path` (what a path lookup lands on).
pub fn mount_id(path: &Path) -> Result<u64> {
    let st = statx(CWD, path, AtFlags::STATX_DONT_SYNC, StatxFlags::MNT_ID)
        .with_ctx(|| format!("statx {}", path.display()))?;
    Ok(st.stx_mnt_id)
}

impl RootfsMount {
    /// Taken before anything is mounted for the container.
    pub fn before(rootfs: &Path) -> Result<RootfsMount> {
        Ok(RootfsMount {
            below: mount_id(rootfs)?,
            ours: None,
        })
    }

    /// Once init is ready: the bind at the rootfs now is the container's.
    pub fn made(&mut self, rootfs: &Path) -> Result<()> {
        let top = mount_id(rootfs)?;
        if top != self.below {
            self.ours = Some(top);
        }
        Ok(())
    }

    /// Detaches the container's rootfs bind, and with it every mount made under it. Nothing
    /// above the recorded one is there: done. A finished create's bind is detached only if it
    /// is the one on top (something stacked over it is not ours, and is named); an unfinished
    /// create's, whatever one mount it stacked.
    pub fn detach(&self, rootfs: &Path) -> Result<()> {
        let top = match mount_id(rootfs) {
            Ok(top) => top,
            // The rootfs is gone: nothing can be mounted on it.
            Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e),
        };
        if top == self.below {
            return Ok(());
        }
        if self.ours.is_some_and(|ours| ours != top) {
            return Err(Error::Other(format!(
                "the mount on top of its rootfs {} (id {top}) is not the container's",
                rootfs.display()
            )));
        }
        unmount(rootfs, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW)
            .with_ctx(|| format!("detach the container's rootfs mount {}", rootfs.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run in a child with a mount namespace of its own: a user's bind on the rootfs stays,
    /// the create's bind over it goes, a foreign bind over the create's is refused.
    #[test]
    fn detach_takes_only_the_containers_bind() {
        if !crate::security::testutil::is_root() {
            return crate::security::testutil::skip("needs root to bind");
        }
        let dir = std::env::temp_dir().join(format!("hull-hostns-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let outcome = crate::security::testutil::in_child(|| {
            use rustix::mount::{mount_bind, mount_change, MountPropagationFlags};
            let err = |e: &dyn std::fmt::Display| e.to_string();
            crate::sys::clone::unshare(rustix::thread::UnshareFlags::NEWNS).map_err(|e| err(&e))?;
            mount_change(
                "/",
                MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
            )
            .map_err(|e| err(&e))?;
            // The user's own bind, then the create's.
            mount_bind(&dir, &dir).map_err(|e| err(&e))?;
            let mut m = RootfsMount::before(&dir).map_err(|e| err(&e))?;
            mount_bind(&dir, &dir).map_err(|e| err(&e))?;
            mount_bind(&dir, dir.join("sub")).map_err(|e| err(&e))?;
            m.made(&dir).map_err(|e| err(&e))?;
            let ours = m.ours.ok_or("no bind recorded")?;
            // A bind someone else stacked on top: refused, left alone.
            mount_bind(&dir, &dir).map_err(|e| err(&e))?;
            let e = m.detach(&dir).unwrap_err().to_string();
            if !e.contains("is not the container's") {
                return Err(e);
            }
            unmount(&dir, UnmountFlags::DETACH).map_err(|e| err(&e))?;
            if mount_id(&dir).map_err(|e| err(&e))? != ours {
                return Err("the create's bind is not on top".into());
            }
            m.detach(&dir).map_err(|e| err(&e))?;
            if mount_id(&dir).map_err(|e| err(&e))? != m.below {
                return Err("the user's bind is not what is left".into());
            }
            // Done twice: nothing more to do.
            m.detach(&dir).map_err(|e| err(&e))?;
            if mount_id(&dir).map_err(|e| err(&e))? != m.below {
                return Err("the second detach took the user's bind".into());
            }
            Ok(String::new())
        });
        let _ = std::fs::remove_dir_all(&dir);
        match outcome {
            crate::security::testutil::Outcome::Exited(_) => {}
            other => panic!("{other:?}"),
        }
    }
}
