//! linux.intelRdt through the resctrl filesystem: the container's processes go into a resctrl
//! group (a "class of service", `closID`), whose `schemata` holds its cache and memory
//! bandwidth allocations, and, with `enableMonitoring`, into a monitoring group of their own.
//!
//! The rules are the runtime-spec 1.3's (config-linux.md "IntelRdt") and runc 1.4's:
//! - no resctrl mounted in the runtime's mount namespace: an error (the spec's MUST);
//! - the group is `closID`, or the container id; a `closID` of `.`, `..` or with `/` is
//!   refused, and so are resctrl's own names in its root (info, mon_groups, mon_data);
//! - `l3CacheSchema` and `memBwSchema` are written together (the MB: line of the first
//!   replaced by the second), then `schemata`; for a group that already exists they must
//!   match what its schemata file holds; a `closID` with no schema must exist already;
//! - `l3CacheSchema` needs L3 allocation (info/L3), `memBwSchema` memory bandwidth allocation
//!   (info/MB), monitoring needs info/L3_MON; a host without them refuses the field;
//! - the deprecated `enableCMT`/`enableMBM` ask for monitoring too.
//!
//! What create made is recorded before it is made (the creating record), so `delete` removes
//! it even after a killed create; a group that existed before is left as it was.
//!
//! This development machine has no resctrl: the tests drive the same code against a
//! directory laid out like one (`tests` below), and on a real host only what the kernel does
//! with the writes is unverified.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIntelRdt, Spec};
use serde::{Deserialize, Serialize};

use crate::{Context, Error, Result};

/// Names in the root of a resctrl filesystem that are not groups.
const RESERVED: &[&str] = &["info", "mon_groups", "mon_data"];

/// What a container has in resctrl, as recorded in its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// The group's directory.
    pub group: PathBuf,
    /// Whether this container made the group (and so removes it).
    pub created: bool,
    /// The container's monitoring group, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mon_group: Option<PathBuf>,
}

/// Where resctrl is mounted in the runtime's mount namespace, from /proc/self/mountinfo.
pub fn mount_point() -> Option<PathBuf> {
    hull_cgroups::mountinfo::read_self()
        .ok()?
        .into_iter()
        .find(|m| m.fstype == "resctrl")
        .map(|m| m.mount_point)
}

fn monitoring(rdt: &LinuxIntelRdt) -> bool {
    #[allow(deprecated)]
    let old = rdt.enable_cmt().unwrap_or(false) || rdt.enable_mbm().unwrap_or(false);
    rdt.enable_monitoring().unwrap_or(false) || old
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// The lines written to the group's schemata file, in order: l3CacheSchema and memBwSchema
/// combined, then `schemata` (the spec orders it last).
fn schemata_writes(rdt: &LinuxIntelRdt) -> Vec<String> {
    let mut writes = Vec::new();
    let l3 = nonempty(rdt.l3_cache_schema());
    let mb = nonempty(rdt.mem_bw_schema());
    match (l3, mb) {
        (Some(l3), Some(mb)) => {
            let mut lines: Vec<&str> = l3
                .lines()
                .filter(|l| !l.trim_start().starts_with("MB:"))
                .collect();
            lines.push(mb);
            writes.push(lines.join("\n"));
        }
        (Some(one), None) | (None, Some(one)) => writes.push(one.to_string()),
        (None, None) => {}
    }
    if let Some(lines) = rdt.schemata().as_ref().filter(|l| !l.is_empty()) {
        writes.push(lines.join("\n"));
    }
    writes
}

/// Checks linux.intelRdt against the config and the host: `plan` returns where the
/// container's group will be, and whether create will make it.
pub fn plan(spec: &Spec, id: &str) -> Result<Option<Saved>> {
    let Some(rdt) = spec.linux().as_ref().and_then(|l| l.intel_rdt().as_ref()) else {
        return Ok(None);
    };
    let Some(mount) = mount_point() else {
        return Err(Error::invalid(
            "linux.intelRdt: no resctrl filesystem is mounted on this host (Intel RDT needs one, e.g. at /sys/fs/resctrl)",
        ));
    };
    plan_in(&mount, rdt, id).map(Some)
}

fn plan_in(mount: &Path, rdt: &LinuxIntelRdt, id: &str) -> Result<Saved> {
    let clos = nonempty(rdt.clos_id());
    if let Some(c) = clos {
        if c == "." || c == ".." || c.contains(['/', '\n', '\0']) || RESERVED.contains(&c) {
            return Err(Error::invalid(format!(
                "linux.intelRdt.closID {c:?}: not a resctrl group name"
            )));
        }
    }
    if let Some(l3) = nonempty(rdt.l3_cache_schema()) {
        if !mount.join("info/L3").exists() {
            return Err(Error::invalid(format!(
                "linux.intelRdt.l3CacheSchema {l3:?}: this host's resctrl has no L3 cache allocation (Intel RDT/CAT)"
            )));
        }
    }
    if let Some(mb) = nonempty(rdt.mem_bw_schema()) {
        // The spec's MUSTs for this one.
        if !mb.starts_with("MB:") || mb.contains('\n') {
            return Err(Error::invalid(format!(
                "linux.intelRdt.memBwSchema {mb:?}: must be one line starting with MB:"
            )));
        }
        if !mount.join("info/MB").exists() {
            return Err(Error::invalid(format!(
                "linux.intelRdt.memBwSchema {mb:?}: this host's resctrl has no memory bandwidth allocation (Intel RDT/MBA)"
            )));
        }
    }
    if let Some(lines) = rdt.schemata() {
        if let Some((i, l)) = lines
            .iter()
            .enumerate()
            .find(|(_, l)| l.contains('\n') || !l.contains(':'))
        {
            return Err(Error::invalid(format!(
                "linux.intelRdt.schemata[{i}] {l:?}: not a schemata line (RESOURCE:ID=VALUE;...)"
            )));
        }
    }
    if monitoring(rdt) && !mount.join("info/L3_MON").exists() {
        return Err(Error::invalid(
            "linux.intelRdt.enableMonitoring: this host's resctrl has no monitoring (info/L3_MON)",
        ));
    }
    let group = mount.join(clos.unwrap_or(id));
    let exists = group.is_dir();
    if clos.is_some() && !exists && schemata_writes(rdt).is_empty() {
        return Err(Error::invalid(format!(
            "linux.intelRdt.closID {:?}: no such resctrl group, and no schema to make it with",
            clos.unwrap_or_default()
        )));
    }
    if clos.is_none() && exists {
        return Err(Error::invalid(format!(
            "linux.intelRdt: a resctrl group named after the container ({}) exists already",
            group.display()
        )));
    }
    Ok(Saved {
        mon_group: monitoring(rdt).then(|| group.join("mon_groups").join(id)),
        group,
        created: !exists,
    })
}

/// Writes `value` to a resctrl file in one write(2), as resctrl wants each update.
fn write(path: &Path, value: &str) -> Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .with_ctx(|| format!("linux.intelRdt: write {value:?} to {}", path.display()))
}

