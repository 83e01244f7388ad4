//! config-linux.md (namespaces, devices, sysctl, seccomp, propagation, masked and read-only
//! paths) and runtime-linux.md (file descriptors, /dev symlinks).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{skip, Case, Res};
use crate::bundle::Bundle;
use crate::check;
use crate::ctx::Ctx;
use crate::host;

pub const CASES: &[Case] = &[
    Case {
        name: "linux/default-filesystems",
        spec: "config-linux.md#default-filesystems",
        quote: "The following filesystems SHOULD be made available in each container's filesystem: /proc proc, /sys sysfs, /dev/pts devpts, /dev/shm tmpfs",
        run: default_filesystems,
    },
    Case {
        name: "linux/ns-pid-new",
        spec: "config-linux.md#namespaces",
        quote: "If path is not specified, the runtime MUST create a new container namespace of type type. (pid: processes inside the container will only be able to see other processes inside the same container)",
        run: ns_pid_new,
    },
    Case { name: "linux/ns-network-new", spec: "config-linux.md#namespaces", quote: "If path is not specified, the runtime MUST create a new container namespace of type type.", run: ns_net_new },
    Case { name: "linux/ns-ipc-new", spec: "config-linux.md#namespaces", quote: "If path is not specified, the runtime MUST create a new container namespace of type type.", run: ns_ipc_new },
    Case { name: "linux/ns-uts-new", spec: "config-linux.md#namespaces", quote: "If path is not specified, the runtime MUST create a new container namespace of type type.", run: ns_uts_new },
    Case { name: "linux/ns-mount-new", spec: "config-linux.md#namespaces", quote: "If path is not specified, the runtime MUST create a new container namespace of type type.", run: ns_mnt_new },
    Case {
        name: "linux/ns-cgroup-new",
        spec: "config-linux.md#namespaces",
        quote: "If path is not specified, the runtime MUST create a new container namespace of type type. (cgroup: the container will have an isolated view of the cgroup hierarchy)",
        run: ns_cgroup_new,
    },
    Case {
        name: "linux/user-ns-mappings",
        spec: "config-linux.md#user-namespace-mappings",
        quote: "uidMappings (array of objects, OPTIONAL) describes the user namespace uid mappings from the host to the container. gidMappings (array of objects, OPTIONAL) describes the user namespace gid mappings from the host to the container.",
        run: user_ns_mappings,
    },
    Case {
        name: "linux/user-ns-rootfs-ownership",
        spec: "config-linux.md#user-namespace-mappings",
        quote: "The runtime SHOULD NOT modify the ownership of referenced filesystems to realize the mapping.",
        run: user_ns_rootfs_ownership,
    },
    Case {
        name: "linux/ns-time-new",
        spec: "config-linux.md#namespaces",
        quote: "If path is not specified, the runtime MUST create a new container namespace of type type. (time: the container will be able to have its own clocks)",
        run: ns_time_new,
    },
    Case {
        name: "linux/time-offsets",
        spec: "config-linux.md#offset-for-time-namespace",
        quote: "timeOffsets (object, OPTIONAL) sets the offset for Time Namespace.",
        run: time_offsets,
    },
    Case { name: "linux/ns-network-inherit", spec: "config-linux.md#namespaces", quote: "If a namespace type is not specified in the namespaces array, the container MUST inherit the runtime namespace of that type.", run: ns_net_inherit },
    Case { name: "linux/ns-ipc-inherit", spec: "config-linux.md#namespaces", quote: "If a namespace type is not specified in the namespaces array, the container MUST inherit the runtime namespace of that type.", run: ns_ipc_inherit },
    Case { name: "linux/ns-uts-inherit", spec: "config-linux.md#namespaces", quote: "If a namespace type is not specified in the namespaces array, the container MUST inherit the runtime namespace of that type.", run: ns_uts_inherit },
    Case { name: "linux/ns-cgroup-inherit", spec: "config-linux.md#namespaces", quote: "If a namespace type is not specified in the namespaces array, the container MUST inherit the runtime namespace of that type.", run: ns_cgroup_inherit },
    Case { name: "linux/ns-cgroup-path", spec: "config-linux.md#namespaces", quote: "The runtime MUST place the container process in the namespace associated with that path.", run: ns_cgroup_path },
    Case { name: "linux/ns-network-path", spec: "config-linux.md#namespaces", quote: "The runtime MUST place the container process in the namespace associated with that path.", run: ns_net_path },
    Case { name: "linux/ns-ipc-path", spec: "config-linux.md#namespaces", quote: "The runtime MUST place the container process in the namespace associated with that path.", run: ns_ipc_path },
    Case { name: "linux/ns-uts-path", spec: "config-linux.md#namespaces", quote: "The runtime MUST place the container process in the namespace associated with that path.", run: ns_uts_path },
    Case {
        name: "linux/ns-path-wrong-type",
        spec: "config-linux.md#namespaces",
        quote: "The runtime MUST generate an error if path is not associated with a namespace of type type.",
        run: ns_path_wrong_type,
    },
    Case {
        name: "linux/ns-duplicate",
        spec: "config-linux.md#namespaces",
        quote: "If a namespaces field contains duplicated namespaces with same type, the runtime MUST generate an error.",
        run: ns_duplicate,
    },
    Case {
        name: "linux/devices-char",
        spec: "config-linux.md#devices",
        quote: "devices (array of objects, OPTIONAL) lists devices that MUST be available in the container.",
        run: devices_char,
    },
    Case {
        name: "linux/devices-block",
        spec: "config-linux.md#devices",
        quote: "devices (array of objects, OPTIONAL) lists devices that MUST be available in the container. type (string, REQUIRED) - type of device: c, b, u or p.",
        run: devices_block,
    },
    Case {
        name: "linux/devices-fifo",
        spec: "config-linux.md#devices",
        quote: "type (string, REQUIRED) - type of device: c, b, u or p. ... major, minor (int64, REQUIRED unless type is p)",
        run: devices_fifo,
    },
    Case {
        name: "linux/devices-file-mode",
        spec: "config-linux.md#devices",
        quote: "fileMode (uint32, OPTIONAL) - file mode for the device.",
        run: devices_mode,
    },
    Case {
        name: "linux/devices-uid-gid",
        spec: "config-linux.md#devices",
        quote: "uid (uint32, OPTIONAL) - id of device owner in the container namespace. gid (uint32, OPTIONAL) - id of device group in the container namespace.",
        run: devices_owner,
    },
    Case {
        name: "linux/devices-existing-mismatch",
        spec: "config-linux.md#devices",
        quote: "If a file already exists at path that does not match the requested device, the runtime MUST generate an error.",
        run: devices_mismatch,
    },
    Case {
        name: "linux/default-devices",
        spec: "config-linux.md#default-devices",
        quote: "In addition to any devices configured with this setting, the runtime MUST also supply: /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom, /dev/tty",
        run: default_devices,
    },
    Case {
        name: "linux/dev-ptmx",
        spec: "config-linux.md#default-devices",
        quote: "/dev/ptmx. A bind-mount or symlink of the container's /dev/pts/ptmx.",
        run: dev_ptmx,
    },
    Case {
        name: "linux/dev-symlinks",
        spec: "runtime-linux.md#dev-symbolic-links",
        quote: "While creating the container (step 2 in the lifecycle), runtimes MUST create the following symlinks if the source file exists after processing mounts: /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr",
        run: dev_symlinks,
    },
    Case {
        name: "linux/fds-stdio-only",
        spec: "runtime-linux.md#file-descriptors",
        quote: "By default, only the stdin, stdout and stderr file descriptors are kept open for the application by the runtime.",
        run: fds_stdio_only,
    },
    Case {
        name: "linux/sysctl",
        spec: "config-linux.md#sysctl",
        quote: "sysctl (object, OPTIONAL) allows kernel parameters to be modified at runtime for the container.",
        run: sysctl,
    },
    Case {
        name: "linux/sysctl-invalid",
        spec: "config.md#valid-values",
        quote: "Runtimes MUST generate an error when invalid or unsupported values are encountered.",
        run: sysctl_invalid,
    },
    Case {
        name: "linux/seccomp-applied",
        spec: "config-linux.md#seccomp",
        quote: "Seccomp configuration allows one to configure actions to take for matched syscalls",
        run: seccomp_applied,
    },
    Case {
        name: "linux/seccomp-errno-default-eperm",
        spec: "config-linux.md#seccomp",
        quote: "errnoRet (uint, OPTIONAL) - the errno return code to use. ... If not specified its default value is EPERM.",
        run: seccomp_errno,
    },
    Case {
        name: "linux/seccomp-errno-ret",
        spec: "config-linux.md#seccomp",
        quote: "errnoRet (uint, OPTIONAL) - the errno return code to use. Some actions like SCMP_ACT_ERRNO and SCMP_ACT_TRACE allow to specify the errno code to return.",
        run: seccomp_errno_ret,
    },
    Case {
        name: "linux/seccomp-args",
        spec: "config-linux.md#seccomp",
        quote: "args (array of objects, OPTIONAL) - the specific syscall in seccomp. index ... value ... op",
        run: seccomp_args,
    },
    Case {
        name: "linux/seccomp-invalid-action",
        spec: "config.md#valid-values",
        quote: "Runtimes MUST generate an error when invalid or unsupported values are encountered.",
        run: seccomp_invalid,
    },
    Case {
        name: "linux/seccomp-errno-ret-unsupported-action",
        spec: "config-linux.md#seccomp",
        quote: "When the action doesn't support an errno, the runtime MUST print and error and fail.",
        run: seccomp_errno_unsupported,
    },
    Case { name: "linux/rootfs-propagation-shared", spec: "config-linux.md#rootfs-mount-propagation", quote: "shared: the rootfs mount belongs to a new peer group.", run: prop_shared },
    Case { name: "linux/rootfs-propagation-slave", spec: "config-linux.md#rootfs-mount-propagation", quote: "slave: the rootfs mount receives propagation events from the host ... but not the other way around.", run: prop_slave },
    Case { name: "linux/rootfs-propagation-private", spec: "config-linux.md#rootfs-mount-propagation", quote: "private: the rootfs mount doesn't receive mount propagation events from the host", run: prop_private },
    Case { name: "linux/rootfs-propagation-unbindable", spec: "config-linux.md#rootfs-mount-propagation", quote: "unbindable: the rootfs mount is a private mount that cannot be bind-mounted.", run: prop_unbindable },
    Case {
        name: "linux/rootfs-propagation-invalid",
        spec: "config-linux.md#rootfs-mount-propagation",
        quote: "Its value is either shared, slave, private or unbindable. / Runtimes MUST generate an error when invalid or unsupported values are encountered.",
        run: prop_invalid,
    },
    Case {
        name: "linux/masked-paths-file",
        spec: "config-linux.md#masked-paths",
        quote: "maskedPaths (array of strings, OPTIONAL) will mask over the provided paths inside the container so that they cannot be read.",
        run: masked_file,
    },
    Case {
        name: "linux/masked-paths-dir",
        spec: "config-linux.md#masked-paths",
        quote: "maskedPaths (array of strings, OPTIONAL) will mask over the provided paths inside the container so that they cannot be read.",
        run: masked_dir,
    },
    Case {
        name: "linux/readonly-paths",
        spec: "config-linux.md#readonly-paths",
        quote: "readonlyPaths (array of strings, OPTIONAL) will set the provided paths as readonly inside the container.",
        run: readonly_paths,
    },
    Case {
        name: "linux/mount-label",
        spec: "config-linux.md#mount-label",
        quote: "mountLabel (string, OPTIONAL) will set the Selinux context for the mounts in the container.",
        run: mount_label,
    },
];

