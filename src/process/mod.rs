//! The spawn path: the runtime side (`spawn`), the container side (`init`), the channel between
//! them, and the process attributes both init and exec apply (`attrs`).

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
