//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup is a transient scope
//! that systemd creates over D-Bus, with Delegate=yes and the limits as unit properties. What
//! systemd has no property for is then written to the scope's cgroup by the cgroupfs manager
//! (v1 or v2), which also does freeze, thaw, pids, stats and kill --all there, as runc does.

mod client;
mod props;
mod unit;

use std::cell::{RefCell, RefMut};
use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::hierarchy::{host_mode, unified_mount, v1_hierarchies, Mode};
use crate::{Config, Error, Handle, Result, Stats};
use client::Systemd;
use props::{Property, Target};

pub struct Manager {
    unit: String,
    slice: String,
    /// The calling user's systemd rather than the system's.
    user: bool,
    /// The cgroupfs form of the unit's cgroup (v1 paths or the v2 path).
    fs_handle: Handle,
    fs: Box<dyn crate::Manager>,
    /// Set for a container being created: what the unit starts with.
    new: Option<NewUnit>,
    bus: RefCell<Option<Systemd>>,
    /// The resources the unit was started with by this manager, so `set` with the same ones
    /// need not send them again.
    started_with: RefCell<Option<LinuxResources>>,
}

struct NewUnit {
    description: String,
    is_slice: bool,
    /// The unit's cgroup as systemd names it, to check where the process landed.
    cgroup: String,
    resources: LinuxResources,
}

fn unified(fs: &Handle) -> bool {
    matches!(fs, Handle::V2 { .. })
}

impl Manager {
    /// A manager for a new container: works out the unit and connects to systemd (so that a
    /// missing systemd is reported before anything is made).
    pub fn new(cfg: &Config) -> Result<Manager> {
        let user = cfg.rootless;
        let unit = unit::parse(cfg.cgroups_path.as_deref(), &cfg.id, user)?;
        let mode = host_mode();
        if user && mode != Mode::Unified {
            return Err(Error::Invalid(
                "--systemd-cgroup without root needs a cgroup v2 host".into(),
            ));
        }
        let mut bus = Systemd::connect(user)?;
        let mut cgroup = unit.cgroup.clone();
        if user {
            // A user's manager runs below its own cgroup (…/user@1000.service).
            let root = bus.manager_property("ControlGroup")?;
            let root = root.as_str().unwrap_or_default().trim_end_matches('/');
            cgroup = format!("{root}{cgroup}");
        }
        let rel = cgroup.trim_start_matches('/');
        let fs_handle = match mode {
            Mode::Unified => Handle::V2 {
                path: unified_mount()
                    .ok_or_else(|| Error::Invalid("no cgroup2 hierarchy is mounted".into()))?
                    .join(rel),
            },
            // On a hybrid host systemd also places the unit in the unified hierarchy: saved
            // under "" as the cgroupfs manager does.
            Mode::Legacy | Mode::Hybrid => Handle::V1 {
                paths: v1_hierarchies()
                    .into_iter()
                    .map(|h| (h.controllers.join(","), h.mount.join(rel)))
                    .chain(unified_mount().map(|m| (String::new(), m.join(rel))))
                    .collect(),
            },
        };
        Ok(Manager {
            fs: fs_handle.manager(),
            fs_handle,
            new: Some(NewUnit {
                description: format!("hull container {}", cfg.id),
                is_slice: unit.is_slice(),
                cgroup,
                resources: cfg.resources.clone().unwrap_or_default(),
            }),
            unit: unit.name,
            slice: unit.slice,
            user,
            bus: RefCell::new(Some(bus)),
            started_with: RefCell::new(None),
        })
    }

    /// The manager of an existing container, from its state.
    pub fn load(unit: &str, slice: &str, user: bool, fs: &Handle) -> Manager {
        Manager {
            unit: unit.to_string(),
            slice: slice.to_string(),
            user,
            fs_handle: fs.clone(),
            fs: fs.manager(),
            new: None,
            bus: RefCell::new(None),
            started_with: RefCell::new(None),
        }
    }

    fn bus(&self) -> Result<RefMut<'_, Systemd>> {
        let mut slot = self.bus.borrow_mut();
        if slot.is_none() {
            *slot = Some(Systemd::connect(self.user)?);
        }
        Ok(RefMut::map(slot, |s| s.as_mut().expect("connected above")))
    }

    fn target(&self, r: &LinuxResources) -> Result<Target> {
        let version = if props::needs_version(r) {
            self.bus()?.version()
        } else {
            0
        };
        Ok(Target {
            unified: unified(&self.fs_handle),
            version,
        })
    }

    fn resource_props(&self, r: &LinuxResources) -> Result<Vec<Property>> {
        let target = self.target(r)?;
        props::resources(r, &target).map_err(Error::Invalid)
    }

    /// Creates the unit with `pid` in it and waits until systemd has.
    fn start(&self, new: &NewUnit, pid: i32) -> Result<()> {
        let mut props = props::unit(
            &new.description,
            &self.slice,
            new.is_slice,
            pid,
            unified(&self.fs_handle),
        );
        props.extend(self.resource_props(&new.resources)?);
        self.bus()?.start_transient(&self.unit, &props)?;
        *self.started_with.borrow_mut() = Some(new.resources.clone());
        check_placed(pid, &new.cgroup, &self.unit)
    }

    fn v2_path(&self) -> Option<&Path> {
        match &self.fs_handle {
            Handle::V2 { path } => Some(path),
            _ => None,
        }
    }
}

