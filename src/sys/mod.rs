//! Thin wrappers for system calls that nix and rustix lack. Every unsafe block of the runtime
//! lives under this module, one file per syscall family.

pub mod clone;
pub mod exec;
pub mod mount;
pub mod process;
pub mod sched;
pub mod seccomp;
pub mod socket;
pub mod tty;
