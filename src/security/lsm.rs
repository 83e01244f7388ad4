//! What AppArmor and SELinux settings need from the host, decided while validating
//! (before anything is created), and the trusted way to write /proc attributes.

use crate::procfs::{Base, Proc};
use crate::{Error, Result};

/// Which LSMs the host has enabled; [`Host::detect`] asks the running kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    pub apparmor: bool,
    pub selinux: bool,
}

impl Host {
    pub fn detect() -> Self {
        Host {
            apparmor: super::apparmor::is_enabled(),
            selinux: super::selinux::is_enabled(),
        }
    }
}

/// The LSM fields of a config (or of an exec's process, --apparmor/--process-label).
#[derive(Debug, Default, Clone, Copy)]
pub struct Labels<'a> {
    pub apparmor_profile: Option<&'a str>,
    pub selinux_label: Option<&'a str>,
    pub mount_label: Option<&'a str>,
}

fn set(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

/// Refuse labels the host cannot apply. runc refuses a SELinux process label up front
/// with this same message; an AppArmor profile or a mount label makes runc fail later,
/// inside init (writing attr/exec, or mounting with context=), both with EINVAL. hull
/// fails the same configs, only before anything exists, with a message that says why.
pub fn check(labels: &Labels<'_>, host: Host) -> Result<()> {
    if let Some(p) = set(labels.apparmor_profile) {
        if !host.apparmor {
            return Err(Error::invalid(format!(
                "process.apparmorProfile {p:?} is specified in config, but apparmor is not enabled on this host"
            )));
        }
    }
    if set(labels.selinux_label).is_some() && !host.selinux {
        return Err(Error::invalid(
            "selinux label is specified in config, but selinux is disabled or not supported",
        ));
    }
    if set(labels.mount_label).is_some() && !host.selinux {
        return Err(Error::invalid(
            "linux.mountLabel is specified in config, but selinux is disabled or not supported",
        ));
    }
    Ok(())
}

/// Write `value` to /proc/thread-self/<attr> through the runtime's verified procfs, so a
/// container that controls what is mounted on its /proc (a volume there, a tmpfs with a fake
/// attr/exec) cannot turn the label into a write to a file of its choosing (CVE-2019-16884).
pub(crate) fn write_thread_attr(attr: &str, value: &str) -> Result<()> {
    Proc::get()?.write(Base::ProcThreadSelf, attr, value)
}

/// Whether /proc/thread-self/<attr> exists (through the verified handle).
pub(crate) fn thread_attr_exists(attr: &str) -> bool {
    Proc::get().is_ok_and(|p| p.exists(Base::ProcThreadSelf, attr))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Host = Host {
        apparmor: false,
        selinux: false,
    };
    const BOTH: Host = Host {
        apparmor: true,
        selinux: true,
    };

    #[test]
    fn empty_labels_need_nothing() {
        let empty = Labels {
            apparmor_profile: Some(""),
            selinux_label: Some(""),
            mount_label: None,
        };
        check(&empty, NONE).unwrap();
        check(&Labels::default(), NONE).unwrap();
    }

    #[test]
    fn labels_on_a_host_without_the_lsm_are_refused() {
        let aa = Labels {
            apparmor_profile: Some("docker-default"),
            ..Default::default()
        };
        let e = check(&aa, NONE).unwrap_err().to_string();
        assert!(e.contains("apparmorProfile \"docker-default\""), "{e}");
        check(&aa, BOTH).unwrap();

        let se = Labels {
            selinux_label: Some("system_u:system_r:container_t:s0"),
            ..Default::default()
        };
        assert_eq!(
            check(&se, NONE).unwrap_err().to_string(),
            "selinux label is specified in config, but selinux is disabled or not supported"
        );
        check(&se, BOTH).unwrap();

        let ml = Labels {
            mount_label: Some("system_u:object_r:container_file_t:s0"),
            ..Default::default()
        };
        assert!(check(&ml, NONE)
            .unwrap_err()
            .to_string()
            .contains("mountLabel"));
        check(&ml, BOTH).unwrap();
    }

    /// This host has neither LSM: detection must say so (the assertion follows what
    /// the kernel exposes, so it also holds on a host that has them).
    #[test]
    fn detection_follows_the_kernel() {
        let host = Host::detect();
        assert_eq!(
            host.apparmor,
            std::path::Path::new("/sys/kernel/security/apparmor").exists()
                && std::fs::read("/sys/module/apparmor/parameters/enabled")
                    .is_ok_and(|b| b.first() == Some(&b'Y'))
        );
        let lsms = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
        if !lsms.split(',').any(|l| l == "selinux") {
            assert!(!host.selinux);
        }
    }

    /// CVE-2019-16884: with a tmpfs over /proc holding a fake attr/exec (a volume at /proc,
    /// or the container's own mount), the label write still goes to the kernel's procfs and
    /// the fake file stays empty.
    #[test]
    fn attribute_writes_ignore_what_is_mounted_on_proc() {
        if !crate::security::testutil::is_root() {
            return crate::security::testutil::skip("needs root to mount over /proc");
        }
        let outcome = crate::security::testutil::in_child(|| {
            use rustix::mount::{mount, mount_change, MountFlags, MountPropagationFlags};
            crate::sys::clone::unshare(rustix::thread::UnshareFlags::NEWNS)
                .map_err(|e| format!("unshare: {e}"))?;
            mount_change(
                "/",
                MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
            )
            .map_err(|e| format!("rslave: {e}"))?;
            mount("tmpfs", "/proc", "tmpfs", MountFlags::empty(), None)
                .map_err(|e| format!("tmpfs on /proc: {e}"))?;
            std::fs::create_dir_all("/proc/thread-self/attr").map_err(|e| e.to_string())?;
            std::fs::write("/proc/thread-self/attr/exec", b"").map_err(|e| e.to_string())?;
            let result = write_thread_attr("attr/exec", "exec unconfined");
            let fake = std::fs::read("/proc/thread-self/attr/exec").map_err(|e| e.to_string())?;
            if !fake.is_empty() {
                return Err(format!("the label went to the fake file: {fake:?}"));
            }
            Ok(format!("{result:?}"))
        });
        match outcome {
            crate::security::testutil::Outcome::Exited(_) => {}
            other => panic!("{other:?}"),
        }
    }

    /// Writing an attribute no LSM provides fails, and the error names the file.
    #[test]
    fn attribute_write_goes_through_procfs() {
        if Host::detect().apparmor {
            return;
        }
        let e = write_thread_attr("attr/apparmor/exec", "exec x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/proc/thread-self/attr/apparmor/exec"), "{e}");
        assert!(thread_attr_exists("attr/current"));
        assert!(!thread_attr_exists("attr/no-such-attribute"));
    }
}