fn report(ctx: &mut Ctx, b: &Bundle) -> Result<Value, super::Verdict> {
    Ok(ctx.probe(b)?)
}

fn fstype_at(r: &Value, target: &str) -> String {
    r["mounts"]
        .as_array()
        .and_then(|l| l.iter().rev().find(|m| m["target"] == target))
        .and_then(|m| m["fstype"].as_str())
        .unwrap_or("(none)")
        .to_string()
}

fn default_filesystems(ctx: &mut Ctx) -> Res {
    let b = ctx.probe_bundle(&[])?;
    let r = report(ctx, &b)?;
    for (path, fs) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
    ] {
        let got = fstype_at(&r, path);
        check!(got == fs, "{path} is {got}, want {fs}");
    }
    Ok(())
}

fn ns_differs(ctx: &mut Ctx, kind: &str, typ: &str) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.set_namespace(typ, None);
    b.save()?;
    let r = report(ctx, &b)?;
    let inside = r["namespaces"][kind]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let host = host::ns("self", kind);
    check!(
        !inside.is_empty() && inside != host,
        "{kind} namespace {inside} is the host's {host}"
    );
    Ok(())
}

fn ns_pid_new(ctx: &mut Ctx) -> Res {
    let b = ctx.probe_bundle(&[])?;
    let r = report(ctx, &b)?;
    check!(
        r["pid"] == 1,
        "the process is pid {} in its namespace, not 1",
        r["pid"]
    );
    ns_differs(ctx, "pid", "pid")
}

