//! config.json: loading it, checking it before anything is created, and the default spec.
//!
//! Everything here runs before the runtime touches the system, so a bad bundle fails with a
//! message naming the field and leaves nothing behind.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::{Context, Error, Result};

pub mod query;
pub mod sysctl;

pub use query::{has_new_namespace, joined_path, namespace};

/// `hull spec`'s output: runc's default, with hull's hostname and a cgroup namespace.
pub const DEFAULT_SPEC: &str = include_str!("default.json");
/// `hull spec --rootless`.
pub const ROOTLESS_SPEC: &str = include_str!("rootless.json");

/// Reads `<bundle>/config.json`. Type errors name the JSON path of the bad field.
pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let doc = std::fs::read(&path).with_ctx(|| format!("open {}", path.display()))?;
    parse(&doc).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))
}

/// Parses a config document; the error says where in the document it went wrong.
pub fn parse(doc: &[u8]) -> Result<Spec, String> {
    let mut spec: Spec = parse_doc(doc, "process", |s: &Spec| {
        s.process().as_ref().and_then(|p| p.scheduler().as_ref())
    })?;
    if let Some(r) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.resources_mut().as_mut())
    {
        drop_unset_pids_limit(r, doc, "/linux/resources/pids");
    }
    Ok(spec)
}

/// Parses an `exec --process` document the same way.
pub fn parse_process(doc: &[u8]) -> Result<Process, String> {
    parse_doc(doc, "", |p: &Process| p.scheduler().as_ref())
}

/// The typed parse, with two corrections oci-spec's types need. Both take the slower way
/// through an untyped document, and only when the typed parse stumbles on them:
/// - a capability the types do not know is left out with a warning (the spec: a runtime
///   should not fail on one; runc drops them too);
/// - scheduler flags are read by the spec's names (oci-spec 0.10 spells two of them
///   otherwise, see `process::sched::FLAGS`).
///
/// `at` is where the process object is in the document ("process", or "" for process.json).
fn parse_doc<T: serde::de::DeserializeOwned>(
    doc: &[u8],
    at: &str,
    scheduler: fn(&T) -> Option<&oci_spec::runtime::Scheduler>,
) -> Result<T, String> {
    let (dotted, pointer) = match at {
        "" => (String::new(), String::new()),
        at => (format!("{at}."), format!("/{at}")),
    };
    let typed = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(doc));
    match typed {
        Ok(v) => {
            misspelled_flags(scheduler(&v), &dotted)?;
            Ok(v)
        }
        Err(e)
            if e.path()
                .to_string()
                .starts_with(&format!("{dotted}capabilities."))
                || e.path()
                    .to_string()
                    .starts_with(&format!("{dotted}scheduler.flags")) =>
        {
            let mut doc: serde_json::Value =
                serde_json::from_slice(doc).map_err(|e| e.to_string())?;
            drop_unknown_capabilities(&mut doc, &pointer);
            spec_flag_names(&mut doc, &pointer, &dotted)?;
            serde_path_to_error::deserialize(doc).map_err(describe)
        }
        Err(e) => Err(describe(e)),
    }
}

