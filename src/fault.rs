//! Fault injection for the tests: `HULL_TEST_FAULT=<step>` makes the runtime SIGKILL itself
//! when it reaches that step of `create`, so the tests can check that `delete --force` removes
//! whatever a create killed at that point left behind. Compiled into debug builds only (the
//! ones the tests run); in a release build [`point`] is empty.

/// Every step [`point`] is called with, in create's order (the tests iterate over these).
pub const CREATE_STEPS: &[&str] = &[
    "create:dir",
    "create:recorded",
    "create:fifo",
    "create:cgroup",
    "create:cloned",
    "create:in-cgroup",
    "create:continued",
    "create:ready",
    "create:saved",
    "create:pid-file",
    "create:released",
];

/// Dies here by SIGKILL if the tests asked for this step.
#[cfg(debug_assertions)]
pub fn point(step: &str) {
    static WANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let wanted = WANTED.get_or_init(|| std::env::var("HULL_TEST_FAULT").ok());
    if wanted.as_deref() == Some(step) {
        let me = rustix::process::getpid();
        let _ = rustix::process::kill_process(me, rustix::process::Signal::KILL);
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_step: &str) {}

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_names_every_point_in_create() {
        let source = include_str!("container/create.rs");
        let named: Vec<&str> = source
            .split("fault::point(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert_eq!(named, super::CREATE_STEPS);
    }
}