fn ns_net_new(ctx: &mut Ctx) -> Res {
    ns_differs(ctx, "net", "network")
}

fn ns_ipc_new(ctx: &mut Ctx) -> Res {
    ns_differs(ctx, "ipc", "ipc")
}

fn ns_uts_new(ctx: &mut Ctx) -> Res {
    ns_differs(ctx, "uts", "uts")
}

fn ns_mnt_new(ctx: &mut Ctx) -> Res {
    ns_differs(ctx, "mnt", "mount")
}

fn ns_cgroup_new(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.set_namespace("cgroup", None);
    b.save()?;
    let r = report(ctx, &b)?;
    let inside = r["namespaces"]["cgroup"].as_str().unwrap_or_default();
    check!(
        inside != host::ns("self", "cgroup"),
        "cgroup namespace is the host's"
    );
    // An isolated view: the container's own cgroup is its root.
    let cg = r["cgroup"].as_str().unwrap_or_default();
    check!(
        cg.lines().all(|l| l.ends_with(":/")),
        "the container sees cgroup paths outside its own: {cg:?}"
    );
    Ok(())
}

fn ns_time_new(ctx: &mut Ctx) -> Res {
    if !std::path::Path::new("/proc/self/ns/time").exists() {
        return skip("the host kernel has no time namespaces");
    }
    ns_differs(ctx, "time", "time")
}