/// Rewrites the spec's scheduler flag names into oci-spec's; an unknown name is an error.
fn spec_flag_names(doc: &mut serde_json::Value, pointer: &str, dotted: &str) -> Result<(), String> {
    let Some(flags) = doc
        .pointer_mut(&format!("{pointer}/scheduler/flags"))
        .and_then(|f| f.as_array_mut())
    else {
        return Ok(());
    };
    for (i, f) in flags.iter_mut().enumerate() {
        let name = f.as_str().unwrap_or_default();
        let Some((_, variant, _)) = crate::process::sched::FLAGS
            .iter()
            .find(|(n, ..)| *n == name)
        else {
            return Err(format!("{dotted}scheduler.flags[{i}]: unknown flag {f}"));
        };
        *f = serde_json::to_value(variant).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A document that parsed at once yet holds one of the two flags oci-spec misspells used
/// oci-spec's spelling, not the spec's: refused like any unknown name.
fn misspelled_flags(s: Option<&oci_spec::runtime::Scheduler>, dotted: &str) -> Result<(), String> {
    let flags = s.and_then(|s| s.flags().as_deref()).unwrap_or_default();
    for (i, f) in flags.iter().enumerate() {
        let spec_name = crate::process::sched::FLAGS
            .iter()
            .find(|(_, v, _)| v == f)
            .map(|(n, ..)| *n)
            .unwrap_or_default();
        let used = serde_json::to_value(f).unwrap_or_default();
        if used != spec_name {
            return Err(format!(
                "{dotted}scheduler.flags[{i}]: unknown flag {used} (the spec's name is {spec_name})"
            ));
        }
    }
    Ok(())
}

fn describe<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> String {
    let path = e.path().to_string();
    if path == "." || path.is_empty() {
        e.inner().to_string()
    } else {
        format!("{path}: {}", e.inner())
    }
}

/// runtime-spec 1.3 made `pids.limit` optional and 0 a real limit (runc 1.4 follows it): a
/// `pids` object without `limit` sets nothing. oci-spec's type reads a missing limit as 0, so
/// a 0 is checked against the document (`pointer` names the pids object in it); only then, so
/// the common config is parsed once.
pub fn drop_unset_pids_limit(r: &mut oci_spec::runtime::LinuxResources, doc: &[u8], pointer: &str) {
    if r.pids().is_none_or(|p| p.limit() != 0) {
        return;
    }
    let given = serde_json::from_slice::<serde_json::Value>(doc)
        .ok()
        .and_then(|v| v.pointer(&format!("{pointer}/limit")).cloned())
        .is_some_and(|l| !l.is_null());
    if !given {
        r.set_pids(None);
    }
}

/// The spec: capabilities that cannot be mapped to the kernel are logged as warnings, and a
/// runtime should not fail on them (runc drops them too). oci-spec's typed capabilities would
/// refuse the document, so they go before it is typed.
fn drop_unknown_capabilities(doc: &mut serde_json::Value, pointer: &str) {
    let known = crate::security::capabilities::known();
    let Some(sets) = doc
        .pointer_mut(&format!("{pointer}/capabilities"))
        .and_then(|c| c.as_object_mut())
    else {
        return;
    };
    for (set, caps) in sets.iter_mut() {
        let Some(list) = caps.as_array_mut() else {
            continue;
        };
        list.retain(|c| {
            let keep = c.as_str().is_none_or(|n| known.iter().any(|k| k == n));
            if !keep {
                crate::log::warn(&format!(
                    "process.capabilities.{set}: ignoring unknown capability {c}"
                ));
            }
            keep
        });
    }
}

/// Checks what create needs from the config and that only supported things are asked for.
/// `needs_process`: create and run need `process`; the spec lets other callers omit it.
/// The process itself is checked by `plan::Process::new` (as exec's is), between the two
/// halves: [`validate_head`], then the process, then [`validate_container`].
pub fn validate(spec: &Spec, needs_process: bool) -> Result<()> {
    validate_head(spec, needs_process)?;
    validate_container(spec).map(drop)
}

/// ociVersion, and `process` when it is needed.
pub fn validate_head(spec: &Spec, needs_process: bool) -> Result<()> {
    validate_oci_version(spec.version())?;
    if spec.process().is_none() && needs_process {
        return Err(Error::invalid(
            "process: missing (create needs the process to run)",
        ));
    }
    Ok(())
}

/// Everything of the config but `process`; returns linux.sysctl, checked and resolved.
pub fn validate_container(spec: &Spec) -> Result<Vec<sysctl::Entry>> {
    validate_namespaces(spec)?;
    let sysctl = sysctl::check(spec)?;
    validate_linux_attrs(spec)?;
    crate::netdev::check(spec)?;
    if let Some(hooks) = spec.hooks() {
        crate::hooks::validate(hooks)?;
    }
    if let Some(host) = spec.hostname() {
        // A uts namespace of the container's own, new or joined by path (as runc allows).
        if !host.is_empty() && namespace(spec, LinuxNamespaceType::Uts).is_none() {
            return Err(Error::invalid(
                "hostname: setting it needs a uts namespace (linux.namespaces)",
            ));
        }
    }
    if let Some(domain) = spec.domainname() {
        if !domain.is_empty() && namespace(spec, LinuxNamespaceType::Uts).is_none() {
            return Err(Error::invalid(
                "domainname: setting it needs a uts namespace (linux.namespaces)",
            ));
        }
    }
    Ok(sysctl)
}

/// config.md: ociVersion is REQUIRED and MUST be SemVer 2.0.0; a config of another major
/// version is not compatible with this runtime ("retains forward and backward compatibility
/// within major versions"). runc 1.1.5 accepts any string (runc issue #1846); the
/// runtime-tools validation suite checks that an invalid one is an error.
fn validate_oci_version(v: &str) -> Result<()> {
    if v.is_empty() {
        return Err(Error::invalid("ociVersion: missing (it is required)"));
    }
    let major = semver_major(v)
        .ok_or_else(|| Error::invalid(format!("ociVersion {v:?}: not a SemVer 2.0.0 version")))?;
    if major != 1 {
        return Err(Error::invalid(format!(
            "ociVersion {v:?}: hull supports runtime-spec 1.x (this is {})",
            crate::OCI_VERSION
        )));
    }
    Ok(())
}

/// The major version of a SemVer 2.0.0 string, or None when it is not one:
/// MAJOR.MINOR.PATCH (numbers without leading zeros), an optional `-` pre-release of
/// dot-separated identifiers ([0-9A-Za-z-], numeric ones without leading zeros), an optional
/// `+` build of dot-separated identifiers.
fn semver_major(v: &str) -> Option<u64> {
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let numeric = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let ident =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| numeric(p)) {
        return None;
    }
    if let Some(pre) = pre {
        let ok = pre
            .split('.')
            .all(|id| ident(id) && (!id.bytes().all(|b| b.is_ascii_digit()) || numeric(id)));
        if !ok {
            return None;
        }
    }
    if let Some(build) = build {
        if !build.split('.').all(ident) {
            return None;
        }
    }
    parts[0].parse().ok()
}

/// linux.personality and linux.memoryPolicy.
fn validate_linux_attrs(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if let Some(p) = linux.personality() {
        crate::process::personality::check(p)?;
    }
    if let Some(p) = linux.memory_policy() {
        crate::process::mempolicy::check(p)?;
    }
    Ok(())
}

fn validate_namespaces(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    for (i, ns) in linux
        .namespaces()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if !seen.insert(ns.typ()) {
            return Err(Error::invalid(format!(
                "linux.namespaces[{i}]: {} namespace given more than once",
                crate::namespaces::name(ns.typ())
            )));
        }
        if let Some(path) = joined_path(ns) {
            if !path.is_absolute() {
                return Err(Error::invalid(format!(
                    "linux.namespaces[{i}].path {}: must be an absolute path",
                    path.display()
                )));
            }
        }
    }
    if linux.time_offsets().is_some() && !has_new_namespace(spec, LinuxNamespaceType::Time) {
        return Err(Error::invalid(
            "linux.timeOffsets: needs a new time namespace (linux.namespaces)",
        ));
    }
    validate_id_mappings(spec, linux)
}

