//! linux.sysctl: which keys a container may set given its namespaces, and where each key lives
//! under /proc/sys.
//!
//! /proc/sys is not namespaced as a whole. A sysctl written for a container lands in the
//! namespace init is in; for a key that is not namespaced at all (kernel.core_pattern,
//! kernel.ns_last_pid...), or whose namespace the container shares with the host, that is the
//! host's value. The config is trusted, so this is about mistakes, not malice; the rules are
//! runc's (libcontainer/configs/validate, `sysctl`), the same in 1.1.5 and 1.4:
//!
//! - the IPC keys below and `fs.mqueue.*` need an ipc namespace (new or joined by path);
//! - `net.*` needs a network namespace that is not the runtime's own;
//! - with a uts namespace, `kernel.domainname` is allowed and `kernel.hostname` refused (the
//!   `hostname` field sets it);
//! - anything else is refused.

use std::os::unix::fs::MetadataExt;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::{Error, Result};

/// The kernel.* sysctls that belong to the ipc namespace.
const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// A key in dotted form. sysctl(8) takes `/` as separator too, and then a `.` inside a
/// component is part of the name: `net/ipv4/conf/eth0.100/rp_filter` is
/// `net.ipv4.conf.eth0/100.rp_filter`. The form is set by the first separator in the key.
pub fn dotted(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => key
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// The path of a key relative to /proc/sys (`net/ipv4/conf/eth0.100/rp_filter`).
pub fn proc_path(key: &str) -> Result<String> {
    let parts: Vec<String> = dotted(key)
        .split('.')
        .map(|c| c.replace('/', "."))
        .collect();
    if parts
        .iter()
        .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\0'))
    {
        return Err(Error::invalid(format!(
            "linux.sysctl {key:?}: not a sysctl name"
        )));
    }
    Ok(parts.join("/"))
}

/// One linux.sysctl entry, checked: its key as written, its path under /proc/sys, its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub path: String,
    pub value: String,
}

/// Checks every key against the container's namespaces (runc's rules, see the module
/// comment). Keys are checked in sorted order, so the error is the same on every run.
pub fn check(spec: &Spec) -> Result<Vec<Entry>> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(Vec::new());
    };
    let mut keys: Vec<&String> = sysctl.keys().collect();
    keys.sort();
    let has = |typ| super::namespace(spec, typ);
    let mut entries = Vec::with_capacity(keys.len());
    for key in keys {
        entries.push(Entry {
            key: key.clone(),
            path: proc_path(key)?,
            value: sysctl[key].clone(),
        });
        let name = dotted(key);
        if IPC_KEYS.contains(&name.as_str()) || name.starts_with("fs.mqueue.") {
            if has(LinuxNamespaceType::Ipc).is_none() {
                return Err(Error::invalid(format!(
                    "linux.sysctl {key:?}: not allowed in the host's ipc namespace (linux.namespaces has no ipc namespace)"
                )));
            }
            continue;
        }
        if name.starts_with("net.") {
            let host = match has(LinuxNamespaceType::Network) {
                None => true,
                Some(None) => false,
                Some(Some(path)) => is_runtime_netns(&path)?,
            };
            if host {
                return Err(Error::invalid(format!(
                    "linux.sysctl {key:?}: not allowed in the host's network namespace (linux.namespaces has no network namespace of the container's own)"
                )));
            }
            continue;
        }
        if has(LinuxNamespaceType::Uts).is_some() {
            match name.as_str() {
                "kernel.domainname" => continue,
                "kernel.hostname" => {
                    return Err(Error::invalid(format!(
                        "linux.sysctl {key:?}: not allowed, it conflicts with the hostname field"
                    )))
                }
                _ => {}
            }
        }
        return Err(Error::invalid(format!(
            "linux.sysctl {key:?}: not in a separate kernel namespace (only namespaced sysctls may be set for a container)"
        )));
    }
    Ok(entries)
}