/// Whether systemd put `pid` where the saved paths say (it would not if its cgroup root were
/// not the hierarchy's root, as inside a container without a cgroup namespace).
fn check_placed(pid: i32, want: &str, unit: &str) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return Ok(()); // it exited; the caller finds out
    };
    let own = crate::proc_cgroup::parse(&text);
    let got = crate::proc_cgroup::of(&own, &[])
        .or_else(|| crate::proc_cgroup::of(&own, &["name=systemd".to_string()]));
    match got.map(|p| p.to_string_lossy()) {
        Some(got) if got != want => Err(Error::Systemd(format!(
            "systemd put unit {unit} in cgroup {got}, not {want}"
        ))),
        _ => Ok(()),
    }
}

impl crate::Manager for Manager {
    fn apply(&self, pid: i32) -> Result<()> {
        let created = match &self.new {
            Some(new) if self.started_with.borrow().is_none() => {
                self.start(new, pid)?;
                true
            }
            _ => false,
        };
        match self.v2_path() {
            // Joining (exec) on v2: the unit's cgroup is there with its controllers.
            Some(path) if !created => crate::add_pid(path, pid),
            // A user's manager delegated the scope only: the path above it is not ours.
            Some(_) if self.user => Ok(()),
            // As runc: the cgroupfs manager enables the controllers systemd does not manage
            // (hugetlb, rdma...) along the path on v2; on v1 it makes the unit's directory in
            // the hierarchies systemd leaves alone (cpuset, freezer...). Either way it then
            // (re)joins `pid`.
            _ => self.fs.apply(pid),
        }
    }

    fn set(&self, r: &LinuxResources) -> Result<()> {
        if self.started_with.borrow().as_ref() != Some(r) {
            let props = self.resource_props(r)?;
            if !props.is_empty() {
                self.bus()?.set_properties(&self.unit, &props)?;
            }
        }
        self.fs.set(r)
    }

    fn freeze(&self) -> Result<()> {
        self.fs.freeze()
    }

    fn thaw(&self) -> Result<()> {
        self.fs.thaw()
    }

    fn is_frozen(&self) -> Result<bool> {
        self.fs.is_frozen()
    }

    fn pids(&self) -> Result<Vec<i32>> {
        self.fs.pids()
    }

    fn stats(&self) -> Result<Stats> {
        self.fs.stats()
    }

    fn kill_all(&self, signal: i32) -> Result<()> {
        self.fs.kill_all(signal)
    }

    fn check_new(&self) -> Result<()> {
        self.fs.check_new()
    }

    fn oom_watch(&self) -> Result<Option<crate::OomWatch>> {
        self.fs.oom_watch()
    }

    /// Stops the unit (systemd removes its cgroups), then removes what is left (the
    /// directories the cgroupfs manager made in hierarchies systemd does not manage).
    fn destroy(&self) -> Result<()> {
        if self.new.is_some() && self.started_with.borrow().is_none() {
            // A create that failed before its unit started: the unit of that name, if any,
            // belongs to someone else.
            return Ok(());
        }
        let stopped = self.bus().and_then(|mut b| b.stop(&self.unit));
        let removed = self.fs.destroy();
        stopped.and(removed)
    }

    fn handle(&self) -> Handle {
        Handle::Systemd {
            unit: self.unit.clone(),
            slice: self.slice.clone(),
            user: self.user,
            fs: Box::new(self.fs_handle.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_form() {
        let m = Manager::load(
            "hull-web.scope",
            "system.slice",
            false,
            &Handle::V2 {
                path: "/sys/fs/cgroup/system.slice/hull-web.scope".into(),
            },
        );
        let json = serde_json::to_value(crate::Manager::handle(&m)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "version": "systemd",
                "unit": "hull-web.scope",
                "slice": "system.slice",
                "user": false,
                "fs": {"version": "v2", "path": "/sys/fs/cgroup/system.slice/hull-web.scope"}
            })
        );
        let back: Handle = serde_json::from_value(json).unwrap();
        assert_eq!(back, crate::Manager::handle(&m));
        // The cgroupfs forms keep their shape.
        let v1 = Handle::V1 {
            paths: vec![("memory".into(), "/sys/fs/cgroup/memory/x".into())],
        };
        assert_eq!(
            serde_json::to_value(&v1).unwrap(),
            serde_json::json!({"version": "v1", "paths": [["memory", "/sys/fs/cgroup/memory/x"]]})
        );
    }

    #[test]
    fn a_create_that_never_started_its_unit_stops_nothing() {
        // Another container may own a unit of this name: destroy must not touch it (nor even
        // connect: there is no bus here).
        let m = Manager {
            new: Some(NewUnit {
                description: "hull container dup".into(),
                is_slice: false,
                cgroup: "/system.slice/hull-dup.scope".into(),
                resources: LinuxResources::default(),
            }),
            ..Manager::load(
                "hull-dup.scope",
                "system.slice",
                false,
                &Handle::V2 {
                    path: "/nonexistent/system.slice/hull-dup.scope".into(),
                },
            )
        };
        crate::Manager::destroy(&m).unwrap();
        assert!(m.bus.borrow().is_none());
    }

    #[test]
    fn placement_check_reads_proc() {
        let me = std::process::id() as i32;
        let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("0::"))
            .or_else(|| text.lines().find(|l| l.contains(":name=systemd:")))
            .unwrap();
        let own = line.splitn(3, ':').nth(2).unwrap();
        check_placed(me, own, "x.scope").unwrap();
        let err = check_placed(me, "/elsewhere.scope", "x.scope").unwrap_err();
        assert!(err.to_string().contains("/elsewhere.scope"), "{err}");
    }
}
