//! config-linux.md#control-groups: cgroupsPath and each resource, read back from the host's
//! cgroup files of the container's init. Every case uses a relative cgroupsPath (nested
//! under the caller's own cgroup) and removes what is left of it.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::{skip, Case, Res};
use crate::bundle::Bundle;
use crate::check;
use crate::ctx::Ctx;
use crate::host;

pub const CASES: &[Case] = &[
    Case {
        name: "cgroups/path-relative",
        spec: "config-linux.md#cgroups-path",
        quote: "In the case of a relative path (not starting with /), the runtime MAY interpret the path relative to a runtime-determined location in the cgroups hierarchy. ... The cgroups will be created if they don't exist.",
        run: path_relative,
    },
    Case {
        name: "cgroups/path-consistent",
        spec: "config-linux.md#cgroups-path",
        quote: "If the value is specified, the runtime MUST consistently attach to the same place in the cgroups hierarchy given the same value of cgroupsPath.",
        run: path_consistent,
    },
    Case { name: "cgroups/memory-limit", spec: "config-linux.md#memory", quote: "limit (int64, OPTIONAL) - sets limit of memory usage", run: memory_limit },
    Case { name: "cgroups/memory-unlimited", spec: "config-linux.md#memory", quote: "Values for memory specify the limit in bytes, or -1 for unlimited memory.", run: memory_unlimited },
    Case { name: "cgroups/memory-reservation", spec: "config-linux.md#memory", quote: "reservation (int64, OPTIONAL) - sets soft limit of memory usage", run: memory_reservation },
    Case { name: "cgroups/memory-swap", spec: "config-linux.md#memory", quote: "swap (int64, OPTIONAL) - sets limit of memory+Swap usage", run: memory_swap },
    Case { name: "cgroups/memory-swappiness", spec: "config-linux.md#memory", quote: "swappiness (uint64, OPTIONAL) - sets swappiness parameter of vmscan", run: memory_swappiness },
    Case { name: "cgroups/memory-disable-oom-killer", spec: "config-linux.md#memory", quote: "disableOOMKiller (bool, OPTIONAL) - enables or disables the OOM killer. ... To disable it, specify a value of true.", run: memory_oom },
    Case { name: "cgroups/cpu-shares", spec: "config-linux.md#cpu", quote: "shares (uint64, OPTIONAL) - specifies a relative share of CPU time available to the tasks in a cgroup", run: cpu_shares },
    Case { name: "cgroups/cpu-quota-period", spec: "config-linux.md#cpu", quote: "quota (int64, OPTIONAL) - specifies the total amount of time in microseconds for which all tasks in a cgroup can run during one period", run: cpu_quota },
    Case { name: "cgroups/cpu-realtime", spec: "config-linux.md#cpu", quote: "realtimeRuntime (int64, OPTIONAL) ... realtimePeriod (uint64, OPTIONAL)", run: cpu_realtime },
    Case { name: "cgroups/cpuset-cpus-mems", spec: "config-linux.md#cpu", quote: "cpus (string, OPTIONAL) - list of CPUs the container will run on. mems (string, OPTIONAL) - list of memory nodes the container will run on.", run: cpuset },
    Case { name: "cgroups/pids-limit", spec: "config-linux.md#pids", quote: "limit (int64, REQUIRED) - specifies the maximum number of tasks in the cgroup", run: pids_limit },
    Case { name: "cgroups/blkio-weight", spec: "config-linux.md#block-io", quote: "weight (uint16, OPTIONAL) - specifies per-cgroup weight.", run: blkio_weight },
    Case { name: "cgroups/blkio-throttle-read-bps", spec: "config-linux.md#block-io", quote: "throttleReadBpsDevice ... an array of per-device bandwidth rate limits.", run: throttle_read_bps },
    Case { name: "cgroups/blkio-throttle-write-bps", spec: "config-linux.md#block-io", quote: "throttleWriteBpsDevice ... an array of per-device bandwidth rate limits.", run: throttle_write_bps },
    Case { name: "cgroups/blkio-throttle-read-iops", spec: "config-linux.md#block-io", quote: "throttleReadIOPSDevice ... an array of per-device IO rate limits.", run: throttle_read_iops },
    Case { name: "cgroups/blkio-throttle-write-iops", spec: "config-linux.md#block-io", quote: "throttleWriteIOPSDevice ... an array of per-device IO rate limits.", run: throttle_write_iops },
    Case { name: "cgroups/hugepage-limits", spec: "config-linux.md#huge-page-limits", quote: "hugepageLimits (array of objects, OPTIONAL) represents the hugetlb controller", run: hugepages },
    Case { name: "cgroups/network-class-id", spec: "config-linux.md#network", quote: "classID (uint32, OPTIONAL) - is the network class identifier the cgroup's network packets will be tagged with", run: net_cls },
    Case { name: "cgroups/network-priorities", spec: "config-linux.md#network", quote: "priorities (array of objects, OPTIONAL) - specifies a list of objects of the priorities assigned to traffic", run: net_prio },
    Case { name: "cgroups/rdma", spec: "config-linux.md#rdma", quote: "rdma (object, OPTIONAL) represents the cgroup subsystem rdma.", run: rdma },
    Case {
        name: "cgroups/devices-deny",
        spec: "config-linux.md#allowed-device-list",
        quote: "devices (array of objects, OPTIONAL) configures the allowed device list.",
        run: devices_deny,
    },
    Case {
        name: "cgroups/devices-allow",
        spec: "config-linux.md#allowed-device-list",
        quote: "allow (boolean, REQUIRED) - whether the entry is allowed or denied.",
        run: devices_allow,
    },
    Case {
        name: "cgroups/devices-listed-order",
        spec: "config-linux.md#allowed-device-list",
        quote: "The runtime MUST apply entries in the listed order.",
        run: devices_order,
    },
    Case {
        name: "cgroups/unified-absent-controller",
        spec: "config-linux.md#unified",
        quote: "The runtime MUST generate an error when the configuration refers to a cgroup controller that is not present or that cannot be enabled.",
        run: unified_absent,
    },
    Case {
        name: "cgroups/unified-write",
        spec: "config-linux.md#unified",
        quote: "Each key in the map refers to a file in the cgroup unified hierarchy. The OCI runtime MUST ensure that the needed cgroup controllers are enabled for the cgroup.",
        run: unified_write,
    },
];

