//! Thin wrappers for system calls that nix and rustix lack. Every unsafe block of the runtime
//! lives under this module, one file per syscall family; the crate root denies unsafe code
//! everywhere else.

pub mod clone;
pub mod exec;
pub mod memory;
pub mod mount;
pub mod process;
pub mod sched;
pub mod seccomp;
pub mod socket;
#[cfg(test)]
pub mod testing;
pub mod tty;