fn time_offsets(ctx: &mut Ctx) -> Res {
    if !std::path::Path::new("/proc/self/ns/time").exists() {
        return skip("the host kernel has no time namespaces");
    }
    let mut b = ctx.sh_bundle("cut -d. -f1 /proc/uptime")?;
    b.set_namespace("time", None);
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 10_000_000, "nanosecs": 0}});
    b.save()?;
    let out = ctx.run_ok(&b)?;
    let up: u64 = out.trim().parse().unwrap_or(0);
    check!(
        up >= 10_000_000,
        "uptime {up} s inside: the boottime offset was not applied"
    );
    Ok(())
}

fn ns_inherited(ctx: &mut Ctx, kind: &str, typ: &str) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.drop_namespace(typ);
    if typ == "uts" {
        // Setting a hostname needs a UTS namespace of the container's own.
        if let Some(o) = b.config.as_object_mut() {
            o.remove("hostname");
        }
    }
    b.save()?;
    let r = report(ctx, &b)?;
    let inside = r["namespaces"][kind].as_str().unwrap_or_default();
    let host = host::ns("self", kind);
    check!(
        inside == host,
        "{kind} namespace {inside} is not the runtime's {host}"
    );
    Ok(())
}

fn ns_cgroup_inherit(ctx: &mut Ctx) -> Res {
    ns_inherited(ctx, "cgroup", "cgroup")
}

fn ns_cgroup_path(ctx: &mut Ctx) -> Res {
    ns_joined(ctx, "cgroup", "cgroup")
}

fn ns_net_inherit(ctx: &mut Ctx) -> Res {
    ns_inherited(ctx, "net", "network")
}

fn ns_ipc_inherit(ctx: &mut Ctx) -> Res {
    ns_inherited(ctx, "ipc", "ipc")
}

fn ns_uts_inherit(ctx: &mut Ctx) -> Res {
    ns_inherited(ctx, "uts", "uts")
}