/// A created container (`sleep 60`) with `resources` under a fresh relative cgroupsPath;
/// returns init's pid.
fn with_resources(ctx: &mut Ctx, resources: Value) -> Result<(i64, Bundle), super::Verdict> {
    let mut b = ctx.bundle(&["sleep", "60"])?;
    let cg = ctx.cgroups_path();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    if let Some(r) = resources.as_object() {
        for (k, v) in r {
            b.config["linux"]["resources"][k] = v.clone();
        }
    }
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let pid = ctx.pid(&id)?;
    Ok((pid, b))
}

fn dir(pid: i64, controller: &str) -> Result<PathBuf, super::Verdict> {
    host::cgroup_dir(pid, controller)
        .ok_or_else(|| super::Verdict::Fail(format!("init {pid} has no {controller} cgroup")))
}

fn read(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("({file}: {e})"))
}

/// Checks that `file` of the `controller` cgroup reads `want` after `resources` applied.
fn expect(ctx: &mut Ctx, controller: &str, resources: Value, file: &str, want: &str) -> Res {
    if !host::has_v1(controller) {
        return skip(format!(
            "the host has no cgroup v1 {controller} controller (and cgroup v2 has no controllers)"
        ));
    }
    let (pid, _) = with_resources(ctx, resources)?;
    let d = dir(pid, controller)?;
    let got = read(&d, file);
    check!(got == want, "{file} = {got:?}, want {want:?}");
    Ok(())
}

