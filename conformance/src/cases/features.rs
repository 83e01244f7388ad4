//! features.md: the features document and that what it lists is accepted.

use serde_json::{json, Value};

use super::{skip, Case, Res};
use crate::check;
use crate::ctx::Ctx;

pub const CASES: &[Case] = &[
    Case {
        name: "features/versions",
        spec: "features.md#specification-version",
        quote: "ociVersionMin (string, REQUIRED) ... ociVersionMax (string, REQUIRED) ... The value MUST NOT be less than the value of the ociVersionMin property.",
        run: versions,
    },
    Case {
        name: "features/min-version-accepted",
        spec: "features.md#specification-version",
        quote: "ociVersionMin ... The runtime MUST accept this value as the ociVersion property of config.json.",
        run: min_accepted,
    },
    Case {
        name: "features/max-version-accepted",
        spec: "features.md#specification-version",
        quote: "ociVersionMax ... The runtime MUST accept this value as the ociVersion property of config.json.",
        run: max_accepted,
    },
    Case {
        name: "features/defined-properties-only",
        spec: "features.md#specification-version",
        quote: "The feature document MUST NOT contain properties that are not defined in this version of the Open Container Initiative Runtime Specification.",
        run: defined_only,
    },
    Case {
        name: "features/hooks-supported",
        spec: "features.md#hooks",
        quote: "hooks (array of strings, OPTIONAL) The recognized names of the hooks. The runtime MUST support the elements in this array as the hooks property of config.json.",
        run: hooks_supported,
    },
    Case {
        name: "features/mount-options-recognized",
        spec: "features.md#mount-options",
        quote: "The runtime MUST recognize the elements in this array as the options of mounts objects in config.json.",
        run: mount_options,
    },
    Case {
        name: "features/mount-options-no-data",
        spec: "features.md#mount-options",
        quote: "Linux: this array SHOULD NOT contain filesystem-specific mount options that are passed to the mount(2) syscall as const void *data.",
        run: mount_options_no_data,
    },
    Case {
        name: "features/namespaces-supported",
        spec: "features-linux.md#namespaces",
        quote: "namespaces (array of strings, OPTIONAL) The recognized names of the namespaces, including namespaces that might not be supported by the host operating system.",
        run: namespaces,
    },
    Case {
        name: "features/capabilities-supported",
        spec: "features-linux.md#capabilities",
        quote: "capabilities (array of strings, OPTIONAL) The recognized names of the capabilities, including capabilities that might not be supported by the host operating system.",
        run: capabilities,
    },
    Case {
        name: "features/seccomp-actions-operators",
        spec: "features-linux.md#seccomp",
        quote: "actions (array of strings, OPTIONAL) The recognized names of the seccomp actions. operators (array of strings, OPTIONAL) The recognized names of the seccomp operators.",
        run: seccomp,
    },
    Case {
        name: "features/annotations",
        spec: "features.md#annotations",
        quote: "Annotations MUST be a key-value map that follows the same convention as the Key and Values of the annotations property of config.json.",
        run: annotations,
    },
];

/// The runtime's features document; a skip when it offers none (the document is optional).
fn document(ctx: &mut Ctx) -> Result<Value, super::Verdict> {
    let out = ctx.rt(&["features"]);
    if !out.ok() {
        return Err(super::Verdict::Skip(
            "the runtime provides no features document (`features` is a MAY)".into(),
        ));
    }
    serde_json::from_str(&out.stdout)
        .map_err(|e| super::Verdict::Fail(format!("features output is not JSON: {e}")))
}

fn parse_version(v: &str) -> Option<(u64, u64, u64, bool)> {
    let (core, pre) = match v.split_once('-') {
        Some((c, _)) => (c, true),
        None => (v.split('+').next()?, false),
    };
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??, pre))
}

fn versions(ctx: &mut Ctx) -> Res {
    let d = document(ctx)?;
    let (Some(min), Some(max)) = (d["ociVersionMin"].as_str(), d["ociVersionMax"].as_str()) else {
        return super::fail(format!("ociVersionMin/ociVersionMax missing: {d}"));
    };
    let (Some(a), Some(b)) = (parse_version(min), parse_version(max)) else {
        return super::fail(format!("not SemVer: {min} / {max}"));
    };
    // A pre-release sorts before its release.
    let key = |v: (u64, u64, u64, bool)| (v.0, v.1, v.2, !v.3);
    check!(
        key(b) >= key(a),
        "ociVersionMax {max} < ociVersionMin {min}"
    );
    Ok(())
}

fn version_accepted(ctx: &mut Ctx, field: &str) -> Res {
    let d = document(ctx)?;
    let v = d[field].as_str().unwrap_or_default().to_string();
    let mut b = ctx.probe_bundle(&[])?;
    b.config["ociVersion"] = json!(v);
    b.save()?;
    ctx.probe(&b)
        .map_err(|e| super::Verdict::Fail(format!("ociVersion {v}: {e:#}")))?;
    Ok(())
}