/// Whether a network namespace path is the one the runtime itself is in ("host" here means
/// the runtime's, as for runc).
fn is_runtime_netns(path: &std::path::Path) -> Result<bool> {
    let stat = |p: &std::path::Path| {
        std::fs::metadata(p).map_err(|e| {
            Error::invalid(format!(
                "linux.namespaces: network namespace path {}: {e}",
                p.display()
            ))
        })
    };
    let ours = stat(std::path::Path::new("/proc/self/ns/net"))?;
    let theirs = stat(path)?;
    Ok((ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(namespaces: &[&str], sysctl: serde_json::Value) -> Spec {
        let mut v: serde_json::Value = serde_json::from_str(crate::spec::DEFAULT_SPEC).unwrap();
        v["linux"]["namespaces"] = namespaces
            .iter()
            .map(|t| serde_json::json!({"type": t}))
            .collect();
        v["linux"]["sysctl"] = sysctl;
        crate::spec::parse(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn slash_form_keys_keep_dots_inside_components() {
        assert_eq!(
            dotted("net/ipv4/conf/eth0.100/rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(dotted("net.ipv4.ip_forward"), "net.ipv4.ip_forward");
        assert_eq!(
            proc_path("net/ipv4/conf/eth0.100/rp_filter").unwrap(),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(proc_path("kernel.shmmax").unwrap(), "kernel/shmmax");
        for bad in [
            "kernel..shmmax",
            "net/../kernel/core_pattern",
            ".kernel",
            "",
        ] {
            assert!(proc_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_follow_the_namespaces_the_container_has() {
        let all = ["mount", "pid", "ipc", "uts", "network"];
        let ok = |ns: &[&str], key: &str| check(&spec(ns, serde_json::json!({key: "1"}))).is_ok();
        for key in [
            "kernel.shmmax",
            "kernel.msgmnb",
            "kernel.shm_rmid_forced",
            "fs.mqueue.queues_max",
            "net.ipv4.ip_forward",
            "net/ipv4/ip_forward",
            "kernel.domainname",
        ] {
            assert!(ok(&all, key), "{key} with every namespace");
        }
        assert!(!ok(&["mount", "network", "uts"], "kernel.shmmax"));
        assert!(!ok(&["mount", "network", "uts"], "fs.mqueue.msg_max"));
        assert!(!ok(&["mount", "ipc", "uts"], "net.ipv4.ip_forward"));
        assert!(!ok(&["mount", "ipc", "network"], "kernel.domainname"));
        for key in [
            "kernel.hostname",
            "kernel.core_pattern",
            "kernel.ns_last_pid",
            "vm.overcommit_memory",
            "kernel.msgmax_not",
        ] {
            assert!(!ok(&all, key), "{key} must be refused");
        }
    }

    #[test]
    fn a_joined_netns_that_is_the_runtimes_is_the_host() {
        let mut s = spec(&["mount"], serde_json::json!({"net.ipv4.ip_forward": "1"}));
        let ns = |path: &str| {
            serde_json::from_value::<oci_spec::runtime::LinuxNamespace>(
                serde_json::json!({"type": "network", "path": path}),
            )
            .unwrap()
        };
        let mut linux = s.linux().clone().unwrap();
        linux.set_namespaces(Some(vec![ns("/proc/self/ns/net")]));
        s.set_linux(Some(linux));
        let err = check(&s).unwrap_err().to_string();
        assert!(err.contains("host's network namespace"), "{err}");
    }

    #[test]
    fn errors_name_the_key_and_are_stable() {
        let s = spec(
            &["mount"],
            serde_json::json!({"kernel.shmmax": "1", "kernel.core_pattern": "x", "net.a": "1"}),
        );
        let first = check(&s).unwrap_err().to_string();
        assert!(
            first.starts_with("linux.sysctl \"kernel.core_pattern\""),
            "{first}"
        );
        for _ in 0..5 {
            assert_eq!(check(&s).unwrap_err().to_string(), first);
        }
    }
}
