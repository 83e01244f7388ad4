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

/// hull's default spec (what `hull spec` prints), included rather than written out again so
/// the suite, the runtime and hull-image start from one config. The suite runs against any
/// runtime, so it needs no hull crate, only this file.
pub const RUNTIME_DEFAULT: &str = include_str!("../../src/spec/default.json");

/// runc 1.1's `runc spec` output, with terminal off and `args` as the process: hull's default
/// without the cgroup namespace (runc added it to its default in 1.2; runc 1.1 and crun 1.8
/// do not create one) and with the suite's hostname and the version asked for.
pub fn default_config(args: &[&str], oci_version: &str) -> Value {
    let mut config: Value =
        serde_json::from_str(RUNTIME_DEFAULT).expect("the runtime's default spec is JSON");
    config["ociVersion"] = json!(oci_version);
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(args);
    config["hostname"] = json!("conformance");
    if let Some(namespaces) = config["linux"]["namespaces"].as_array_mut() {
        namespaces.retain(|n| n["type"] != "cgroup");
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The suite's default is hull's `hull spec` output, changed only where `default_config`
    /// says; anything else that drifts fails here.
    #[test]
    fn default_config_is_the_runtimes_with_the_stated_changes() {
        let mut ours = default_config(&["true"], "1.0.2");
        assert_eq!(ours["ociVersion"], "1.0.2");
        assert_eq!(ours["hostname"], "conformance");
        assert_eq!(ours["process"]["args"], json!(["true"]));
        assert_eq!(ours["process"]["terminal"], false);
        let mut theirs: Value = serde_json::from_str(RUNTIME_DEFAULT).unwrap();
        for v in [&mut ours, &mut theirs] {
            v.as_object_mut().unwrap().remove("ociVersion");
            v.as_object_mut().unwrap().remove("hostname");
            v["process"].as_object_mut().unwrap().remove("args");
            v["process"].as_object_mut().unwrap().remove("terminal");
            let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "cgroup");
        }
        assert_eq!(ours, theirs);
    }
}
