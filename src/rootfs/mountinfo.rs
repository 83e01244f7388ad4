//! /proc/self/mountinfo for the rootfs and state code: the workspace's one parser
//! (hull-cgroups'), with errors in the runtime's type.

pub use hull_cgroups::mountinfo::{mount_of, MountInfo};

use crate::{Context, Result};

/// The mount table of the calling process, read from the procfs at `/proc`.
pub fn read_self() -> Result<Vec<MountInfo>> {
    hull_cgroups::mountinfo::read_self().ctx("read /proc/self/mountinfo")
}
