//! Attacks on the runtime, one module per class of runc advisory. Each test builds the hostile
//! bundle (or runs the hostile step next to a container, as another container sharing its
//! volume would), and asserts both that hull refused or contained it AND that nothing on the
//! host changed. Where it was cheap, the same bundle was run against runc 1.1.5 (the
//! reference runtime here) and what it did is noted in a comment; those runs are not part of
//! the tests, since 1.1.5 is vulnerable to several of these.
//!
//! docs/SECURITY.md lists every class with its test.

mod common;

// Paths inside the rootfs and mount targets.
mod console;
mod host_files;
mod image_layers;
mod lsm_proc;
mod masked_null;
mod mount_race;
mod proc_symlink;

// Fds that reach the container, exec --cap, device rules, SIGKILL during create, and load.
mod churn;
mod device_rules;
mod exec_cap;
mod killed_create;
mod leftovers;
mod passed_fds;

// The runtime binary (CVE-2019-5736).
mod binary;
