//! Capability sets of the container process.