/// A host process in new net, ipc, uts and cgroup namespaces (killed when the case ends).
fn ns_holder(ctx: &mut Ctx) -> Result<u32, super::Verdict> {
    let pid = ctx.helper(
        "unshare",
        &["--net", "--ipc", "--uts", "--cgroup", "sleep", "60"],
    )?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while host::ns(&pid.to_string(), "net") == host::ns("self", "net") {
        check!(
            Instant::now() < deadline,
            "unshare never entered its namespaces"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(pid)
}

fn ns_joined(ctx: &mut Ctx, kind: &str, typ: &str) -> Res {
    let holder = ns_holder(ctx)?;
    let path = format!("/proc/{holder}/ns/{kind}");
    let mut b = ctx.probe_bundle(&[])?;
    b.set_namespace(typ, Some(&path));
    b.save()?;
    let r = report(ctx, &b)?;
    let inside = r["namespaces"][kind].as_str().unwrap_or_default();
    let want = host::ns(&holder.to_string(), kind);
    check!(
        inside == want,
        "{kind} namespace {inside}, want {want} (from {path})"
    );
    Ok(())
}

fn ns_net_path(ctx: &mut Ctx) -> Res {
    ns_joined(ctx, "net", "network")
}

fn ns_ipc_path(ctx: &mut Ctx) -> Res {
    ns_joined(ctx, "ipc", "ipc")
}

fn ns_uts_path(ctx: &mut Ctx) -> Res {
    ns_joined(ctx, "uts", "uts")
}

fn ns_path_wrong_type(ctx: &mut Ctx) -> Res {
    let holder = ns_holder(ctx)?;
    let mut b = ctx.bundle(&["true"])?;
    b.set_namespace("network", Some(&format!("/proc/{holder}/ns/ipc")));
    b.save()?;
    let id = ctx.id();
    let out = ctx.run(&id, &b);
    check!(
        !out.ok(),
        "an ipc namespace was accepted as the network namespace"
    );
    Ok(())
}

fn ns_duplicate(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    if let Some(l) = b.config["linux"]["namespaces"].as_array_mut() {
        l.push(json!({"type": "network"}));
    }
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(!out.ok(), "duplicated network namespaces were accepted");
    Ok(())
}

fn device_case(ctx: &mut Ctx, dev: Value, path: &str) -> Result<Value, super::Verdict> {
    let mut b = ctx.probe_bundle(&["--stat", path])?;
    b.config["linux"]["devices"] = json!([dev]);
    b.save()?;
    let r = report(ctx, &b)?;
    Ok(r["stat"][path].clone())
}

fn devices_char(ctx: &mut Ctx) -> Res {
    let st = device_case(
        ctx,
        json!({"path": "/dev/conf-null", "type": "c", "major": 1, "minor": 3}),
        "/dev/conf-null",
    )?;
    check!(
        st["type"] == "char" && st["major"] == 1 && st["minor"] == 3,
        "/dev/conf-null: {st}"
    );
    Ok(())
}

fn devices_block(ctx: &mut Ctx) -> Res {
    let st = device_case(
        ctx,
        json!({"path": "/dev/conf-loop", "type": "b", "major": 7, "minor": 200}),
        "/dev/conf-loop",
    )?;
    check!(
        st["type"] == "block" && st["major"] == 7 && st["minor"] == 200,
        "/dev/conf-loop: {st}"
    );
    Ok(())
}

fn devices_fifo(ctx: &mut Ctx) -> Res {
    let st = device_case(
        ctx,
        json!({"path": "/dev/conf-fifo", "type": "p"}),
        "/dev/conf-fifo",
    )?;
    check!(st["type"] == "fifo", "/dev/conf-fifo: {st}");
    Ok(())
}

fn devices_mode(ctx: &mut Ctx) -> Res {
    let st = device_case(
        ctx,
        json!({"path": "/dev/conf-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640}),
        "/dev/conf-null",
    )?;
    check!(
        st["mode"] == 0o640,
        "/dev/conf-null mode {:o}",
        st["mode"].as_u64().unwrap_or(0)
    );
    Ok(())
}

fn devices_owner(ctx: &mut Ctx) -> Res {
    let st = device_case(
        ctx,
        json!({"path": "/dev/conf-null", "type": "c", "major": 1, "minor": 3, "uid": 1234, "gid": 5678}),
        "/dev/conf-null",
    )?;
    check!(
        st["uid"] == 1234 && st["gid"] == 5678,
        "/dev/conf-null owner: {st}"
    );
    Ok(())
}

fn devices_mismatch(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    std::fs::write(b.rootfs().join("existing"), "a regular file").map_err(anyhow::Error::from)?;
    b.config["linux"]["devices"] =
        json!([{"path": "/existing", "type": "c", "major": 1, "minor": 3}]);
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(
        !out.ok(),
        "a device over an existing regular file was accepted"
    );
    Ok(())
}

fn default_devices(ctx: &mut Ctx) -> Res {
    let devs = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    let mut args = Vec::new();
    for (p, _, _) in devs {
        args.extend(["--stat", p]);
    }
    let b = ctx.probe_bundle(&args)?;
    let r = report(ctx, &b)?;
    for (p, ma, mi) in devs {
        let st = &r["stat"][p];
        check!(
            st["type"] == "char" && st["major"] == ma && st["minor"] == mi,
            "{p}: {st}"
        );
    }
    Ok(())
}

fn dev_ptmx(ctx: &mut Ctx) -> Res {
    let b = ctx.probe_bundle(&["--stat", "/dev/ptmx"])?;
    let r = report(ctx, &b)?;
    let st = &r["stat"]["/dev/ptmx"];
    let symlink_ok = st["type"] == "symlink"
        && matches!(
            st["link"].as_str(),
            Some("pts/ptmx") | Some("/dev/pts/ptmx")
        );
    // A bind mount of the container's own devpts ptmx: char 5:2 on the devpts mount.
    let bind_ok = st["type"] == "char"
        && st["major"] == 5
        && st["minor"] == 2
        && fstype_at(&r, "/dev/ptmx") == "devpts";
    check!(symlink_ok || bind_ok, "/dev/ptmx: {st}");
    Ok(())
}

fn dev_symlinks(ctx: &mut Ctx) -> Res {
    let links = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    let mut args = Vec::new();
    for (p, _) in links {
        args.extend(["--stat", p]);
    }
    let b = ctx.probe_bundle(&args)?;
    let r = report(ctx, &b)?;
    for (p, target) in links {
        let st = &r["stat"][p];
        check!(st["type"] == "symlink" && st["link"] == target, "{p}: {st}");
    }
    Ok(())
}

fn fds_stdio_only(ctx: &mut Ctx) -> Res {
    let b = ctx.probe_bundle(&[])?;
    let r = report(ctx, &b)?;
    let fds: Vec<&String> = r["fds"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    check!(
        fds.len() == 3 && ["0", "1", "2"].iter().all(|f| r["fds"].get(*f).is_some()),
        "open fds: {}",
        r["fds"]
    );
    Ok(())
}

fn sysctl(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[
        "--sysctl",
        "net.ipv4.ip_forward",
        "--sysctl",
        "kernel.msgmax",
    ])?;
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "4321"});
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        r["sysctl"]["net.ipv4.ip_forward"] == "1",
        "net.ipv4.ip_forward {}",
        r["sysctl"]["net.ipv4.ip_forward"]
    );
    check!(
        r["sysctl"]["kernel.msgmax"] == "4321",
        "kernel.msgmax {}",
        r["sysctl"]["kernel.msgmax"]
    );
    Ok(())
}

fn sysctl_invalid(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.config["linux"]["sysctl"] = json!({"net.conformance.no_such_key": "1"});
    b.save()?;
    let id = ctx.id();
    let out = ctx.run(&id, &b);
    check!(!out.ok(), "an unknown sysctl was accepted");
    Ok(())
}

fn seccomp_bundle(ctx: &mut Ctx, script: &str, seccomp: Value) -> Result<Bundle, super::Verdict> {
    let mut b = ctx.sh_bundle(script)?;
    b.config["linux"]["seccomp"] = seccomp;
    b.save()?;
    Ok(b)
}

fn mkdir_rule(extra: Value) -> Value {
    let mut rule = json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"});
    if let (Some(r), Some(e)) = (rule.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            r.insert(k.clone(), v.clone());
        }
    }
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
}

