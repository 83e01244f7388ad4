//! The runtime-spec features document (features.md, features-linux.md, runtime-spec 1.3),
//! built from the same tables the code that reads a config uses, so that it lists what hull
//! implements and nothing else.

use serde_json::{json, Value};

use crate::hooks::Point;
use crate::namespaces;

pub fn document() -> Value {
    let hooks: Vec<&str> = Point::ALL.iter().map(|p| p.name()).collect();
    let namespaces: Vec<&str> = namespaces::JOIN_ORDER
        .iter()
        .map(|t| namespaces::name(*t))
        .collect();
    let modes: Vec<&str> = crate::process::mempolicy::MODES
        .iter()
        .map(|m| m.1)
        .collect();
    let mpol_flags: Vec<&str> = crate::process::mempolicy::FLAGS
        .iter()
        .map(|f| f.1)
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::OCI_VERSION,
        "hooks": hooks,
        "mountOptions": crate::rootfs::mount_options(),
        "linux": {
            "namespaces": namespaces,
            "capabilities": crate::security::capabilities::known(),
            "cgroup": hull_cgroups::features(),
            "seccomp": crate::security::seccomp::features(),
            // Labels are applied when the host has the LSM, and refused (naming the field)
            // when it has not: the support is there either way, as the spec means `enabled`.
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            // Implemented (src/resctrl.rs): closID, the schemas, `schemata` and
            // `enableMonitoring`. Like the rest of the document this says what hull supports,
            // "irrelevant to the availability of Intel RDT on the host" (features-linux.md):
            // where no resctrl is mounted, a config that asks for it is an error naming
            // linux.intelRdt.
            "intelRdt": {"enabled": true, "schemata": true, "monitoring": true},
            "memoryPolicy": {"modes": modes, "flags": mpol_flags},
            // Id-mapped binds are implemented (src/rootfs/idmap.rs). Unlike the rest of the
            // document this one follows the kernel (mount_setattr, Linux 5.12): containerd and
            // the kubelet read it to decide whether user-namespaced pods may ask for id-mapped
            // volumes, and a `true` from a kernel that cannot make them would fail those pods
            // at start instead of at admission. Where the kernel can but the runtime may not
            // (rootless), a config that asks is refused naming the mount.
            "mountExtensions": {"idmap": {"enabled": crate::rootfs::idmap_kernel_support()}},
            "netDevices": {"enabled": true},
        },
        // hull gives no annotation a meaning of its own (runc lists "bundle",
        // "org.systemd.property." and "org.criu.config", which it interprets).
        "potentiallyUnsafeConfigAnnotations": [],
        "annotations": {
            "org.opencontainers.runtime-spec.features.version": crate::OCI_VERSION,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &Value) -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    }

    fn spec_with(edit: impl FnOnce(&mut Value)) -> oci_spec::runtime::Spec {
        let mut c: Value = serde_json::from_str(crate::spec::DEFAULT_SPEC).unwrap();
        edit(&mut c);
        crate::spec::parse(c.to_string().as_bytes()).unwrap()
    }

    /// Every value the document lists is one the code that reads a config takes: a listed
    /// name that fell through to "unknown" (or was refused) would be a false claim.
    #[test]
    fn every_listed_value_is_taken_by_the_code() {
        let d = document();
        for name in strings(&d["hooks"]) {
            assert!(Point::ALL.iter().any(|p| p.name() == name), "hook {name}");
        }
        for opt in strings(&d["mountOptions"]) {
            let parsed = crate::rootfs::options::MountOptions::parse(&[&opt]);
            assert!(
                parsed.data.is_empty(),
                "mount option {opt} is not recognised"
            );
        }
        for ns in strings(&d["linux"]["namespaces"]) {
            let spec = spec_with(|c| c["linux"]["namespaces"] = json!([{"type": ns}]));
            assert!(
                crate::spec::namespace(
                    &spec,
                    spec.linux()
                        .as_ref()
                        .unwrap()
                        .namespaces()
                        .as_ref()
                        .unwrap()[0]
                        .typ()
                )
                .is_some(),
                "namespace {ns}"
            );
        }
        for cap in strings(&d["linux"]["capabilities"]) {
            let spec = spec_with(|c| c["process"]["capabilities"] = json!({"bounding": [cap]}));
            let caps = spec
                .process()
                .as_ref()
                .unwrap()
                .capabilities()
                .clone()
                .unwrap();
            assert_eq!(
                caps.bounding().as_ref().unwrap().len(),
                1,
                "capability {cap}"
            );
        }
        let seccomp = &d["linux"]["seccomp"];
        for action in strings(&seccomp["actions"]) {
            let mut profile = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["acct"], "action": action}]
            });
            if action == "SCMP_ACT_NOTIFY" {
                profile["listenerPath"] = json!("/run/agent.sock");
            }
            let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(profile).unwrap();
            crate::security::seccomp::compile(&s, None)
                .unwrap_or_else(|e| panic!("seccomp action {action}: {e}"));
        }
        for op in strings(&seccomp["operators"]) {
            let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "valueTwo": 1, "op": op}]}]
            }))
            .unwrap();
            crate::security::seccomp::compile(&s, None)
                .unwrap_or_else(|e| panic!("seccomp operator {op}: {e}"));
        }
        for arch in strings(&seccomp["archs"]) {
            let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(json!({
                "defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch],
                "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]
            }))
            .unwrap();
            crate::security::seccomp::compile(&s, None)
                .unwrap_or_else(|e| panic!("seccomp arch {arch}: {e}"));
        }
        for flag in strings(&seccomp["supportedFlags"]) {
            assert!(strings(&seccomp["knownFlags"]).contains(&flag), "{flag}");
        }
        let mpol = &d["linux"]["memoryPolicy"];
        for mode in strings(&mpol["modes"]) {
            let nodes = !matches!(mode.as_str(), "MPOL_DEFAULT" | "MPOL_LOCAL");
            let mut policy = json!({"mode": mode});
            if nodes {
                policy["nodes"] = json!("0");
            }
            let spec = spec_with(|c| c["linux"]["memoryPolicy"] = policy);
            crate::spec::validate(&spec, true).unwrap_or_else(|e| panic!("{mode}: {e}"));
        }
        for flag in strings(&mpol["flags"]) {
            let spec = spec_with(|c| {
                c["linux"]["memoryPolicy"] =
                    json!({"mode": "MPOL_BIND", "nodes": "0", "flags": [flag]})
            });
            crate::spec::validate(&spec, true).unwrap_or_else(|e| panic!("{flag}: {e}"));
        }
    }

    /// A document's leaf fields as dotted paths (lists are leaves), with their values.
    fn leaves(v: &Value, at: &str, out: &mut Vec<(String, Value)>) {
        match v.as_object() {
            Some(o) if at != "annotations" => {
                for (k, v) in o {
                    let p = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    leaves(v, &p, out);
                }
            }
            _ => out.push((at.to_string(), v.clone())),
        }
    }

    /// The fields runtime-spec 1.3 defines for the document (features.md, features-linux.md,
    /// specs-go/features): "MUST NOT contain properties that are not defined" in it.
    const SPEC_1_3: &[&str] = &[
        "ociVersionMin",
        "ociVersionMax",
        "hooks",
        "mountOptions",
        "annotations",
        "potentiallyUnsafeConfigAnnotations",
        "linux.namespaces",
        "linux.capabilities",
        "linux.cgroup.v1",
        "linux.cgroup.v2",
        "linux.cgroup.systemd",
        "linux.cgroup.systemdUser",
        "linux.cgroup.rdma",
        "linux.seccomp.enabled",
        "linux.seccomp.actions",
        "linux.seccomp.operators",
        "linux.seccomp.archs",
        "linux.seccomp.knownFlags",
        "linux.seccomp.supportedFlags",
        "linux.apparmor.enabled",
        "linux.selinux.enabled",
        "linux.intelRdt.enabled",
        "linux.intelRdt.schemata",
        "linux.intelRdt.monitoring",
        "linux.memoryPolicy.modes",
        "linux.memoryPolicy.flags",
        "linux.mountExtensions.idmap.enabled",
        "linux.netDevices.enabled",
    ];

    /// The runtime-spec 1.3 fields runc 1.4's `features` does not print (its features.go);
    /// it prints every other one, every boolean `true`.
    const NOT_IN_RUNC_1_4: &[&str] = &[
        "linux.intelRdt.schemata",
        "linux.intelRdt.monitoring",
        "linux.netDevices.enabled",
    ];

    /// The fields runc 1.4's `features` prints: SPEC_1_3 but NOT_IN_RUNC_1_4.
    fn runc_1_4() -> impl Iterator<Item = &'static str> {
        SPEC_1_3
            .iter()
            .copied()
            .filter(|f| !NOT_IN_RUNC_1_4.contains(f))
    }

    /// What runc 1.4 claims and hull does not implement yet, each with why: a `false` here
    /// is the truthful answer, and the list is what a caller cannot rely on.
    const NOT_YET: &[(&str, &str)] = &[];

    /// hull lists every field runc 1.4 lists, claims (`true`) every one runc claims but
    /// those in NOT_YET, and lists nothing runtime-spec 1.3 does not define.
    #[test]
    fn the_fields_runc_1_4_lists_and_nothing_the_spec_does_not_define() {
        let mut got = Vec::new();
        leaves(&document(), "", &mut got);
        for (path, _) in &got {
            assert!(
                SPEC_1_3.contains(&path.as_str()),
                "{path} is not a runtime-spec 1.3 features field"
            );
        }
        for want in runc_1_4() {
            let Some((_, v)) = got.iter().find(|(p, _)| p == want) else {
                panic!("runc 1.4 lists {want}; hull does not");
            };
            if !v.is_boolean() {
                continue;
            }
            let gap = NOT_YET.iter().find(|(p, _)| *p == want);
            match (v.as_bool().unwrap(), gap) {
                (true, None) => {}
                (false, Some(_)) => {}
                (false, None) => panic!("{want} is false: implement it or say why in NOT_YET"),
                (true, Some((_, why))) => {
                    panic!("{want} is claimed, yet NOT_YET says \"{why}\": drop it there")
                }
            }
        }
        // The booleans runc does not print are claims too: each must be `true` (none of
        // them is in NOT_YET).
        for (path, v) in &got {
            if v.is_boolean() && !runc_1_4().any(|f| f == path.as_str()) {
                assert_eq!(v, &Value::Bool(true), "{path}");
            }
        }
    }

    /// The document describes the build, not the host (features.md: "SHOULD be determined
    /// on the compilation time"): the build's managers and resctrl support are claimed on a
    /// host without systemd, cgroup v2 or resctrl, such as the ones the unit tests run on.
    #[test]
    fn the_document_does_not_read_the_host() {
        let d = document();
        for k in ["v1", "v2", "systemd", "systemdUser", "rdma"] {
            assert_eq!(d["linux"]["cgroup"][k], true, "cgroup.{k}");
        }
        assert_eq!(d["linux"]["intelRdt"]["enabled"], true);
    }

    #[test]
    fn the_version_is_the_specs() {
        let d = document();
        assert_eq!(d["ociVersionMax"], "1.3.0");
        assert_eq!(crate::OCI_VERSION, "1.3.0");
    }
}
