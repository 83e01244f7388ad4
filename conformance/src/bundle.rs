//! Bundles: a busybox-static rootfs with the probe at /probe, and a config.json that starts
//! as runc's `spec` default (so it means the same to every runtime under test).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// busybox's applet names, listed once per run.
fn applets() -> &'static [String] {
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        std::process::Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    })
}

pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    /// Makes a bundle in `dir` (which must not exist) running `args`.
    pub fn new(dir: &Path, args: &[&str], oci_version: &str, probe: &Path) -> Result<Bundle> {
        let rootfs = dir.join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
            std::fs::create_dir_all(rootfs.join(d))?;
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .context("copy /bin/busybox (busybox-static must be installed)")?;
        for applet in applets() {
            let link = rootfs.join("bin").join(applet);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", link)?;
            }
        }
        std::fs::copy(probe, rootfs.join("probe"))
            .with_context(|| format!("copy the probe from {}", probe.display()))?;
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )?;
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
        let b = Bundle {
            dir: dir.to_path_buf(),
            config: default_config(args, oci_version),
        };
        b.save()?;
        Ok(b)
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn path(&self) -> &str {
        self.dir.to_str().unwrap_or_default()
    }

    /// Writes `config` to config.json; call after changing it.
    pub fn save(&self) -> Result<()> {
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&self.config)?,
        )?;
        Ok(())
    }

    /// Adds a mount to the end of `mounts`.
    pub fn add_mount(&mut self, m: Value) {
        if let Some(list) = self.config["mounts"].as_array_mut() {
            list.push(m);
        }
    }

    /// Removes the namespace of type `typ` from `linux.namespaces`.
    pub fn drop_namespace(&mut self, typ: &str) {
        if let Some(list) = self.config["linux"]["namespaces"].as_array_mut() {
            list.retain(|n| n["type"] != typ);
        }
    }

    /// Sets (or adds) the namespace of type `typ`, joined by `path` when given.
    pub fn set_namespace(&mut self, typ: &str, path: Option<&str>) {
        self.drop_namespace(typ);
        let mut ns = json!({ "type": typ });
        if let Some(p) = path {
            ns["path"] = json!(p);
        }
        if let Some(list) = self.config["linux"]["namespaces"].as_array_mut() {
            list.push(ns);
        }
    }

    /// Makes the root filesystem writable (cases that leave marks in it).
    pub fn writable(&mut self) {
        self.config["root"]["readonly"] = json!(false);
    }
}

/// runc 1.1's `runc spec` output, with terminal off and `args` as the process.
pub fn default_config(args: &[&str], oci_version: &str) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": oci_version,
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "conformance",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}