fn seccomp_applied(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["linux"]["seccomp"] = mkdir_rule(json!({}));
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        r["seccomp"] == "2",
        "Seccomp mode {} (want 2, filter)",
        r["seccomp"]
    );
    Ok(())
}

fn seccomp_errno(ctx: &mut Ctx) -> Res {
    let b = seccomp_bundle(ctx, "mkdir /dev/shm/x 2>&1; true", mkdir_rule(json!({})))?;
    let out = ctx.run_ok(&b)?;
    check!(
        out.contains("Operation not permitted"),
        "mkdir said {out:?}"
    );
    Ok(())
}

fn seccomp_errno_ret(ctx: &mut Ctx) -> Res {
    let b = seccomp_bundle(
        ctx,
        "mkdir /dev/shm/x 2>&1; true",
        mkdir_rule(json!({"errnoRet": 13})),
    )?;
    let out = ctx.run_ok(&b)?;
    check!(
        out.contains("Permission denied"),
        "mkdir said {out:?} (want EACCES)"
    );
    Ok(())
}

fn seccomp_args(ctx: &mut Ctx) -> Res {
    // Only kill(pid, 0) is refused: kill(pid, sig) with sig (index 1) equal to 0.
    let seccomp = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
    ]});
    let b = seccomp_bundle(
        ctx,
        "kill -0 $$ 2>/dev/null || echo refused-0; kill -CONT $$ && echo sent-cont",
        seccomp,
    )?;
    let out = ctx.run_ok(&b)?;
    check!(
        out.contains("refused-0") && out.contains("sent-cont"),
        "output {out:?}"
    );
    Ok(())
}