fn path_relative(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["sleep", "60"])?;
    let cg = ctx.cgroups_path();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let pid = ctx.pid(&id)?;
    let d = dir(pid, "pids")?;
    check!(
        d.ends_with(&cg),
        "init is in {}, not under {cg}",
        d.display()
    );
    Ok(())
}

fn path_consistent(ctx: &mut Ctx) -> Res {
    let cg = ctx.cgroups_path();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let mut b = ctx.bundle(&["sleep", "60"])?;
        b.config["linux"]["cgroupsPath"] = json!(cg);
        b.save()?;
        let id = ctx.id();
        ctx.must_create(&id, &b)?;
        let pid = ctx.pid(&id)?;
        seen.push(dir(pid, "pids")?);
        let out = ctx.rt(&["delete", "--force", &id]);
        check!(out.ok(), "delete --force: {}", out.describe());
    }
    check!(
        seen[0] == seen[1],
        "the same cgroupsPath gave {} and {}",
        seen[0].display(),
        seen[1].display()
    );
    Ok(())
}

fn memory_limit(ctx: &mut Ctx) -> Res {
    expect(
        ctx,
        "memory",
        json!({"memory": {"limit": 67108864}}),
        "memory.limit_in_bytes",
        "67108864",
    )
}

fn memory_unlimited(ctx: &mut Ctx) -> Res {
    expect(
        ctx,
        "memory",
        json!({"memory": {"limit": -1}}),
        "memory.limit_in_bytes",
        "9223372036854771712",
    )
}

fn memory_reservation(ctx: &mut Ctx) -> Res {
    expect(
        ctx,
        "memory",
        json!({"memory": {"reservation": 33554432}}),
        "memory.soft_limit_in_bytes",
        "33554432",
    )
}

fn memory_swap(ctx: &mut Ctx) -> Res {
    let root = host::v1_mount("memory");
    if !root.is_some_and(|r| r.join("memory.memsw.limit_in_bytes").exists()) {
        return skip("the host has no swap accounting (memory.memsw.* files)");
    }
    expect(
        ctx,
        "memory",
        json!({"memory": {"limit": 67108864, "swap": 134217728}}),
        "memory.memsw.limit_in_bytes",
        "134217728",
    )
}

fn memory_swappiness(ctx: &mut Ctx) -> Res {
    expect(
        ctx,
        "memory",
        json!({"memory": {"swappiness": 37}}),
        "memory.swappiness",
        "37",
    )
}

fn memory_oom(ctx: &mut Ctx) -> Res {
    if !host::has_v1("memory") {
        return skip("the host has no cgroup v1 memory controller");
    }
    let (pid, _) = with_resources(ctx, json!({"memory": {"disableOOMKiller": true}}))?;
    let got = read(&dir(pid, "memory")?, "memory.oom_control");
    check!(
        got.contains("oom_kill_disable 1"),
        "memory.oom_control: {got:?}"
    );
    Ok(())
}

fn cpu_shares(ctx: &mut Ctx) -> Res {
    expect(
        ctx,
        "cpu",
        json!({"cpu": {"shares": 512}}),
        "cpu.shares",
        "512",
    )
}

fn cpu_quota(ctx: &mut Ctx) -> Res {
    if !host::has_v1("cpu") {
        return skip("the host has no cgroup v1 cpu controller");
    }
    let (pid, _) = with_resources(ctx, json!({"cpu": {"quota": 50000, "period": 200000}}))?;
    let d = dir(pid, "cpu")?;
    check!(
        read(&d, "cpu.cfs_quota_us") == "50000",
        "cpu.cfs_quota_us = {}",
        read(&d, "cpu.cfs_quota_us")
    );
    check!(
        read(&d, "cpu.cfs_period_us") == "200000",
        "cpu.cfs_period_us = {}",
        read(&d, "cpu.cfs_period_us")
    );
    Ok(())
}