fn min_accepted(ctx: &mut Ctx) -> Res {
    version_accepted(ctx, "ociVersionMin")
}

fn max_accepted(ctx: &mut Ctx) -> Res {
    version_accepted(ctx, "ociVersionMax")
}

/// The document's fields with the runtime-spec release that defined each (features.md,
/// features-linux.md, specs-go/features): "dotted.path" of an object member, since (major, minor).
/// The first ones are runc 1.1's document, which features.md (1.1) formalised and which says
/// ociVersionMax 1.0.2-dev: they are taken under any version.
const DEFINED: &[(&str, (u64, u64))] = &[
    ("ociVersionMin", (1, 0)),
    ("ociVersionMax", (1, 0)),
    ("hooks", (1, 0)),
    ("mountOptions", (1, 0)),
    ("linux", (1, 0)),
    ("annotations", (1, 0)),
    ("potentiallyUnsafeConfigAnnotations", (1, 2)),
    ("linux.namespaces", (1, 0)),
    ("linux.capabilities", (1, 0)),
    ("linux.cgroup", (1, 0)),
    ("linux.cgroup.v1", (1, 0)),
    ("linux.cgroup.v2", (1, 0)),
    ("linux.cgroup.systemd", (1, 0)),
    ("linux.cgroup.systemdUser", (1, 0)),
    ("linux.cgroup.rdma", (1, 1)),
    ("linux.seccomp", (1, 0)),
    ("linux.seccomp.enabled", (1, 0)),
    ("linux.seccomp.actions", (1, 0)),
    ("linux.seccomp.operators", (1, 0)),
    ("linux.seccomp.archs", (1, 0)),
    ("linux.seccomp.knownFlags", (1, 1)),
    ("linux.seccomp.supportedFlags", (1, 1)),
    ("linux.apparmor", (1, 0)),
    ("linux.apparmor.enabled", (1, 0)),
    ("linux.selinux", (1, 0)),
    ("linux.selinux.enabled", (1, 0)),
    ("linux.intelRdt", (1, 1)),
    ("linux.intelRdt.enabled", (1, 1)),
    ("linux.intelRdt.schemata", (1, 3)),
    ("linux.intelRdt.monitoring", (1, 3)),
    ("linux.mountExtensions", (1, 2)),
    ("linux.mountExtensions.idmap", (1, 2)),
    ("linux.mountExtensions.idmap.enabled", (1, 2)),
    ("linux.memoryPolicy", (1, 3)),
    ("linux.memoryPolicy.modes", (1, 3)),
    ("linux.memoryPolicy.flags", (1, 3)),
    ("linux.netDevices", (1, 3)),
    ("linux.netDevices.enabled", (1, 3)),
];

/// Every object member of the document, as a dotted path (annotations' keys are free-form).
fn members(v: &Value, at: &str, out: &mut Vec<String>) {
    let Some(o) = v.as_object() else { return };
    for (k, v) in o {
        let p = if at.is_empty() {
            k.clone()
        } else {
            format!("{at}.{k}")
        };
        if p != "annotations" {
            members(v, &p, out);
        }
        out.push(p);
    }
}