fn seccomp_invalid(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_CONFORMANCE_BOGUS"});
    b.save()?;
    let id = ctx.id();
    let out = ctx.run(&id, &b);
    check!(!out.ok(), "an unknown seccomp action was accepted");
    Ok(())
}

fn seccomp_errno_unsupported(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["acct"], "action": "SCMP_ACT_KILL", "errnoRet": 1}
    ]});
    b.save()?;
    let id = ctx.id();
    let out = ctx.run(&id, &b);
    check!(!out.ok(), "errnoRet with SCMP_ACT_KILL was accepted");
    Ok(())
}

fn root_propagation(ctx: &mut Ctx, value: &str) -> Result<String, super::Verdict> {
    // The bundle lies on a shared mount of the host, so slave and private differ.
    ctx.share_scratch()?;
    let mut b = ctx.probe_bundle(&[])?;
    b.config["linux"]["rootfsPropagation"] = json!(value);
    b.save()?;
    let r = report(ctx, &b)?;
    let root = r["mounts"]
        .as_array()
        .and_then(|l| l.iter().rev().find(|m| m["target"] == "/"))
        .ok_or_else(|| anyhow::anyhow!("no / mount"))?;
    Ok(root["propagation"].as_str().unwrap_or_default().to_string())
}

fn prop_shared(ctx: &mut Ctx) -> Res {
    let p = root_propagation(ctx, "shared")?;
    check!(p.contains("shared:"), "/ propagation {p:?}");
    Ok(())
}

fn prop_slave(ctx: &mut Ctx) -> Res {
    let p = root_propagation(ctx, "slave")?;
    check!(
        p.contains("master:") && !p.contains("shared:"),
        "/ propagation {p:?}"
    );
    Ok(())
}

fn prop_private(ctx: &mut Ctx) -> Res {
    let p = root_propagation(ctx, "private")?;
    check!(
        !p.contains("master:") && !p.contains("shared:"),
        "/ propagation {p:?}"
    );
    Ok(())
}

fn prop_unbindable(ctx: &mut Ctx) -> Res {
    let p = root_propagation(ctx, "unbindable")?;
    check!(p.contains("unbindable"), "/ propagation {p:?}");
    Ok(())
}

fn prop_invalid(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.config["linux"]["rootfsPropagation"] = json!("conformance-bogus");
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(
        !out.ok(),
        "rootfsPropagation \"conformance-bogus\" was accepted"
    );
    Ok(())
}

