//! The runtime-spec features document, built from the same tables the config code uses.

use serde_json::{json, Value};

use crate::hooks::Point;
use crate::namespaces;

pub fn document() -> Value {
    let hooks: Vec<&str> = Point::ALL.iter().map(|p| p.name()).collect();
    let namespaces: Vec<&str> = namespaces::JOIN_ORDER
        .iter()
        .map(|t| namespaces::name(*t))
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
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": crate::rootfs::idmap_supported()}},
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features.version": crate::OCI_VERSION,
        },
    })
}