fn cpu_realtime(ctx: &mut Ctx) -> Res {
    let root = host::v1_mount("cpu");
    if !root.is_some_and(|r| r.join("cpu.rt_runtime_us").exists()) {
        return skip("the host kernel has no realtime group scheduling (cpu.rt_runtime_us)");
    }
    expect(
        ctx,
        "cpu",
        json!({"cpu": {"realtimeRuntime": 1000, "realtimePeriod": 1000000}}),
        "cpu.rt_runtime_us",
        "1000",
    )
}

fn cpuset(ctx: &mut Ctx) -> Res {
    if !host::has_v1("cpuset") {
        return skip("the host has no cgroup v1 cpuset controller");
    }
    let (pid, _) = with_resources(ctx, json!({"cpu": {"cpus": "0", "mems": "0"}}))?;
    let d = dir(pid, "cpuset")?;
    check!(
        read(&d, "cpuset.cpus") == "0",
        "cpuset.cpus = {}",
        read(&d, "cpuset.cpus")
    );
    check!(
        read(&d, "cpuset.mems") == "0",
        "cpuset.mems = {}",
        read(&d, "cpuset.mems")
    );
    Ok(())
}

fn pids_limit(ctx: &mut Ctx) -> Res {
    expect(
        ctx,
        "pids",
        json!({"pids": {"limit": 123}}),
        "pids.max",
        "123",
    )
}

fn blkio_weight(ctx: &mut Ctx) -> Res {
    let root = host::v1_mount("blkio");
    if !root.is_some_and(|r| r.join("blkio.weight").exists()) {
        return skip("the host's block IO scheduler has no blkio.weight (no CFQ/BFQ)");
    }
    expect(
        ctx,
        "blkio",
        json!({"blockIO": {"weight": 300}}),
        "blkio.weight",
        "300",
    )
}

fn throttle(ctx: &mut Ctx, field: &str, file: &str) -> Res {
    if !host::has_v1("blkio") {
        return skip("the host has no cgroup v1 blkio controller");
    }
    let Some((ma, mi)) = host::a_block_device() else {
        return skip("the host has no block device to throttle");
    };
    let (pid, _) = with_resources(
        ctx,
        json!({"blockIO": {field: [{"major": ma, "minor": mi, "rate": 1048576}]}}),
    )?;
    let got = read(&dir(pid, "blkio")?, file);
    check!(
        got.contains(&format!("{ma}:{mi} 1048576")),
        "{file}: {got:?}"
    );
    Ok(())
}

fn throttle_read_bps(ctx: &mut Ctx) -> Res {
    throttle(
        ctx,
        "throttleReadBpsDevice",
        "blkio.throttle.read_bps_device",
    )
}

fn throttle_write_bps(ctx: &mut Ctx) -> Res {
    throttle(
        ctx,
        "throttleWriteBpsDevice",
        "blkio.throttle.write_bps_device",
    )
}

fn throttle_read_iops(ctx: &mut Ctx) -> Res {
    throttle(
        ctx,
        "throttleReadIOPSDevice",
        "blkio.throttle.read_iops_device",
    )
}

fn throttle_write_iops(ctx: &mut Ctx) -> Res {
    throttle(
        ctx,
        "throttleWriteIOPSDevice",
        "blkio.throttle.write_iops_device",
    )
}

fn hugepages(ctx: &mut Ctx) -> Res {
    if !host::has_v1("hugetlb") {
        return skip("the host has no cgroup v1 hugetlb controller");
    }
    expect(
        ctx,
        "hugetlb",
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
        "hugetlb.2MB.limit_in_bytes",
        "4194304",
    )
}

fn net_cls(ctx: &mut Ctx) -> Res {
    if !host::has_v1("net_cls") {
        return skip("the host has no cgroup v1 net_cls controller");
    }
    expect(
        ctx,
        "net_cls",
        json!({"network": {"classID": 1048577}}),
        "net_cls.classid",
        "1048577",
    )
}

