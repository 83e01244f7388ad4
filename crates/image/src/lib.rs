//! hull-image: turns OCI images (from a registry, a layout or an archive) into runtime
//! bundles, flattened into `BUNDLE/rootfs` or mounted as overlayfs over layers extracted
//! once into a shared store; and a bundle's changes back into an image (`repack`).
//! The registry client (`registry`) is blocking ureq on rustls: see its module docs for
//! why.

// No unsafe code: every system call goes through rustix.
#![forbid(unsafe_code)]

pub mod digest;
pub mod error;
pub mod image;
pub mod layer;
pub mod owner;
pub mod reference;
pub mod registry;
pub mod repack;
pub mod resolve;
pub mod show;
pub mod source;
pub mod spec;
pub mod store;
pub mod tree;
pub mod unpack;
pub mod user;

pub use error::{Error, Result};