/// Whether every line of `want` is in the group's schemata (resctrl prints each resource on
/// its own line; a line asked for must be there as written).
fn matches(schemata: &str, want: &str) -> bool {
    let have: Vec<&str> = schemata.lines().map(str::trim).collect();
    want.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .all(|l| have.contains(&l))
}

/// Makes the group (and monitoring group) as planned and sets its schemata. Create calls it
/// before init runs anything; the caller records `saved` first.
pub fn prepare(rdt: Option<&LinuxIntelRdt>, saved: &Saved) -> Result<()> {
    let Some(rdt) = rdt else {
        return Ok(());
    };
    let writes = schemata_writes(rdt);
    if saved.created {
        std::fs::create_dir(&saved.group)
            .with_ctx(|| format!("linux.intelRdt: create {}", saved.group.display()))?;
        for w in &writes {
            write(&saved.group.join("schemata"), w)?;
        }
    } else if !writes.is_empty() {
        let path = saved.group.join("schemata");
        let have = std::fs::read_to_string(&path)
            .with_ctx(|| format!("linux.intelRdt: read {}", path.display()))?;
        if let Some(w) = writes.iter().find(|w| !matches(&have, w)) {
            return Err(Error::invalid(format!(
                "linux.intelRdt: the existing group {} has schemata {:?}, not {w:?}",
                saved.group.display(),
                have.trim()
            )));
        }
    }
    if let Some(mon) = &saved.mon_group {
        std::fs::create_dir(mon)
            .with_ctx(|| format!("linux.intelRdt.enableMonitoring: create {}", mon.display()))?;
    }
    Ok(())
}

/// Puts a process of the container into its groups (init at create, every exec'd process).
pub fn add(saved: &Saved, pid: i32) -> Result<()> {
    write(&saved.group.join("tasks"), &pid.to_string())?;
    if let Some(mon) = &saved.mon_group {
        write(&mon.join("tasks"), &pid.to_string())?;
    }
    Ok(())
}