fn masked_file(ctx: &mut Ctx) -> Res {
    let mut b = ctx.sh_bundle("cat /etc/secret; echo END")?;
    std::fs::write(b.rootfs().join("etc/secret"), "SECRET\n").map_err(anyhow::Error::from)?;
    b.config["linux"]["maskedPaths"] = json!(["/etc/secret"]);
    b.save()?;
    let out = ctx.run_ok(&b)?;
    check!(
        !out.contains("SECRET"),
        "a masked file could be read: {out:?}"
    );
    check!(out.contains("END"), "output {out:?}");
    Ok(())
}

fn masked_dir(ctx: &mut Ctx) -> Res {
    let mut b = ctx.sh_bundle("cat /etc/secrets/key; ls /etc/secrets; echo END")?;
    std::fs::create_dir_all(b.rootfs().join("etc/secrets")).map_err(anyhow::Error::from)?;
    std::fs::write(b.rootfs().join("etc/secrets/key"), "SECRET\n").map_err(anyhow::Error::from)?;
    b.config["linux"]["maskedPaths"] = json!(["/etc/secrets"]);
    b.save()?;
    let out = ctx.run_ok(&b)?;
    check!(
        !out.contains("SECRET") && !out.contains("key"),
        "a masked directory could be read: {out:?}"
    );
    Ok(())
}

fn readonly_paths(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&["--write", "/data/file", "--write", "/etc/passwd"])?;
    b.writable();
    std::fs::create_dir_all(b.rootfs().join("data")).map_err(anyhow::Error::from)?;
    std::fs::write(b.rootfs().join("data/file"), "x").map_err(anyhow::Error::from)?;
    b.config["linux"]["readonlyPaths"] = json!(["/data"]);
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        r["write"]["/data/file"] == 30,
        "writing under a readonly path gave {}",
        r["write"]["/data/file"]
    );
    check!(
        r["write"]["/etc/passwd"] == 0,
        "the rest of the rootfs is not writable: {}",
        r["write"]["/etc/passwd"]
    );
    Ok(())
}

fn mount_label(ctx: &mut Ctx) -> Res {
    if !host::lsm_enabled("selinux") {
        return skip("the host has no SELinux");
    }
    let mut b = ctx.probe_bundle(&[])?;
    b.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
    b.add_mount(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"}));
    b.save()?;
    let r = report(ctx, &b)?;
    let sup = r["mounts"]
        .as_array()
        .and_then(|l| l.iter().find(|m| m["target"] == "/scratch"))
        .map(|m| m["super"].to_string())
        .unwrap_or_default();
    check!(
        sup.contains("container_file_t"),
        "/scratch superblock options {sup}"
    );
    Ok(())
}

/// A new user namespace mapping container 0-65535 to host 100000-165535.
fn user_ns_bundle(ctx: &mut Ctx, script: &str) -> Result<Bundle, anyhow::Error> {
    let mut b = ctx.sh_bundle(script)?;
    b.set_namespace("user", None);
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["uidMappings"] = map.clone();
    b.config["linux"]["gidMappings"] = map;
    b.save()?;
    Ok(b)
}

fn user_ns_mappings(ctx: &mut Ctx) -> Res {
    let b = user_ns_bundle(
        ctx,
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g",
    )?;
    let out = ctx.run_ok(&b)?;
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    check!(
        lines == ["0 100000 65536", "0 100000 65536", "0", "0"],
        "uid_map, gid_map, uid, gid inside: {lines:?}"
    );
    Ok(())
}

fn user_ns_rootfs_ownership(ctx: &mut Ctx) -> Res {
    use std::os::unix::fs::MetadataExt;
    let b = user_ns_bundle(ctx, "true")?;
    let owner = |p: &std::path::Path| std::fs::symlink_metadata(p).map(|m| (m.uid(), m.gid()));
    let before = owner(&b.rootfs().join("bin/busybox")).map_err(anyhow::Error::from)?;
    ctx.run_ok(&b)?;
    let after = owner(&b.rootfs().join("bin/busybox")).map_err(anyhow::Error::from)?;
    check!(
        before == after,
        "rootfs ownership {before:?} became {after:?}"
    );
    Ok(())
}