fn defined_only(ctx: &mut Ctx) -> Res {
    let d = document(ctx)?;
    let max = d["ociVersionMax"].as_str().unwrap_or_default().to_string();
    let Some((major, minor, _, _)) = parse_version(&max) else {
        return super::fail(format!("ociVersionMax is not SemVer: {max:?}"));
    };
    let mut found = Vec::new();
    members(&d, "", &mut found);
    for p in found {
        match DEFINED.iter().find(|(k, _)| *k == p) {
            None => check!(false, "undefined property {p}"),
            Some((_, since)) => check!(
                (major, minor) >= *since,
                "{p} is defined from runtime-spec {}.{}, but ociVersionMax is {max}",
                since.0,
                since.1
            ),
        }
    }
    Ok(())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn hooks_supported(ctx: &mut Ctx) -> Res {
    let d = document(ctx)?;
    let hooks = strings(&d["hooks"]);
    if hooks.is_empty() {
        return skip("the features document lists no hooks");
    }
    let mut b = ctx.bundle(&["true"])?;
    let mut h = serde_json::Map::new();
    for name in &hooks {
        // /bin/true exists on the host and in the busybox rootfs alike.
        h.insert(name.clone(), json!([{"path": "/bin/true"}]));
    }
    b.config["hooks"] = Value::Object(h);
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    check!(out.ok(), "start with hooks {hooks:?}: {}", out.describe());
    check!(ctx.wait_status(&id, "stopped"), "never stopped");
    let out = ctx.delete(&id);
    check!(out.ok(), "delete: {}", out.describe());
    Ok(())
}

fn mount_options(ctx: &mut Ctx) -> Res {
    let d = document(ctx)?;
    let opts = strings(&d["mountOptions"]);
    if opts.is_empty() {
        return skip("the features document lists no mount options");
    }
    // One tmpfs per option; options that change what kind of mount it is (bind, remount,
    // idmapped) need a different source and are left out.
    let skip_opts = ["bind", "rbind", "remount", "idmap", "ridmap"];
    let tried: Vec<&String> = opts
        .iter()
        .filter(|o| !skip_opts.contains(&o.as_str()))
        .collect();
    if tmpfs_with(ctx, &tried)? {
        return Ok(());
    }
    // Name the culprits: one container per option.
    let mut refused = Vec::new();
    for o in tried {
        if !tmpfs_with(ctx, &[o])? {
            refused.push(o.clone());
        }
    }
    super::fail(format!(
        "listed options refused on a tmpfs mount: {refused:?}"
    ))
}

/// Whether a container with one tmpfs mount per option runs.
fn tmpfs_with(ctx: &mut Ctx, opts: &[&String]) -> Result<bool, super::Verdict> {
    let mut b = ctx.bundle(&["true"])?;
    for (n, o) in opts.iter().enumerate() {
        b.add_mount(json!({"destination": format!("/opt{n}"), "type": "tmpfs", "source": "tmpfs", "options": [o]}));
    }
    b.save()?;
    let id = ctx.id();
    Ok(ctx.run(&id, &b).ok())
}

fn mount_options_no_data(ctx: &mut Ctx) -> Res {
    let d = document(ctx)?;
    let data: Vec<String> = strings(&d["mountOptions"])
        .into_iter()
        .filter(|o| o.contains('='))
        .collect();
    check!(
        data.is_empty(),
        "filesystem-specific options listed: {data:?}"
    );
    Ok(())
}

fn namespaces(ctx: &mut Ctx) -> Res {
    let d = document(ctx)?;
    let ns = strings(&d["linux"]["namespaces"]);
    if ns.is_empty() {
        return skip("the features document lists no namespaces");
    }
    let mut b = ctx.probe_bundle(&[])?;
    // A user namespace needs id mappings: the rest are taken as they come.
    for t in ns.iter().filter(|t| *t != "user") {
        b.set_namespace(t, None);
    }
    b.save()?;
    ctx.probe(&b)
        .map_err(|e| super::Verdict::Fail(format!("namespaces {ns:?}: {e:#}")))?;
    Ok(())
}

fn capabilities(ctx: &mut Ctx) -> Res {
    let d = document(ctx)?;
    let caps = strings(&d["linux"]["capabilities"]);
    if caps.is_empty() {
        return skip("the features document lists no capabilities");
    }
    // Those the host cannot grant are another case's business (capabilities-ungrantable).
    let caps: Vec<String> = caps
        .into_iter()
        .filter(|c| crate::host::can_grant(c))
        .collect();
    let mut b = ctx.probe_bundle(&[])?;
    b.config["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    b.save()?;
    ctx.probe(&b)
        .map_err(|e| super::Verdict::Fail(format!("all listed capabilities: {e:#}")))?;
    Ok(())
}

fn seccomp(ctx: &mut Ctx) -> Res {
    let d = document(ctx)?;
    let actions = strings(&d["linux"]["seccomp"]["actions"]);
    let ops = strings(&d["linux"]["seccomp"]["operators"]);
    if actions.is_empty() && ops.is_empty() {
        return skip("the features document lists no seccomp actions or operators");
    }
    // Rules on syscalls the probe never makes; the notify action needs a listener.
    let unused = [
        "acct",
        "swapon",
        "swapoff",
        "pivot_root",
        "syslog",
        "vhangup",
        "kexec_load",
        "init_module",
        "delete_module",
        "reboot",
        "settimeofday",
        "adjtimex",
        "quotactl",
    ];
    let mut rules = Vec::new();
    let mut i = 0;
    for a in actions.iter().filter(|a| *a != "SCMP_ACT_NOTIFY") {
        rules.push(json!({"names": [unused[i % unused.len()]], "action": a}));
        i += 1;
    }
    for op in &ops {
        let mut arg = json!({"index": 0, "value": 1234, "op": op});
        if op == "SCMP_CMP_MASKED_EQ" {
            arg["valueTwo"] = json!(1234);
        }
        rules.push(
            json!({"names": [unused[i % unused.len()]], "action": "SCMP_ACT_ERRNO", "args": [arg]}),
        );
        i += 1;
    }
    let mut b = ctx.probe_bundle(&[])?;
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules});
    b.save()?;
    ctx.probe(&b).map_err(|e| {
        super::Verdict::Fail(format!(
            "listed actions {actions:?} / operators {ops:?}: {e:#}"
        ))
    })?;
    Ok(())
}

fn annotations(ctx: &mut Ctx) -> Res {
    let d = document(ctx)?;
    let a = &d["annotations"];
    if a.is_null() {
        return skip("the features document has no annotations");
    }
    let Some(map) = a.as_object() else {
        return super::fail(format!("annotations is not a map: {a}"));
    };
    for (k, v) in map {
        check!(!k.is_empty() && v.is_string(), "annotation {k:?} = {v}");
    }
    Ok(())
}
