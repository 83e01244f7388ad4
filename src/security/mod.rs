//! What limits the container's process: capabilities, seccomp, no_new_privs and the
//! LSM labels (AppArmor, SELinux).
//!
//! How the runtime calls this module:
//!
//! | where | when | call |
//! |---|---|---|
//! | parent (create, exec) | while validating, before any clone | [`lsm::check`], [`seccomp::compile`] (with the cache dir under the runtime root) |
//! | init | after pivot_root, before switching user | [`apparmor::apply`] / [`selinux::set_exec_label`], [`capabilities::drop_bounding`] |
//! | init | after setuid (with PR_SET_KEEPCAPS) | [`capabilities::apply`] (keeping CAP_SYS_ADMIN for the filter when no_new_privs is off), then [`set_no_new_privs`] when `process.noNewPrivileges` |
//! | init | last, before execve | [`seccomp::load`], then [`capabilities::finish`] |
//! | parent | after init wrote the listener's fd number | pidfd_getfd, [`seccomp::send_listener`] |
//! | `features` | | [`capabilities::known`], [`seccomp::features`], [`apparmor::is_enabled`], [`selinux::is_enabled`] |
//!
//! Seccomp is loaded last so that no system call of the runtime's own runs under a filter
//! the runtime did not write for itself. Without no_new_privs, loading needs
//! CAP_SYS_ADMIN: runc loads the filter before the user switch then; hull keeps
//! CAP_SYS_ADMIN until the filter is in and drops it with one capset(2).

pub mod apparmor;
mod attr;
pub mod capabilities;
pub mod lsm;
pub mod sealed_exe;
pub mod seccomp;
pub mod selinux;

#[cfg(test)]
pub(crate) mod testutil;

use crate::{Context, Result};

/// Set no_new_privs: execve can no longer grant privileges (setuid bits, file caps),
/// and a seccomp filter can be loaded without CAP_SYS_ADMIN.
pub fn set_no_new_privs() -> Result<()> {
    rustix::thread::set_no_new_privs(true).ctx("set no_new_privs")
}
