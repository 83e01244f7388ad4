//! config.json from the image config, following the image-spec's conversion rules on top
//! of the runtime's default spec (the shape `runc spec` prints).

use std::path::Path;

use serde_json::{json, Value};

use crate::image::ImageConfig;
use crate::owner::IdMap;
use crate::user::User;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Knobs of the generated spec that are not in the image.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub terminal: bool,
    pub rootless: bool,
    pub uid_map: Vec<IdMap>,
    pub gid_map: Vec<IdMap>,
}

/// The runtime's default specs (what `hull spec` and `hull spec --rootless` print): one copy,
/// read here rather than written out again. hull-image does not depend on the runtime crate,
/// so the files are included by path.
const RUNTIME_DEFAULT: &str = include_str!("../../../src/spec/default.json");
const RUNTIME_ROOTLESS: &str = include_str!("../../../src/spec/rootless.json");

/// The default spec: the runtime's `hull spec` (and `--rootless`), with what a generated
/// bundle needs differently: ociVersion 1.0.2-dev (runc 1.1's, which older runtimes such as
/// crun 1.8 insist on), a writable rootfs (it is this bundle's own copy or overlay upper), no
/// terminal unless asked (so the bundle runs from a script as well as from a shell), and
/// runc 1.1's namespaces: no cgroup namespace, and rootless without the /sys/fs/cgroup mount.
pub fn default_spec(opts: &Options) -> Value {
    let base = if opts.rootless {
        RUNTIME_ROOTLESS
    } else {
        RUNTIME_DEFAULT
    };
    let mut spec: Value = serde_json::from_str(base).expect("the runtime's default spec is JSON");
    spec["ociVersion"] = json!("1.0.2-dev");
    spec["process"]["terminal"] = json!(opts.terminal);
    spec["root"]["readonly"] = json!(false);
    if opts.rootless {
        if let Some(mounts) = spec["mounts"].as_array_mut() {
            mounts.retain(|m| m["destination"] != "/sys/fs/cgroup");
        }
    }
    let linux = &mut spec["linux"];
    if let Some(namespaces) = linux["namespaces"].as_array_mut() {
        namespaces.retain(|n| n["type"] != "cgroup");
        let has_user = namespaces.iter().any(|n| n["type"] == "user");
        if !opts.uid_map.is_empty() && !has_user {
            namespaces.push(json!({"type": "user"}));
        }
    }
    if opts.rootless {
        // Our own ids become root in the container, as `runc spec --rootless` does.
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    }
    let maps = |m: &[IdMap]| -> Value {
        m.iter()
            .map(|m| json!({"containerID": m.container, "hostID": m.host, "size": m.size}))
            .collect()
    };
    if !opts.uid_map.is_empty() {
        linux["uidMappings"] = maps(&opts.uid_map);
    }
    if !opts.gid_map.is_empty() {
        linux["gidMappings"] = maps(&opts.gid_map);
    }
    spec
}

/// The directory under the bundle that backs a volume: the volume path, flattened.
pub fn volume_dir(volume: &str) -> String {
    let name: String = volume
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "_".into()
    } else {
        name
    }
}