/// Removes what the container made: its monitoring group, and its group if it made it. The
/// kernel moves any task still in them to the parent. What is already gone is no error.
pub fn remove(saved: &Saved) -> Result<()> {
    let rmdir = |p: &Path| match std::fs::remove_dir(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::os(
            format!("linux.intelRdt: remove {}", p.display()),
            e,
        )),
        _ => Ok(()),
    };
    if let Some(mon) = &saved.mon_group {
        rmdir(mon)?;
    }
    if saved.created {
        rmdir(&saved.group)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdt(v: serde_json::Value) -> LinuxIntelRdt {
        serde_json::from_value(v).unwrap()
    }

    /// A directory laid out like a resctrl root with CAT, MBA and monitoring.
    fn fake_resctrl() -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let d = std::env::temp_dir().join(format!("hull-resctrl-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for sub in ["info/L3", "info/MB", "info/L3_MON"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        d
    }

    #[test]
    fn schemas_combine_as_the_spec_says() {
        let r = rdt(
            serde_json::json!({"l3CacheSchema": "L3:0=7f0\nMB:0=10", "memBwSchema": "MB:0=20",
            "schemata": ["L2:0=f", "MB:0=70"]}),
        );
        assert_eq!(
            schemata_writes(&r),
            vec!["L3:0=7f0\nMB:0=20", "L2:0=f\nMB:0=70"]
        );
        assert!(schemata_writes(&rdt(serde_json::json!({"closID": "x"}))).is_empty());
    }

    #[test]
    fn plans_follow_the_rules() {
        let root = fake_resctrl();
        let err = |v| plan_in(&root, &rdt(v), "ctr").unwrap_err().to_string();
        for bad in ["..", "a/b", "info"] {
            assert!(err(serde_json::json!({"closID": bad})).contains("linux.intelRdt.closID"));
        }
        assert!(err(serde_json::json!({"memBwSchema": "L3:0=1"})).contains("memBwSchema"));
        assert!(err(serde_json::json!({"schemata": ["nonsense"]})).contains("schemata[0]"));
        assert!(err(serde_json::json!({"closID": "gone"})).contains("no such resctrl group"));
        let p = plan_in(
            &root,
            &rdt(serde_json::json!({"enableMonitoring": true})),
            "ctr",
        )
        .unwrap();
        assert_eq!(p.group, root.join("ctr"));
        assert!(p.created);
        assert_eq!(p.mon_group, Some(root.join("ctr/mon_groups/ctr")));
        std::fs::remove_dir_all(root.join("info/MB")).unwrap();
        assert!(err(serde_json::json!({"memBwSchema": "MB:0=20"}))
            .contains("no memory bandwidth allocation"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    fn spec_with(v: serde_json::Value) -> Spec {
        let mut c: serde_json::Value = serde_json::from_str(crate::spec::DEFAULT_SPEC).unwrap();
        c["linux"]["intelRdt"] = v;
        crate::spec::parse(c.to_string().as_bytes()).unwrap()
    }

    fn rdt_of(spec: &Spec) -> LinuxIntelRdt {
        spec.linux().as_ref().unwrap().intel_rdt().clone().unwrap()
    }

    #[test]
    fn an_existing_group_is_joined_checked_and_kept() {
        let root = fake_resctrl();
        // What the kernel has for an existing group (made by the administrator).
        std::fs::create_dir_all(root.join("gold/mon_groups")).unwrap();
        std::fs::write(root.join("gold/schemata"), "L3:0=ff\nMB:0=50\n").unwrap();
        let spec = spec_with(
            serde_json::json!({"closID": "gold", "l3CacheSchema": "L3:0=ff",
            "memBwSchema": "MB:0=50", "enableMonitoring": true}),
        );
        let saved = plan_in(&root, &rdt_of(&spec), "ctr").unwrap();
        assert!(!saved.created);
        prepare(Some(&rdt_of(&spec)), &saved).unwrap();
        add(&saved, 42).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("gold/tasks")).unwrap(),
            "42"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("gold/mon_groups/ctr/tasks")).unwrap(),
            "42"
        );
        std::fs::remove_file(root.join("gold/mon_groups/ctr/tasks")).unwrap();
        remove(&saved).unwrap();
        assert!(
            !root.join("gold/mon_groups/ctr").exists(),
            "the monitoring group goes"
        );
        assert!(
            root.join("gold").exists(),
            "a group the container did not make stays"
        );
        // Asking for other schemata than the existing group has is an error.
        std::fs::write(root.join("gold/schemata"), "L3:0=0f\nMB:0=50\n").unwrap();
        let err = prepare(Some(&rdt_of(&spec)), &saved)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has schemata"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_new_group_is_made_filled_and_removed() {
        let root = fake_resctrl();
        let spec =
            spec_with(serde_json::json!({"l3CacheSchema": "L3:0=f", "schemata": ["L2:0=3"]}));
        let saved = plan_in(&root, &rdt_of(&spec), "ctr2").unwrap();
        assert_eq!(
            (saved.group.clone(), saved.created),
            (root.join("ctr2"), true)
        );
        prepare(Some(&rdt_of(&spec)), &saved).unwrap();
        // Two writes, l3CacheSchema first, schemata last (each appended here; resctrl takes
        // each write as one update).
        assert_eq!(
            std::fs::read_to_string(root.join("ctr2/schemata")).unwrap(),
            "L3:0=fL2:0=3"
        );
        // resctrl removes a group with its files; the stand-in needs them gone first.
        std::fs::remove_file(root.join("ctr2/schemata")).unwrap();
        remove(&saved).unwrap();
        assert!(!root.join("ctr2").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