/// A new user namespace needs both mappings; mappings need a user namespace of the
/// container's (runc's rules). A user namespace joined by path has its maps already: mappings
/// given with it are taken only when they are the namespace's own (runc 1.4 accepts them with a
/// warning because containerd and CRI-O write both; runc 1.1 required them). That comparison
/// needs the namespace: `namespaces::Plan::new` makes it.
fn validate_id_mappings(spec: &Spec, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let new_user = has_new_namespace(spec, LinuxNamespaceType::User);
    let joined_user = namespace(spec, LinuxNamespaceType::User).is_some_and(|p| p.is_some());
    for (field, maps) in [
        ("linux.uidMappings", linux.uid_mappings()),
        ("linux.gidMappings", linux.gid_mappings()),
    ] {
        let maps = maps.as_deref().unwrap_or_default();
        if new_user && maps.is_empty() {
            return Err(Error::invalid(format!(
                "{field}: a new user namespace needs mappings"
            )));
        }
        if !new_user && !joined_user && !maps.is_empty() {
            return Err(Error::invalid(format!(
                "{field}: mappings are only for a new user namespace (linux.namespaces)"
            )));
        }
        if let Some(i) = maps.iter().position(|m| m.size() == 0) {
            return Err(Error::invalid(format!("{field}[{i}]: size must not be 0")));
        }
    }
    // One clone creates the user namespace with the others, and init joins namespaces given
    // by path after it: from inside the new user namespace it may not join the host's. (Pid
    // and time namespaces are joined by the runtime before the clone, so they work.)
    if new_user {
        let joined = linux
            .namespaces()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|ns| {
                joined_path(ns).is_some()
                    && !matches!(ns.typ(), LinuxNamespaceType::Pid | LinuxNamespaceType::Time)
            });
        if let Some(ns) = joined {
            return Err(Error::invalid(format!(
                "linux.namespaces: joining the {} namespace by path together with a new user namespace is not supported",
                crate::namespaces::name(ns.typ())
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_without_limit_set_nothing_and_zero_is_a_limit() {
        let pids = |json: &str| {
            let doc = format!(
                r#"{{"ociVersion": "1.0.2", "linux": {{"resources": {{"pids": {json}}}}}}}"#
            );
            parse(doc.as_bytes())
                .unwrap()
                .linux()
                .as_ref()
                .and_then(|l| l.resources().clone())
                .and_then(|r| r.pids().map(|p| p.limit()))
        };
        assert_eq!(pids("{}"), None);
        assert_eq!(pids(r#"{"limit": 0}"#), Some(0));
        assert_eq!(pids(r#"{"limit": -1}"#), Some(-1));
        assert_eq!(pids(r#"{"limit": 7}"#), Some(7));
    }

    #[test]
    fn default_spec_parses_and_validates() {
        let spec = parse(DEFAULT_SPEC.as_bytes()).unwrap();
        validate(&spec, true).unwrap();
        assert_eq!(spec.hostname().as_deref(), Some("hull"));
    }

    #[test]
    fn unknown_capabilities_are_left_out() {
        let doc = DEFAULT_SPEC.replace("\"CAP_KILL\",", "\"CAP_KILL\", \"CAP_NO_SUCH\",");
        assert!(doc.contains("CAP_NO_SUCH"));
        let spec = parse(doc.as_bytes()).unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert!(caps
            .bounding()
            .as_ref()
            .unwrap()
            .contains(&oci_spec::runtime::Capability::Kill));
        let doc = DEFAULT_SPEC.replace("\"CAP_KILL\",", "\"CAP_KILL\", 7,");
        let err = parse(doc.as_bytes()).unwrap_err();
        assert!(err.starts_with("process.capabilities."), "{err}");
    }

    #[test]
    fn scheduler_flags_are_read_by_the_spec_names() {
        let mut v: serde_json::Value = serde_json::from_str(DEFAULT_SPEC).unwrap();
        let names: Vec<&str> = crate::process::sched::FLAGS
            .iter()
            .map(|(n, ..)| *n)
            .collect();
        v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_OTHER", "flags": names});
        let spec = parse(v.to_string().as_bytes()).unwrap();
        let flags = spec
            .process()
            .as_ref()
            .unwrap()
            .scheduler()
            .as_ref()
            .unwrap()
            .flags()
            .clone();
        let want: Vec<_> = crate::process::sched::FLAGS
            .iter()
            .map(|(_, f, _)| *f)
            .collect();
        assert_eq!(flags.unwrap(), want);
        for bad in [
            "SCHED_RESET_ON_FORK",
            "SCHED_FLAG_D_L_OVERRUN",
            "SCHED_FLAG_NOPE",
        ] {
            v["process"]["scheduler"]["flags"] = serde_json::json!(["SCHED_FLAG_RECLAIM", bad]);
            let err = parse(v.to_string().as_bytes()).unwrap_err();
            assert!(
                err.starts_with("process.scheduler.flags[1]: unknown flag"),
                "{bad}: {err}"
            );
        }
        let p = parse_process(
            br#"{"cwd": "/", "args": ["x"], "user": {"uid": 0, "gid": 0},
                 "scheduler": {"policy": "SCHED_DEADLINE", "flags": ["SCHED_FLAG_DL_OVERRUN"]},
                 "capabilities": {"bounding": ["CAP_KILL", "CAP_NO_SUCH"]}}"#,
        )
        .unwrap();
        assert_eq!(
            p.scheduler().as_ref().unwrap().flags().as_deref(),
            Some(&[oci_spec::runtime::LinuxSchedulerFlag::SchedFlagDLOverrun][..])
        );
        assert_eq!(
            p.capabilities()
                .as_ref()
                .unwrap()
                .bounding()
                .as_ref()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let doc = DEFAULT_SPEC.replace("\"uid\": 0", "\"uid\": \"root\"");
        let err = parse(doc.as_bytes()).unwrap_err();
        assert!(err.starts_with("process.user.uid:"), "{err}");
    }

    #[test]
    fn unknown_namespace_type_names_the_field() {
        let doc = DEFAULT_SPEC.replace("\"type\": \"ipc\"", "\"type\": \"bogus\"");
        let err = parse(doc.as_bytes()).unwrap_err();
        assert!(err.contains("linux.namespaces[2]"), "{err}");
    }

    #[test]
    fn oci_version_must_be_semver_of_major_one() {
        for ok in [
            "1.0.0",
            "1.0.2-dev",
            "1.2.1",
            "1.0.0-rc.1+build.5",
            "1.3.0+dev",
        ] {
            validate_oci_version(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "", "invalid", "1.0", "1.0.0.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0+", "v1.0.0",
        ] {
            assert!(validate_oci_version(bad).is_err(), "{bad:?} accepted");
        }
        let err = validate_oci_version("2.0.0").unwrap_err().to_string();
        assert!(err.contains("1.x"), "{err}");
    }

    #[test]
    fn an_empty_namespace_path_means_a_new_namespace() {
        let mut v: serde_json::Value = serde_json::from_str(DEFAULT_SPEC).unwrap();
        for ns in v["linux"]["namespaces"].as_array_mut().unwrap() {
            ns["path"] = "".into();
        }
        let spec = parse(v.to_string().as_bytes()).unwrap();
        validate(&spec, true).unwrap();
        assert_eq!(namespace(&spec, LinuxNamespaceType::Network), Some(None));
        assert!(has_new_namespace(&spec, LinuxNamespaceType::Mount));
    }

    #[test]
    fn duplicate_namespace_rejected() {
        let mut v: serde_json::Value = serde_json::from_str(DEFAULT_SPEC).unwrap();
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "pid"}));
        let spec = parse(v.to_string().as_bytes()).unwrap();
        let err = validate(&spec, true).unwrap_err().to_string();
        assert!(err.contains("pid namespace given more than once"), "{err}");
    }
}