/// The bundle's config.json. `bundle` must be absolute: volume sources name it.
pub fn generate(image: &ImageConfig, user: &User, bundle: &Path, opts: &Options) -> Value {
    let mut spec = default_spec(opts);
    let rc = image.config.clone().unwrap_or_default();
    let process = &mut spec["process"];

    let mut args: Vec<String> = rc.entrypoint.clone().unwrap_or_default();
    args.extend(rc.cmd.clone().unwrap_or_default());
    if !args.is_empty() {
        process["args"] = json!(args);
    }

    // The image's variables win over the defaults with the same name.
    let mut env: Vec<String> = vec![DEFAULT_PATH.into(), "TERM=xterm".into()];
    for var in rc.env.iter().flatten() {
        let key = var.split('=').next().unwrap_or_default();
        match env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
            Some(slot) => *slot = var.clone(),
            None => env.push(var.clone()),
        }
    }
    process["env"] = json!(env);
    if let Some(dir) = rc.working_dir.as_deref().filter(|d| !d.is_empty()) {
        process["cwd"] = json!(dir);
    }
    process["user"] = json!({"uid": user.uid, "gid": user.gid});
    if !user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(user.additional_gids);
    }

    let mut annotations = serde_json::Map::new();
    let mut put = |k: &str, v: &str| {
        annotations.insert(format!("org.opencontainers.image.{k}"), json!(v));
    };
    put("os", &image.os);
    put("architecture", &image.architecture);
    if let Some(a) = image.author.as_deref() {
        put("author", a);
    }
    if let Some(c) = image.created.as_deref() {
        put("created", c);
    }
    if let Some(s) = rc.stop_signal.as_deref() {
        put("stopSignal", s);
    }
    if let Some(ports) = rc.exposed_ports.as_ref().filter(|p| !p.is_empty()) {
        put(
            "exposedPorts",
            &ports.keys().cloned().collect::<Vec<_>>().join(","),
        );
    }
    // Labels come last so that they win, as the conversion rules ask.
    for (k, v) in rc.labels.iter().flatten() {
        annotations.insert(k.clone(), json!(v));
    }
    spec["annotations"] = Value::Object(annotations);

    // Volumes: a directory of the bundle bound at each, so the data is not written to the
    // container's root filesystem and survives the container.
    if let Some(volumes) = rc.volumes.as_ref() {
        let mounts = spec["mounts"]
            .as_array_mut()
            .expect("default spec has mounts");
        for dest in volumes.keys() {
            mounts.push(json!({
                "destination": dest,
                "type": "bind",
                "source": bundle.join("volumes").join(volume_dir(dest)),
                "options": ["rbind", "rw"],
            }));
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{parse_json, ImageConfig};

    /// The generated default is the runtime's `hull spec` output, changed only where this
    /// module says it is; anything else that drifts fails here.
    #[test]
    fn default_spec_is_the_runtimes_with_the_stated_changes() {
        for (rootless, base) in [(false, RUNTIME_DEFAULT), (true, RUNTIME_ROOTLESS)] {
            let opts = Options {
                rootless,
                ..Default::default()
            };
            let mut ours = default_spec(&opts);
            let mut theirs: Value = serde_json::from_str(base).unwrap();
            assert_eq!(ours["ociVersion"], "1.0.2-dev");
            assert_eq!(ours["process"]["terminal"], false);
            assert_eq!(ours["root"]["readonly"], false);
            let ns = |v: &Value| -> Vec<String> {
                v["linux"]["namespaces"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n["type"].as_str().unwrap().to_string())
                    .collect()
            };
            assert!(!ns(&ours).contains(&"cgroup".to_string()));
            for v in [&mut ours, &mut theirs] {
                for key in ["ociVersion", "root"] {
                    v.as_object_mut().unwrap().remove(key);
                }
                v["process"].as_object_mut().unwrap().remove("terminal");
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "cgroup");
                v["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|m| !rootless || m["destination"] != "/sys/fs/cgroup");
                let linux = v["linux"].as_object_mut().unwrap();
                linux.remove("uidMappings");
                linux.remove("gidMappings");
            }
            assert_eq!(ours, theirs, "rootless={rootless}");
        }
    }

    #[test]
    fn converts_image_config() {
        let cfg: ImageConfig = parse_json(
            br#"{"architecture":"amd64","os":"linux","author":"me",
                 "config":{"Entrypoint":["/bin/app"],"Cmd":["--flag"],"Env":["PATH=/app","A=1"],
                 "WorkingDir":"/srv","ExposedPorts":{"80/tcp":{},"53/udp":{}},"StopSignal":"SIGINT",
                 "Labels":{"org.opencontainers.image.author":"label","x":"y"},"Volumes":{"/data":{}}},
                 "rootfs":{"type":"layers","diff_ids":[]}}"#,
            || "t".into(),
        )
        .unwrap();
        let user = User {
            uid: 1000,
            gid: 100,
            additional_gids: vec![10],
        };
        let s = generate(&cfg, &user, Path::new("/b"), &Options::default());
        assert_eq!(s["process"]["args"], json!(["/bin/app", "--flag"]));
        assert_eq!(
            s["process"]["env"],
            json!(["PATH=/app", "TERM=xterm", "A=1"])
        );
        assert_eq!(s["process"]["cwd"], "/srv");
        assert_eq!(
            s["process"]["user"],
            json!({"uid": 1000, "gid": 100, "additionalGids": [10]})
        );
        let a = &s["annotations"];
        assert_eq!(a["org.opencontainers.image.author"], "label");
        assert_eq!(a["org.opencontainers.image.exposedPorts"], "53/udp,80/tcp");
        assert_eq!(a["org.opencontainers.image.stopSignal"], "SIGINT");
        assert_eq!(a["x"], "y");
        let vol = s["mounts"].as_array().unwrap().last().unwrap();
        assert_eq!(vol["destination"], "/data");
        assert_eq!(vol["source"], "/b/volumes/data");
        // The result is a valid runtime spec.
        let parsed: oci_spec::runtime::Spec = serde_json::from_value(s).unwrap();
        assert_eq!(parsed.root().as_ref().unwrap().path(), Path::new("rootfs"));
    }
}
