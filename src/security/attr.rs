//! The trusted way to read and write the LSM attributes of /proc/thread-self, shared by
//! AppArmor and SELinux (a leaf: [`super::lsm`] asks those modules whether the host has them,
//! they come here to write).

use crate::procfs::{Base, Proc};
use crate::Result;

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
        if thread_attr_exists("attr/apparmor/exec") {
            return crate::security::testutil::skip("the host has AppArmor: the attribute exists");
        }
        let e = write_thread_attr("attr/apparmor/exec", "exec x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/proc/thread-self/attr/apparmor/exec"), "{e}");
        assert!(thread_attr_exists("attr/current"));
        assert!(!thread_attr_exists("attr/no-such-attribute"));
    }
}
