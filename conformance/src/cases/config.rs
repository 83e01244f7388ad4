//! config.md: root, mounts, hostname, domainname, annotations, extensibility, valid values.

use serde_json::{json, Value};

use super::{Case, Res};
use crate::check;
use crate::ctx::Ctx;

pub const CASES: &[Case] = &[
    Case {
        name: "config/root-path-relative",
        spec: "config.md#root",
        quote: "On POSIX platforms, path is either an absolute path or a relative path to the bundle.",
        run: root_relative,
    },
    Case {
        name: "config/root-path-absolute",
        spec: "config.md#root",
        quote: "On POSIX platforms, path is either an absolute path or a relative path to the bundle.",
        run: root_absolute,
    },
    Case {
        name: "config/root-path-missing",
        spec: "config.md#root",
        quote: "A directory MUST exist at the path declared by the field.",
        run: root_missing,
    },
    Case {
        name: "config/root-readonly",
        spec: "config.md#root",
        quote: "readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only inside the container, defaults to false.",
        run: root_readonly,
    },
    Case {
        name: "config/root-readonly-default-false",
        spec: "config.md#root",
        quote: "readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only inside the container, defaults to false.",
        run: root_writable,
    },
    Case {
        name: "config/mounts-listed-order",
        spec: "config.md#mounts",
        quote: "The runtime MUST mount entries in the listed order.",
        run: mounts_order,
    },
    Case {
        name: "config/mounts-relative-destination",
        spec: "config.md#mounts",
        quote: "Linux: This value SHOULD be an absolute path. For compatibility with old tools and configurations, it MAY be a relative path, in which case it MUST be interpreted as relative to \"/\".",
        run: mounts_relative_destination,
    },
    Case {
        name: "config/mounts-tmpfs",
        spec: "config.md#mounts",
        quote: "For Linux, the parameters are as documented in mount(2) system call man page.",
        run: mounts_tmpfs,
    },
    Case {
        name: "config/mounts-bind",
        spec: "config.md#mounts",
        quote: "source (string, OPTIONAL) A device name, but can also be a file or directory name for bind mounts or a dummy. ... A mount is a bind mount if it has either bind or rbind in the options.",
        run: mounts_bind,
    },
    Case {
        name: "config/mounts-bind-relative-source",
        spec: "config.md#mounts",
        quote: "Path values for bind mounts are either absolute or relative to the bundle.",
        run: mounts_bind_relative,
    },
    Case {
        name: "config/mounts-bind-file",
        spec: "config.md#mounts",
        quote: "source (string, OPTIONAL) A device name, but can also be a file or directory name for bind mounts or a dummy.",
        run: mounts_bind_file,
    },
    Case {
        name: "config/mounts-option-ro",
        spec: "config.md#configLinuxMountOptions",
        quote: "ro | MUST",
        run: mounts_ro,
    },
    Case {
        name: "config/mounts-bind-ro",
        spec: "config.md#configLinuxMountOptions",
        quote: "bind | MUST | Bind mount; ro | MUST",
        run: mounts_bind_ro,
    },
    Case {
        name: "config/mounts-options-nosuid-nodev-noexec",
        spec: "config.md#configLinuxMountOptions",
        quote: "nodev | MUST; noexec | MUST; nosuid | MUST",
        run: mounts_nosuid,
    },
    Case {
        name: "config/mounts-option-noatime",
        spec: "config.md#configLinuxMountOptions",
        quote: "noatime | MUST",
        run: mounts_noatime,
    },
    Case {
        name: "config/mounts-option-rprivate",
        spec: "config.md#configLinuxMountOptions",
        quote: "rprivate | MUST | Bind mount propagation",
        run: mounts_rprivate,
    },
    Case {
        name: "config/mounts-option-rslave",
        spec: "config.md#configLinuxMountOptions",
        quote: "rslave | MUST | Bind mount propagation",
        run: mounts_rslave,
    },
    Case {
        name: "config/mounts-option-rshared",
        spec: "config.md#configLinuxMountOptions",
        quote: "rshared | MUST | Bind mount propagation",
        run: mounts_rshared,
    },
    Case {
        name: "config/mounts-option-rro",
        spec: "config.md#configLinuxMountOptions",
        quote: "rro | SHOULD | Recursive ro",
        run: mounts_rro,
    },
    Case {
        name: "config/mounts-filesystem-data",
        spec: "config.md#configLinuxMountOptions",
        quote: "Runtimes SHOULD treat unknown options as filesystem-specific ones and pass those as a comma-separated string to the fifth (const void *data) argument of mount(2).",
        run: mounts_data,
    },
    Case {
        name: "config/hostname",
        spec: "config.md#hostname",
        quote: "hostname (string, OPTIONAL) specifies the container's hostname as seen by processes running inside the container.",
        run: hostname,
    },
    Case {
        name: "config/domainname",
        spec: "config.md#domainname",
        quote: "domainname (string, OPTIONAL) specifies the container's domainname as seen by processes running inside the container.",
        run: domainname,
    },
    Case {
        name: "config/annotations-unknown-keys",
        spec: "config.md#annotations",
        quote: "Runtimes MUST handle unknown annotation keys like any other unknown property.",
        run: annotations_unknown,
    },
    Case {
        name: "config/unknown-properties-ignored",
        spec: "config.md#extensibility",
        quote: "Runtimes MAY log unknown properties but MUST otherwise ignore them. That includes not generating errors if they encounter an unknown property.",
        run: unknown_properties,
    },
    Case {
        name: "config/invalid-value-namespace",
        spec: "config.md#valid-values",
        quote: "Runtimes MUST generate an error when invalid or unsupported values are encountered.",
        run: invalid_namespace,
    },
    Case {
        name: "config/oci-version-invalid",
        spec: "config.md#specification-version",
        quote: "ociVersion (string, REQUIRED) MUST be in SemVer v2.0.0 format and specifies the version of the Open Container Initiative Runtime Specification with which the bundle complies.",
        run: invalid_oci_version,
    },
    Case {
        name: "config/invalid-value-mount-destination",
        spec: "config.md#valid-values",
        quote: "Runtimes MUST generate an error when invalid or unsupported values are encountered.",
        run: invalid_mount,
    },
    Case {
        name: "config/create-without-process",
        spec: "config.md#process",
        quote: "process (object, OPTIONAL) specifies the container process. This property is REQUIRED when start is called.",
        run: create_without_process,
    },
];

