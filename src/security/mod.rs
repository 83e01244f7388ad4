//! What limits the container's process: capabilities, seccomp, no_new_privs, LSM labels.

pub mod capabilities;
pub mod seccomp;

use crate::{Context, Result};

pub fn set_no_new_privs() -> Result<()> {
    nix::sys::prctl::set_no_new_privs().ctx("set no_new_privs")
}
