//! hull-image: turns OCI images into runtime bundles, flattened into `BUNDLE/rootfs` or
//! mounted as overlayfs over layers extracted once into a shared store.

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
