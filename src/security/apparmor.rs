//! AppArmor (`process.apparmorProfile`, `exec --apparmor`), as runc applies it: the
//! profile is set for the next execve by writing "exec <profile>" to the process's
//! exec attribute, which is what libapparmor's aa_change_onexec does.

use std::path::Path;

use crate::Result;

/// AppArmor is enabled when securityfs exposes it and the module says so.
pub fn is_enabled() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|b| b.first() == Some(&b'Y'))
}

/// The write that applying a profile takes: which /proc/thread-self attribute, and
/// what goes in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub attr: &'static str,
    pub value: String,
}

/// What applying `profile` writes. `per_lsm_attrs` says whether the kernel has the
/// per-LSM directory attr/apparmor/ (5.8+, needed when several LSMs are stacked);
/// older kernels only have the shared attr/exec. An empty profile writes nothing.
pub fn plan(profile: &str, per_lsm_attrs: bool) -> Option<Write> {
    if profile.is_empty() {
        return None;
    }
    Some(Write {
        attr: if per_lsm_attrs {
            "attr/apparmor/exec"
        } else {
            "attr/exec"
        },
        value: format!("exec {profile}"),
    })
}

/// Make the next execve enter `profile`. Called in init (or the exec'd process) just
/// before execve; [`super::lsm::check`] has already refused a profile on a host
/// without AppArmor.
pub fn apply(profile: &str) -> Result<()> {
    let per_lsm = super::attr::thread_attr_exists("attr/apparmor");
    match plan(profile, per_lsm) {
        None => Ok(()),
        Some(w) => super::attr::write_thread_attr(w.attr, &w.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The host has no AppArmor: these tests check the decision and the bytes that
    // would be written, not an applied profile.
    #[test]
    fn plan_writes_exec_profile_to_the_right_attribute() {
        assert_eq!(plan("", true), None);
        assert_eq!(
            plan("docker-default", true),
            Some(Write {
                attr: "attr/apparmor/exec",
                value: "exec docker-default".into()
            })
        );
        assert_eq!(plan("unconfined", false).unwrap().attr, "attr/exec");
    }

    #[test]
    fn empty_profile_is_a_no_op_everywhere() {
        apply("").unwrap();
    }
}
