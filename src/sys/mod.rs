//! Thin wrappers for system calls that nix and rustix lack. Every unsafe block lives here.
pub mod seccomp;
