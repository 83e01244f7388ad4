//! hull: an OCI container runtime. The CLI (src/cli) is a thin layer over this library.

#![deny(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod container;
pub mod criu;
pub mod error;
pub mod fault;
pub mod features;
pub mod hooks;
pub mod io;
pub mod log;
pub mod namespaces;
pub mod netdev;
pub mod openat2;
pub mod plan;
pub mod process;
pub mod procfs;
pub mod resctrl;
pub mod rootfs;
pub mod security;
pub mod spec;
// The only place unsafe code is allowed: each block with a `// SAFETY:` line.
#[allow(unsafe_code)]
pub mod sys;

pub use error::{Context, Error, Result};

/// The runtime-spec version hull implements.
pub const OCI_VERSION: &str = "1.3.0";
