//! What init gives back before it blocks on the exec fifo.
//!
//! A waiting init is a clone of the runtime: it maps hull's binary and its libraries, and keeps
//! the heap and stack it inherited. Its smaps, alone on the machine (release build, default
//! bundle): of ~3.2 MiB resident, 1.8 MiB are hull's code and 0.3 MiB its read-only data, file
//! pages this one process maps (so they count fully to its PSS), 0.6 MiB libc's code (shared:
//! ~20 KiB of PSS), and 0.47 MiB anonymous memory: 184 KiB of relocated RELRO data, 112 KiB
//! of heap, 76 KiB of stack, the rest the libraries' data and .bss. None of the code and
//! read-only data is needed while init waits, and the few pages it runs after `start` fault
//! back in from the page cache, so their page-table entries are dropped here; so is the stack
//! below the current frame (what the deeper calls of setting up left), and malloc's free
//! memory goes back. What stays: the RELRO pages (relocated, so not the file's), the live
//! heap (the parsed config and the runtime's state, which init's frames still refer to) and
//! the stack above the current frame.
//!
//! Only where the container's seccomp filter (loaded before the wait, unless it is a notify
//! filter) lets init make those calls: a profile that kills or traps on `madvise` or `brk`
//! must not see init make them, so unless the config allows both explicitly (Docker's and
//! podman's profiles do), init keeps its memory.

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

use crate::sys;

/// The calls made here: madvise (MADV_DONTNEED), and brk with madvise for malloc_trim.
const CALLS: &[&str] = &["madvise", "brk"];

/// Whether init may give memory back while it waits under linux.seccomp `filter` (decided
/// when the plan is built).
pub fn may_trim(filter: Option<&LinuxSeccomp>) -> bool {
    filter.is_none_or(|f| CALLS.iter().all(|call| allows(f, call)))
}

/// Gives back what init does not need while it waits (see the module comment), when
/// [`may_trim`] said it may.
pub fn before_wait(may_trim: bool) {
    if !may_trim {
        return;
    }
    sys::memory::trim_heap();
    sys::memory::drop_stack_below_caller();
    sys::memory::drop_readonly_segments();
}

/// Whether the filter the config describes surely lets `call` through, whatever its
/// arguments: allowed (or logged) by default with no rule naming it, or named by an
/// unconditional allow rule and by no other rule.
fn allows(filter: &LinuxSeccomp, call: &str) -> bool {
    let passes = |a: LinuxSeccompAction| {
        matches!(
            a,
            LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
        )
    };
    let rules: Vec<_> = filter
        .syscalls()
        .iter()
        .flatten()
        .filter(|rule| rule.names().iter().any(|n| n == call))
        .collect();
    if rules.is_empty() {
        return passes(filter.default_action());
    }
    rules
        .iter()
        .all(|rule| passes(rule.action()) && rule.args().as_ref().is_none_or(|a| a.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn only_a_filter_that_surely_allows_the_calls_lets_init_make_them() {
        let allow_all = filter(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        assert!(allows(&allow_all, "madvise"));
        let listed = filter(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["brk", "madvise", "read"], "action": "SCMP_ACT_ALLOW"}]
        }));
        assert!(allows(&listed, "madvise") && allows(&listed, "brk"));
        let unlisted = filter(serde_json::json!({
            "defaultAction": "SCMP_ACT_KILL_PROCESS",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
        }));
        assert!(!allows(&unlisted, "madvise"));
        let conditional = filter(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["madvise"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 2, "value": 4, "op": "SCMP_CMP_NE"}]}]
        }));
        assert!(!allows(&conditional, "madvise"));
        let trapped = filter(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["madvise"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        assert!(!allows(&trapped, "madvise"));
        // The engines' default profiles allow both.
        let docker: LinuxSeccomp =
            serde_json::from_str(include_str!("../security/testdata/docker-default.json")).unwrap();
        assert!(CALLS.iter().all(|c| allows(&docker, c)));
    }
}