fn probe_report(ctx: &mut Ctx, b: &crate::bundle::Bundle) -> Result<Value, super::Verdict> {
    Ok(ctx.probe(b)?)
}

/// The probe's mount entry for `target`, if any.
fn mount<'a>(report: &'a Value, target: &str) -> Option<&'a Value> {
    report["mounts"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["target"] == target)
}

fn mount_opts(report: &Value, target: &str) -> Vec<String> {
    mount(report, target)
        .and_then(|m| m["options"].as_str())
        .unwrap_or_default()
        .split(',')
        .map(String::from)
        .collect()
}

fn root_relative(ctx: &mut Ctx) -> Res {
    let b = ctx.probe_bundle(&["--stat", "/probe"])?;
    check!(
        b.config["root"]["path"] == "rootfs",
        "bundle not set up as expected"
    );
    let r = probe_report(ctx, &b)?;
    check!(
        r["stat"]["/probe"]["type"] == "file",
        "the rootfs is not the bundle's: {}",
        r["stat"]
    );
    Ok(())
}

fn root_absolute(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&["--stat", "/probe"])?;
    b.config["root"]["path"] = json!(b.rootfs());
    b.save()?;
    let r = probe_report(ctx, &b)?;
    check!(
        r["stat"]["/probe"]["type"] == "file",
        "the rootfs is not the bundle's: {}",
        r["stat"]
    );
    Ok(())
}

fn root_missing(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.config["root"]["path"] = json!("no-such-rootfs");
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(!out.ok(), "create with a missing root.path succeeded");
    Ok(())
}

const EROFS: i64 = 30;

fn root_readonly(ctx: &mut Ctx) -> Res {
    let b = ctx.probe_bundle(&["--write", "/etc/passwd"])?;
    check!(
        b.config["root"]["readonly"] == true,
        "bundle not set up as expected"
    );
    let r = probe_report(ctx, &b)?;
    check!(
        r["write"]["/etc/passwd"] == EROFS,
        "writing / gave {} (want EROFS)",
        r["write"]["/etc/passwd"]
    );
    Ok(())
}

fn root_writable(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&["--write", "/etc/passwd"])?;
    if let Some(root) = b.config["root"].as_object_mut() {
        root.remove("readonly");
    }
    b.save()?;
    let r = probe_report(ctx, &b)?;
    check!(
        r["write"]["/etc/passwd"] == 0,
        "writing / gave errno {}",
        r["write"]["/etc/passwd"]
    );
    Ok(())
}

fn tmpfs(dest: &str, options: &[&str]) -> Value {
    json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options})
}

fn mounts_order(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.add_mount(tmpfs("/m", &["size=1m"]));
    b.add_mount(tmpfs("/m/sub", &["size=2m"]));
    b.save()?;
    let r = probe_report(ctx, &b)?;
    let targets: Vec<&str> = r["mounts"]
        .as_array()
        .map(|l| l.iter().filter_map(|m| m["target"].as_str()).collect())
        .unwrap_or_default();
    let outer = targets.iter().position(|t| *t == "/m");
    let inner = targets.iter().position(|t| *t == "/m/sub");
    check!(
        matches!((outer, inner), (Some(o), Some(i)) if o < i),
        "mounts not in the listed order: {targets:?}"
    );
    Ok(())
}

