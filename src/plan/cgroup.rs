//! The cgroup part of the plan: the container's manager (from linux.cgroupsPath and the
//! driver), and linux.resources as they will be set, with runc's default device rules.
//! Nothing is made here: `container::cgroup` makes and fills the cgroup at create.

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Spec};

use crate::{Error, Result};

pub use hull_cgroups::Manager;

/// How the caller asked for cgroups to be handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Driver {
    #[default]
    Cgroupfs,
    Systemd,
    /// crun's `--cgroup-manager disabled`: the container stays in the caller's cgroup.
    Disabled,
}

/// The cgroup of a new container, planned.
pub struct Cgroup {
    /// None when cgroups are disabled.
    pub manager: Option<Box<dyn Manager>>,
    /// linux.resources with the default device rules, as `apply` sets them.
    pub resources: LinuxResources,
    /// Whether the config sets any limit (a rootless caller may go without a cgroup only
    /// when it does not).
    pub has_limits: bool,
}

impl Cgroup {
    pub fn new(spec: &Spec, id: &str, driver: Driver) -> Result<Cgroup> {
        Ok(Cgroup {
            manager: for_create(spec, id, driver)?,
            resources: resources(spec),
            has_limits: has_limits(spec),
        })
    }
}

fn err(e: hull_cgroups::Error) -> Error {
    match e {
        hull_cgroups::Error::Invalid(m) => Error::Invalid(m),
        other => Error::Other(other.to_string()),
    }
}

/// The manager for a new container (None when cgroups are disabled).
fn for_create(spec: &Spec, id: &str, driver: Driver) -> Result<Option<Box<dyn Manager>>> {
    if driver == Driver::Disabled {
        return Ok(None);
    }
    let cfg = hull_cgroups::Config {
        cgroups_path: spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned()),
        id: id.to_string(),
        systemd: driver == Driver::Systemd,
        rootless: !rustix::process::geteuid().is_root(),
        // Only the systemd driver needs the limits up front (as unit properties).
        resources: (driver == Driver::Systemd).then(|| resources(spec)),
    };
    hull_cgroups::create(&cfg).map(Some).map_err(err)
}

/// Any resource setting other than device rules (which the runtime adds to every config).
fn has_limits(spec: &Spec) -> bool {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return false;
    };
    let mut value = serde_json::to_value(r).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("devices");
        map.retain(|_, v| !v.is_null());
        return !map.is_empty();
    }
    false
}

/// linux.resources, with runc's default device rules after the config's own. The device list
/// always starts from "nothing allowed" (runc reads it through its devices emulator, which
/// starts as an allow-list), so a config without device rules gets the defaults alone.
pub fn resources(spec: &Spec) -> LinuxResources {
    let mut resources = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let mut devices = resources.devices().clone().unwrap_or_default();
    let listed = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default();
    devices.extend(default_allowed(listed));
    resources.set_devices(Some(devices));
    resources
}

fn rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(true);
    d.set_typ(Some(typ));
    d.set_major(major);
    d.set_minor(minor);
    d.set_access(Some(access.to_string()));
    d
}

/// A default device rule: the device node it is for (if one), type, major, minor, access.
type DefaultRule = (
    Option<&'static str>,
    LinuxDeviceType,
    Option<i64>,
    Option<i64>,
    &'static str,
);

/// The rules runc appends to every container's device list (runc 1.1.5 and 1.4 agree, in this
/// order): mknod of any char or block device, /dev/null, random, full, tty, zero, urandom, the
/// pts devices, ptmx and tun. As runc does, a default whose path linux.devices lists again is
/// left out (the config's entry takes its place). linux.devices itself adds no rule: a device
/// node the config makes is usable only if linux.resources.devices (or this list) allows it.
fn default_allowed(listed: &[LinuxDevice]) -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    const DEFAULTS: &[DefaultRule] = &[
        (None, C, None, None, "m"),
        (None, B, None, None, "m"),
        (Some("/dev/null"), C, Some(1), Some(3), "rwm"),
        (Some("/dev/random"), C, Some(1), Some(8), "rwm"),
        (Some("/dev/full"), C, Some(1), Some(7), "rwm"),
        (Some("/dev/tty"), C, Some(5), Some(0), "rwm"),
        (Some("/dev/zero"), C, Some(1), Some(5), "rwm"),
        (Some("/dev/urandom"), C, Some(1), Some(9), "rwm"),
        (None, C, Some(136), None, "rwm"),
        (None, C, Some(5), Some(2), "rwm"),
        // runc 1.2.0-rc1 dropped tun and 1.2 put it back for compatibility: 1.4 has it.
        (None, C, Some(10), Some(200), "rwm"),
    ];
    DEFAULTS
        .iter()
        .filter(|(path, ..)| path.is_none_or(|p| !listed.iter().any(|d| d.path().as_os_str() == p)))
        .map(|&(_, typ, major, minor, access)| rule(typ, major, minor, access))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(linux: serde_json::Value) -> Spec {
        let mut s = Spec::default();
        s.set_linux(Some(serde_json::from_value(linux).unwrap()));
        s
    }

    fn rules(spec: &Spec) -> Vec<String> {
        resources(spec)
            .devices()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|d| {
                let verb = if d.allow() { "allow" } else { "deny" };
                format!("{verb} {}", hull_cgroups::render::device_rule(d))
            })
            .collect()
    }

    const DEFAULTS: [&str; 11] = [
        "allow c *:* m",
        "allow b *:* m",
        "allow c 1:3 rwm",
        "allow c 1:8 rwm",
        "allow c 1:7 rwm",
        "allow c 5:0 rwm",
        "allow c 1:5 rwm",
        "allow c 1:9 rwm",
        "allow c 136:* rwm",
        "allow c 5:2 rwm",
        "allow c 10:200 rwm",
    ];

    #[test]
    fn config_rules_then_runc_defaults_and_nothing_for_linux_devices() {
        let s = spec(serde_json::json!({
            "resources": {"devices": [
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 4, "minor": 64, "access": "rw"}
            ]},
            "devices": [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]
        }));
        let mut want = vec!["deny a *:* rwm".to_string(), "allow c 4:64 rw".into()];
        want.extend(DEFAULTS.iter().map(|s| s.to_string()));
        assert_eq!(rules(&s), want);
    }

    #[test]
    fn no_config_rules_means_the_defaults_alone() {
        assert_eq!(rules(&spec(serde_json::json!({}))), DEFAULTS);
    }

    #[test]
    fn a_default_listed_again_in_linux_devices_is_left_out() {
        let s = spec(serde_json::json!({
            "devices": [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3}]
        }));
        let r = rules(&s);
        assert!(!r.contains(&"allow c 1:3 rwm".to_string()), "{r:?}");
        assert_eq!(r.len(), DEFAULTS.len() - 1);
    }
}
