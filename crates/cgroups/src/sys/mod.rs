//! The system calls of this crate that neither nix nor rustix offers. Every unsafe block of
//! hull-cgroups lives under this module (the crate root denies unsafe code elsewhere), each
//! with a `// SAFETY:` line.

pub mod bpf;
