//! Seccomp filters from linux.seccomp.
