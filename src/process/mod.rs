//! The spawn path of init and exec alike: the runtime side (`spawn`: clone, channel, seccomp
//! notify relay, reap), init's side (`init`; exec's child is in `container/exec.rs`), the
//! channel between them, and the process attributes both init and exec apply (`attrs`).

pub mod affinity;
pub mod attrs;
pub mod channel;
pub mod fds;
pub mod foreground;
pub mod idle;
pub mod idmap;
pub mod init;
pub mod mempolicy;
pub mod personality;
pub mod sched;
pub mod spawn;