fn mounts_relative_destination(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.add_mount(tmpfs("reldest", &["size=1m"]));
    b.save()?;
    let r = probe_report(ctx, &b)?;
    check!(mount(&r, "/reldest").is_some(), "no mount at /reldest");
    Ok(())
}

fn mounts_tmpfs(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.add_mount(tmpfs("/scratch", &["size=1m"]));
    b.save()?;
    let r = probe_report(ctx, &b)?;
    let m = mount(&r, "/scratch").ok_or_else(|| anyhow::anyhow!("no mount at /scratch"))?;
    check!(m["fstype"] == "tmpfs", "/scratch is {}", m["fstype"]);
    Ok(())
}

fn bind_source(ctx: &mut Ctx) -> anyhow::Result<std::path::PathBuf> {
    let data = ctx.path("data");
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("file"), "content")?;
    Ok(data)
}

fn mounts_bind(ctx: &mut Ctx) -> Res {
    let data = bind_source(ctx)?;
    let mut b = ctx.probe_bundle(&["--stat", "/data/file"])?;
    b.add_mount(
        json!({"destination": "/data", "type": "none", "source": data, "options": ["bind"]}),
    );
    b.save()?;
    let r = probe_report(ctx, &b)?;
    check!(
        r["stat"]["/data/file"]["readable"] == true,
        "/data/file: {}",
        r["stat"]["/data/file"]
    );
    Ok(())
}

fn mounts_bind_relative(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&["--stat", "/data/file"])?;
    std::fs::create_dir_all(b.dir.join("hostdata")).map_err(anyhow::Error::from)?;
    std::fs::write(b.dir.join("hostdata/file"), "x").map_err(anyhow::Error::from)?;
    b.add_mount(
        json!({"destination": "/data", "type": "none", "source": "hostdata", "options": ["rbind"]}),
    );
    b.save()?;
    let r = probe_report(ctx, &b)?;
    check!(
        r["stat"]["/data/file"]["readable"] == true,
        "/data/file: {}",
        r["stat"]["/data/file"]
    );
    Ok(())
}

fn mounts_bind_file(ctx: &mut Ctx) -> Res {
    let data = bind_source(ctx)?;
    let mut b = ctx.probe_bundle(&["--stat", "/etc/bound"])?;
    b.add_mount(json!({"destination": "/etc/bound", "type": "none", "source": data.join("file"), "options": ["bind"]}));
    b.save()?;
    let r = probe_report(ctx, &b)?;
    let st = &r["stat"]["/etc/bound"];
    check!(
        st["type"] == "file" && st["readable"] == true,
        "/etc/bound: {st}"
    );
    Ok(())
}

fn mounts_ro(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.add_mount(tmpfs("/scratch", &["ro", "size=1m"]));
    b.save()?;
    let r = probe_report(ctx, &b)?;
    let opts = mount_opts(&r, "/scratch");
    check!(
        opts.contains(&"ro".to_string()),
        "/scratch options {opts:?}"
    );
    Ok(())
}

fn mounts_bind_ro(ctx: &mut Ctx) -> Res {
    let data = bind_source(ctx)?;
    let mut b = ctx.probe_bundle(&["--write", "/data/file"])?;
    b.add_mount(
        json!({"destination": "/data", "type": "none", "source": data, "options": ["rbind", "ro"]}),
    );
    b.save()?;
    let r = probe_report(ctx, &b)?;
    check!(
        r["write"]["/data/file"] == EROFS,
        "writing a ro bind mount gave {}",
        r["write"]["/data/file"]
    );
    Ok(())
}

fn mounts_nosuid(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.add_mount(tmpfs("/scratch", &["nosuid", "nodev", "noexec", "size=1m"]));
    b.save()?;
    let r = probe_report(ctx, &b)?;
    let opts = mount_opts(&r, "/scratch");
    for o in ["nosuid", "nodev", "noexec"] {
        check!(
            opts.contains(&o.to_string()),
            "/scratch options {opts:?} lack {o}"
        );
    }
    Ok(())
}

fn mounts_noatime(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.add_mount(tmpfs("/scratch", &["noatime", "size=1m"]));
    b.save()?;
    let r = probe_report(ctx, &b)?;
    let opts = mount_opts(&r, "/scratch");
    check!(
        opts.contains(&"noatime".to_string()),
        "/scratch options {opts:?}"
    );
    Ok(())
}

