//! The system calls of this crate that rustix does not offer. Every unsafe block of
//! hull-cgroups lives under this module (the crate root denies unsafe code elsewhere), each
//! with a `// SAFETY:` line.

pub mod bpf;
