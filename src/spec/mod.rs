//! config.json: loading it, checking it before anything is created, and the default spec.
//!
//! Everything here runs before the runtime touches the system, so a bad bundle fails with a
//! message naming the field and leaves nothing behind.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::{Context, Error, Result};

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
    let typed = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(doc));
    let mut spec: Spec = match typed {
        Ok(spec) => spec,
        // Only a config naming a capability the types do not know takes the slower way
        // through an untyped document, to leave those names out.
        Err(e) if e.path().to_string().starts_with("process.capabilities.") => {
            let mut doc: serde_json::Value =
                serde_json::from_slice(doc).map_err(|e| e.to_string())?;
            drop_unknown_capabilities(&mut doc);
            serde_path_to_error::deserialize(doc).map_err(describe)?
        }
        Err(e) => return Err(describe(e)),
    };
    if let Some(r) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.resources_mut().as_mut())
    {
        drop_unset_pids_limit(r, doc, "/linux/resources/pids");
    }
    Ok(spec)
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
fn drop_unknown_capabilities(doc: &mut serde_json::Value) {
    let known = crate::security::capabilities::known();
    let Some(sets) = doc
        .pointer_mut("/process/capabilities")
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

/// The absolute host path of the container's root filesystem.
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::invalid("root: missing (root.path is required on Linux)"))?;
    let path = root.path();
    if path.as_os_str().is_empty() {
        return Err(Error::invalid("root.path: must not be empty"));
    }
    let full = if path.is_absolute() {
        path.clone()
    } else {
        bundle.join(path)
    };
    let meta = std::fs::metadata(&full)
        .map_err(|e| Error::invalid(format!("root.path {}: {e}", full.display())))?;
    if !meta.is_dir() {
        return Err(Error::invalid(format!(
            "root.path {}: not a directory",
            full.display()
        )));
    }
    Ok(full)
}

/// Checks what create needs from the config and that only supported things are asked for.
/// `needs_process`: create and run need `process`; the spec lets other callers omit it.
pub fn validate(spec: &Spec, needs_process: bool) -> Result<()> {
    validate_oci_version(spec.version())?;
    match spec.process() {
        Some(p) => validate_process(p)?,
        None if needs_process => {
            return Err(Error::invalid(
                "process: missing (create needs the process to run)",
            ))
        }
        None => {}
    }
    validate_namespaces(spec)?;
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
    Ok(())
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

fn validate_process(p: &Process) -> Result<()> {
    let args = p.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Err(Error::invalid("process.args: must not be empty"));
    }
    if args[0].is_empty() {
        return Err(Error::invalid("process.args[0]: must not be empty"));
    }
    if !p.cwd().is_absolute() {
        return Err(Error::invalid(format!(
            "process.cwd {}: must be an absolute path",
            p.cwd().display()
        )));
    }
    for (i, env) in p.env().as_deref().unwrap_or_default().iter().enumerate() {
        if !env.contains('=') {
            return Err(Error::invalid(format!(
                "process.env[{i}] {env:?}: not in KEY=VALUE form"
            )));
        }
    }
    if let Some(rlimits) = p.rlimits() {
        let mut seen = HashSet::new();
        for (i, r) in rlimits.iter().enumerate() {
            if !seen.insert(r.typ() as i32) {
                return Err(Error::invalid(format!(
                    "process.rlimits[{i}]: {:?} given more than once",
                    r.typ()
                )));
            }
            if r.soft() > r.hard() {
                return Err(Error::invalid(format!(
                    "process.rlimits[{i}]: soft limit {} is above hard limit {}",
                    r.soft(),
                    r.hard()
                )));
            }
        }
    }
    if let Some(adj) = p.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            return Err(Error::invalid(format!(
                "process.oomScoreAdj {adj}: must be between -1000 and 1000"
            )));
        }
    }
    // Not applied to init (the spec: "not applicable to the container's init process"),
    // but `exec` without --process takes it from here.
    crate::process::affinity::validate(p)
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
        if let Some(path) = ns.path() {
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

/// A new user namespace needs both mappings; mappings need a new user namespace (runc's rules).
fn validate_id_mappings(spec: &Spec, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let new_user = has_new_namespace(spec, LinuxNamespaceType::User);
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
        if !new_user && !maps.is_empty() {
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
                ns.path().is_some()
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

/// True when the config asks for a new (not joined) namespace of this type.
pub fn has_new_namespace(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    namespace(spec, typ).is_some_and(|path| path.is_none())
}

/// `Some(None)` for a new namespace, `Some(Some(path))` for one joined by path, `None` when the
/// container shares the runtime's.
pub fn namespace(spec: &Spec, typ: LinuxNamespaceType) -> Option<Option<PathBuf>> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|ns| ns.typ() == typ)
        .map(|ns| ns.path().clone())
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
    fn empty_args_rejected() {
        let doc = DEFAULT_SPEC.replace("\"sh\"", "");
        let spec = parse(doc.as_bytes()).unwrap();
        let err = validate(&spec, true).unwrap_err().to_string();
        assert_eq!(err, "process.args: must not be empty");
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