fn net_prio(ctx: &mut Ctx) -> Res {
    if !host::has_v1("net_prio") {
        return skip("the host has no cgroup v1 net_prio controller");
    }
    let (pid, _) = with_resources(
        ctx,
        json!({"network": {"priorities": [{"name": "lo", "priority": 7}]}}),
    )?;
    let got = read(&dir(pid, "net_prio")?, "net_prio.ifpriomap");
    check!(
        got.lines().any(|l| l == "lo 7"),
        "net_prio.ifpriomap: {got:?}"
    );
    Ok(())
}

fn rdma(ctx: &mut Ctx) -> Res {
    if !host::has_v1("rdma") {
        return skip("the host has no cgroup v1 rdma controller");
    }
    let _ = ctx;
    skip("the host has no RDMA device")
}

/// What opening /dev/kmsg (char 1:11, not a default device) for writing gives inside a
/// container whose device cgroup rules are `rules`. The node is the host's, bind-mounted:
/// not listed in linux.devices, so only the cgroup rules decide.
fn kmsg_write(ctx: &mut Ctx, rules: Value) -> Result<i64, super::Verdict> {
    let mut b = ctx.probe_bundle(&["--write", "/conf-kmsg"])?;
    std::fs::write(b.rootfs().join("conf-kmsg"), "").map_err(anyhow::Error::from)?;
    b.add_mount(json!({"destination": "/conf-kmsg", "type": "none", "source": "/dev/kmsg", "options": ["bind"]}));
    b.config["linux"]["resources"]["devices"] = rules;
    b.save()?;
    let r = ctx.probe(&b)?;
    Ok(r["write"]["/conf-kmsg"].as_i64().unwrap_or(-1))
}

const EPERM: i64 = 1;

fn devices_deny(ctx: &mut Ctx) -> Res {
    if !host::has_v1("devices") {
        return skip("the host has no cgroup v1 devices controller");
    }
    let got = kmsg_write(ctx, json!([{"allow": false, "access": "rwm"}]))?;
    check!(
        got == EPERM,
        "opening a denied device gave {got} (want EPERM)"
    );
    Ok(())
}

fn devices_allow(ctx: &mut Ctx) -> Res {
    if !host::has_v1("devices") {
        return skip("the host has no cgroup v1 devices controller");
    }
    let got = kmsg_write(
        ctx,
        json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"}]),
    )?;
    check!(got == 0, "opening an allowed device gave errno {got}");
    Ok(())
}

fn devices_order(ctx: &mut Ctx) -> Res {
    if !host::has_v1("devices") {
        return skip("the host has no cgroup v1 devices controller");
    }
    let got = kmsg_write(
        ctx,
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"},
            {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "w"},
        ]),
    )?;
    check!(
        got == EPERM,
        "the later deny did not win: opening for writing gave {got}"
    );
    Ok(())
}

fn unified_absent(ctx: &mut Ctx) -> Res {
    if host::v2_controllers().iter().any(|c| c == "pids") {
        return skip("the host's cgroup v2 has a pids controller: nothing absent to refer to");
    }
    let mut b = ctx.bundle(&["true"])?;
    let cg = ctx.cgroups_path();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    b.config["linux"]["resources"]["unified"] = json!({"pids.max": "10"});
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(
        !out.ok(),
        "unified pids.max was accepted without a cgroup v2 pids controller"
    );
    Ok(())
}

fn unified_write(ctx: &mut Ctx) -> Res {
    if !host::v2_controllers().iter().any(|c| c == "pids") {
        return skip("the host's cgroup v2 hierarchy has no pids controller (v1-hybrid host)");
    }
    let (pid, _) = with_resources(ctx, json!({"unified": {"pids.max": "17"}}))?;
    let d = host::cgroup_dir_v2(pid)
        .ok_or_else(|| super::Verdict::Fail(format!("init {pid} has no cgroup v2 directory")))?;
    let got = read(&d, "pids.max");
    check!(got == "17", "pids.max = {got:?}");
    Ok(())
}
