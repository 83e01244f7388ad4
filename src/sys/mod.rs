//! Thin wrappers for system calls that rustix (the runtime's system-call layer) lacks, or
//! wraps in a form that does not fit: each file says which and why. Every unsafe block of the
//! runtime lives under this module, one file per syscall family; the crate root denies unsafe
//! code everywhere else.

pub mod clone;
pub mod exec;
pub mod memory;
pub mod mount;
mod pid;
pub mod process;
pub mod sched;
pub mod seccomp;
pub mod signal;
pub mod socket;
#[cfg(test)]
pub mod testing;

pub use pid::Pid;

/// errno of the libc call that just failed, as rustix's error type.
fn last_errno() -> rustix::io::Errno {
    rustix::io::Errno::from_io_error(&std::io::Error::last_os_error())
        .unwrap_or(rustix::io::Errno::IO)
}
