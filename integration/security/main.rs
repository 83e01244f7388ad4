//! Attacks on the runtime, one module per class of runc advisory. Each test builds the hostile
//! bundle (or runs the hostile step next to a container), and asserts both that hull refused
//! or contained it AND that nothing on the host changed.
//!
//! docs/SECURITY.md lists every class with its test.

// Fds that reach the container, exec --cap, device rules, SIGKILL during create, and load.
mod churn;
mod device_rules;
mod exec_cap;
mod killed_create;
mod leftovers;
mod passed_fds;
