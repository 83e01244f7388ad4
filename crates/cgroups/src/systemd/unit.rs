//! cgroupsPath in systemd form, "slice:prefix:name", and where systemd puts the unit: runc's
//! rules (libcontainer/cgroups/systemd: ExpandSlice, getUnitName).

use crate::{Error, Result};

/// The unit a container gets, and the slice it goes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// "hull-web.scope", or a slice's name when the name part ends in ".slice".
    pub name: String,
    /// The parent slice's unit name ("system.slice").
    pub slice: String,
    /// The unit's cgroup below the manager's root: "/system.slice/hull-web.scope".
    pub cgroup: String,
}

impl Unit {
    pub fn is_slice(&self) -> bool {
        self.name.ends_with(".slice")
    }
}

/// The prefix for containers whose config names no cgroupsPath (runc uses "runc").
pub const DEFAULT_PREFIX: &str = "hull";

/// Parses `cgroupsPath` for the systemd driver. An empty or absent path makes
/// "<default slice>:hull:<id>"; an empty slice is the default slice (system.slice, or
/// user.slice for a user's manager).
pub fn parse(cgroups_path: Option<&str>, id: &str, user: bool) -> Result<Unit> {
    let raw = cgroups_path.unwrap_or_default();
    let (slice, prefix, name) = if raw.is_empty() {
        ("", DEFAULT_PREFIX, id)
    } else {
        let parts: Vec<&str> = raw.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(Error::Invalid(format!(
                "linux.cgroupsPath {raw:?}: with --systemd-cgroup it must be \"slice:prefix:name\""
            )));
        };
        (slice, prefix, name)
    };
    let field = |what: &str| {
        Error::Invalid(format!(
            "linux.cgroupsPath {raw:?}: {what} (with --systemd-cgroup it is \"slice:prefix:name\")"
        ))
    };
    if name.is_empty() {
        return Err(field("the name part is empty"));
    }
    if name.contains('/') || prefix.contains('/') {
        return Err(field("a unit name cannot contain \"/\""));
    }
    let slice = if slice.is_empty() {
        if user { "user.slice" } else { "system.slice" }.to_string()
    } else {
        slice.to_string()
    };
    let slice_path = expand_slice(&slice).map_err(|e| field(&e))?;
    let unit_name = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    // A slice lives where its own name puts it; a scope below its slice.
    let cgroup = if unit_name.ends_with(".slice") {
        expand_slice(&unit_name).map_err(|e| field(&e))?
    } else {
        format!("{}/{unit_name}", slice_path.trim_end_matches('/'))
    };
    Ok(Unit {
        name: unit_name,
        slice,
        cgroup,
    })
}

/// "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" is the root, "/".
pub fn expand_slice(slice: &str) -> std::result::Result<String, String> {
    let invalid = || format!("invalid slice name {slice:?}");
    let stem = slice.strip_suffix(".slice").ok_or_else(invalid)?;
    if stem.is_empty() || slice.contains('/') {
        return Err(invalid());
    }
    if stem == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        // "a--b.slice" and "-a.slice" are not slices.
        if part.is_empty() {
            return Err(invalid());
        }
        path.push_str(&format!("/{prefix}{part}.slice"));
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_expand_like_runc() {
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(
            expand_slice("test-a-b.slice").unwrap(),
            "/test.slice/test-a.slice/test-a-b.slice"
        );
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        for bad in [
            ".slice",
            "a",
            "a--b.slice",
            "-a.slice",
            "a-.slice",
            "a/b.slice",
        ] {
            assert!(expand_slice(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unit_names() {
        let u = parse(Some("system.slice:hull:ctr1"), "id", false).unwrap();
        assert_eq!(u.name, "hull-ctr1.scope");
        assert_eq!(u.slice, "system.slice");
        assert_eq!(u.cgroup, "/system.slice/hull-ctr1.scope");

        let u = parse(Some(":docker:abc"), "id", false).unwrap();
        assert_eq!(u.cgroup, "/system.slice/docker-abc.scope");
        let u = parse(Some(":docker:abc"), "id", true).unwrap();
        assert_eq!(u.slice, "user.slice");

        let u = parse(Some("machine-k8s.slice:cri:x"), "id", false).unwrap();
        assert_eq!(u.cgroup, "/machine.slice/machine-k8s.slice/cri-x.scope");

        let u = parse(Some("-.slice::web"), "id", false).unwrap();
        assert_eq!(
            (u.name.as_str(), u.cgroup.as_str()),
            ("web.scope", "/web.scope")
        );

        // A name ending in .slice makes that slice.
        let u = parse(Some("system.slice:x:pod-a.slice"), "id", false).unwrap();
        assert!(u.is_slice());
        assert_eq!(u.cgroup, "/pod.slice/pod-a.slice");

        let u = parse(None, "web", false).unwrap();
        assert_eq!(u.name, "hull-web.scope");
        let u = parse(Some(""), "web", false).unwrap();
        assert_eq!(u.cgroup, "/system.slice/hull-web.scope");
    }

    #[test]
    fn malformed_paths_name_the_field() {
        for bad in [
            "/a/b",
            "a:b",
            "a:b:c:d",
            "system.slice:x:",
            "nope:x:y",
            "s.slice:a/b:c",
        ] {
            let err = parse(Some(bad), "id", false).unwrap_err().to_string();
            assert!(err.contains("linux.cgroupsPath"), "{bad}: {err}");
            assert!(err.contains("slice:prefix:name"), "{bad}: {err}");
        }
    }
}
