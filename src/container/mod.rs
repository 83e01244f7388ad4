//! Container operations, one file each, on top of the on-disk state.

pub mod cgroup;
pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod exec;
pub mod kill;
pub mod restore;
pub mod start;
pub mod state;

pub use state::{Dir, State, Status};