/// The propagation field the probe sees for a bind mount with `option`.
fn propagation(ctx: &mut Ctx, option: &str) -> Result<String, super::Verdict> {
    // The source is a shared mount on the host, so each option makes a visible difference.
    ctx.share_scratch()?;
    let data = bind_source(ctx)?;
    let mut b = ctx.probe_bundle(&[])?;
    // The rootfs propagation is set so that without the option the mount would show the
    // opposite: shared for rprivate and rslave, private for rshared.
    let root = if option == "rshared" {
        "private"
    } else {
        "shared"
    };
    b.config["linux"]["rootfsPropagation"] = json!(root);
    b.add_mount(json!({"destination": "/data", "type": "none", "source": data, "options": ["rbind", option]}));
    b.save()?;
    let r = probe_report(ctx, &b)?;
    let m = mount(&r, "/data").ok_or_else(|| anyhow::anyhow!("no mount at /data"))?;
    Ok(m["propagation"].as_str().unwrap_or_default().to_string())
}

fn mounts_rprivate(ctx: &mut Ctx) -> Res {
    let p = propagation(ctx, "rprivate")?;
    check!(
        !p.contains("shared:") && !p.contains("master:"),
        "propagation {p:?}"
    );
    Ok(())
}

fn mounts_rslave(ctx: &mut Ctx) -> Res {
    let p = propagation(ctx, "rslave")?;
    check!(
        p.contains("master:") && !p.contains("shared:"),
        "propagation {p:?}"
    );
    Ok(())
}

fn mounts_rshared(ctx: &mut Ctx) -> Res {
    let p = propagation(ctx, "rshared")?;
    check!(p.contains("shared:"), "propagation {p:?}");
    Ok(())
}

fn mounts_rro(ctx: &mut Ctx) -> Res {
    let data = bind_source(ctx)?;
    let mut b = ctx.probe_bundle(&["--write", "/data/file"])?;
    b.add_mount(json!({"destination": "/data", "type": "none", "source": data, "options": ["rbind", "rro"]}));
    b.save()?;
    let r = probe_report(ctx, &b)?;
    check!(
        r["write"]["/data/file"] == EROFS,
        "writing a rro mount gave {}",
        r["write"]["/data/file"]
    );
    Ok(())
}

fn mounts_data(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&["--stat", "/scratch"])?;
    b.add_mount(tmpfs("/scratch", &["size=1m", "mode=700"]));
    b.save()?;
    let r = probe_report(ctx, &b)?;
    let m = mount(&r, "/scratch").ok_or_else(|| anyhow::anyhow!("no mount at /scratch"))?;
    let sup = m["super"].as_str().unwrap_or_default();
    check!(
        sup.contains("size=1024k"),
        "size=1m not passed to tmpfs: {sup}"
    );
    check!(
        r["stat"]["/scratch"]["mode"] == 0o700,
        "mode=700 not passed: {}",
        r["stat"]["/scratch"]
    );
    Ok(())
}

fn hostname(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["hostname"] = json!("conformance-host");
    b.save()?;
    let r = probe_report(ctx, &b)?;
    check!(
        r["hostname"] == "conformance-host",
        "hostname {}",
        r["hostname"]
    );
    Ok(())
}

fn domainname(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["domainname"] = json!("conformance.test");
    b.save()?;
    let r = probe_report(ctx, &b)?;
    check!(
        r["domainname"] == "conformance.test",
        "domainname {}",
        r["domainname"]
    );
    Ok(())
}

fn annotations_unknown(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["annotations"] = json!({
        "com.example.conformance.unknown": "1",
        "org.opencontainers.conformance.reserved-but-unknown": "",
    });
    b.save()?;
    probe_report(ctx, &b)?;
    Ok(())
}

fn unknown_properties(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["conformanceUnknown"] = json!({"nested": [1, 2]});
    b.config["process"]["conformanceUnknown"] = json!(true);
    b.config["linux"]["conformanceUnknown"] = json!("x");
    b.config["root"]["conformanceUnknown"] = json!(1);
    b.save()?;
    probe_report(ctx, &b)?;
    Ok(())
}

fn invalid_namespace(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.set_namespace("conformance-bogus", None);
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(
        !out.ok(),
        "create with namespace type \"conformance-bogus\" succeeded"
    );
    Ok(())
}

/// "Runtimes MUST generate an error when invalid or unsupported values are encountered"
/// (config.md#valid-values), for a version that is not SemVer (runtime-tools' misc_props).
fn invalid_oci_version(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.config["ociVersion"] = json!("invalid");
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(!out.ok(), "create with ociVersion \"invalid\" succeeded");
    Ok(())
}

fn invalid_mount(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.add_mount(json!({"destination": "/x", "type": "conformance-no-such-fs", "source": "none"}));
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(
        !out.ok(),
        "create with an unknown filesystem type succeeded"
    );
    Ok(())
}

fn create_without_process(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    if let Some(o) = b.config.as_object_mut() {
        o.remove("process");
    }
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(out.ok(), "create without process: {}", out.describe());
    check!(ctx.status(&id).as_deref() == Some("created"), "not created");
    Ok(())
}
