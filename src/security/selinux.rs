//! SELinux (`process.selinuxLabel`, `linux.mountLabel`, `exec --process-label`), as
//! runc applies it through go-selinux: the process label is set for the next execve
//! (attr/exec) and for keys it creates (attr/keycreate); the mount label becomes a
//! `context="..."` mount option.

use crate::Result;

const SELINUX_MAGIC: i64 = 0xf97c_ff8c;

/// SELinux is enabled when selinuxfs is mounted and the process has a context other
/// than "kernel" (what go-selinux checks).
pub fn is_enabled() -> bool {
    let fs = rustix::fs::statfs("/sys/fs/selinux")
        .is_ok_and(|s| s.f_type == SELINUX_MAGIC as rustix::fs::FsWord);
    if !fs {
        return false;
    }
    let current = crate::procfs::Proc::get()
        .and_then(|p| p.read(crate::procfs::Base::ProcThreadSelf, "attr/current"));
    current.is_ok_and(|c| {
        !c.trim_end_matches(['\0', '\n']).is_empty() && c.trim_end_matches(['\0', '\n']) != "kernel"
    })
}

/// Label the next execve. Empty does nothing.
pub fn set_exec_label(label: &str) -> Result<()> {
    if label.is_empty() {
        return Ok(());
    }
    super::attr::write_thread_attr("attr/exec", label)
}

/// Label keys the process creates (its session keyring). Without SELinux there is
/// nothing to write; runc ignores the attribute missing too.
pub fn set_key_label(label: &str) -> Result<()> {
    if label.is_empty() || !is_enabled() {
        return Ok(());
    }
    super::attr::write_thread_attr("attr/keycreate", label)
}

/// Mount data with the mount label added, as go-selinux formats it.
pub fn format_mount_label(data: &str, mount_label: &str) -> String {
    match (data.is_empty(), mount_label.is_empty()) {
        (_, true) => data.to_string(),
        (true, false) => format!("context={mount_label:?}"),
        (false, false) => format!("{data},context={mount_label:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The host has no SELinux: these check the decisions and the strings produced.
    #[test]
    fn mount_label_is_a_quoted_context_option() {
        assert_eq!(format_mount_label("mode=755", ""), "mode=755");
        assert_eq!(
            format_mount_label("", "system_u:object_r:container_file_t:s0:c1,c2"),
            "context=\"system_u:object_r:container_file_t:s0:c1,c2\""
        );
        assert_eq!(
            format_mount_label("mode=755,size=65536k", "x_u:x_r:x_t:s0"),
            "mode=755,size=65536k,context=\"x_u:x_r:x_t:s0\""
        );
    }

    #[test]
    fn empty_labels_write_nothing() {
        set_exec_label("").unwrap();
        set_key_label("").unwrap();
    }
}
