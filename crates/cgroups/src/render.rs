//! LinuxResources → the cgroup files and values that express them, for v1 and v2. Pure
//! functions: the managers write what these return, tests read them directly.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

/// One file to write: (v1 controller or "" on v2, file name, value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
}

fn w(controller: &'static str, file: impl Into<String>, value: impl ToString) -> Write {
    Write {
        controller,
        file: file.into(),
        value: value.to_string(),
    }
}

/// `-1` means "unlimited" in the spec; v2 spells it "max".
fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// pids.max for linux.resources.pids.limit, as runtime-spec 1.3 and runc 1.4 read it (runc
/// 1.1 and spec 1.0 took 0 as "unset"): present means "write it", a negative limit is "max",
/// and 0 is a real limit, written as 1 as runc 1.4 does (systemd's TasksMax cannot be 0, and
/// the two drivers must agree; in effect they are the same). An absent `pids` object (or one
/// without `limit`, which the config loader drops) leaves pids.max alone.
pub fn pids_max(limit: i64) -> String {
    match limit {
        l if l < 0 => "max".into(),
        0 => "1".into(),
        l => l.to_string(),
    }
}

/// cgroup v1 files. 0 and absent both mean "leave it": `update` relies on that (pids, whose
/// 0 is a limit, are the exception: see [`pids_max`]).
pub fn v1(r: &LinuxResources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        // The swap limit (memsw) must stay above the memory limit: the manager orders these.
        if let Some(l) = m.limit().filter(|l| *l != 0) {
            out.push(w("memory", "memory.limit_in_bytes", l));
        }
        if let Some(s) = m.swap().filter(|s| *s != 0) {
            out.push(w("memory", "memory.memsw.limit_in_bytes", s));
        }
        if let Some(res) = m.reservation().filter(|v| *v != 0) {
            out.push(w("memory", "memory.soft_limit_in_bytes", res));
        }
        if let Some(k) = m.kernel().filter(|v| *v != 0) {
            out.push(w("memory", "memory.kmem.limit_in_bytes", k));
        }
        if let Some(k) = m.kernel_tcp().filter(|v| *v != 0) {
            out.push(w("memory", "memory.kmem.tcp.limit_in_bytes", k));
        }
        if let Some(s) = m.swappiness() {
            if s <= 100 {
                out.push(w("memory", "memory.swappiness", s));
            }
        }
        if m.disable_oom_killer() == Some(true) {
            out.push(w("memory", "memory.oom_control", 1));
        }
        if let Some(h) = m.use_hierarchy() {
            out.push(w("memory", "memory.use_hierarchy", u8::from(h)));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.shares", s));
        }
        if let Some(p) = c.period().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.cfs_period_us", p));
        }
        if let Some(q) = c.quota().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.cfs_quota_us", q));
        }
        if let Some(b) = c.burst() {
            out.push(w("cpu", "cpu.cfs_burst_us", b));
        }
        if let Some(p) = c.realtime_period().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.rt_period_us", p));
        }
        if let Some(rt) = c.realtime_runtime().filter(|v| *v != 0) {
            out.push(w("cpu", "cpu.rt_runtime_us", rt));
        }
        if let Some(idle) = c.idle() {
            out.push(w("cpu", "cpu.idle", idle));
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.mems", mems));
        }
    }
    if let Some(p) = r.pids() {
        out.push(w("pids", "pids.max", pids_max(p.limit())));
    }
    if let Some(b) = r.block_io() {
        if let Some(v) = b.weight().filter(|v| *v != 0) {
            // The manager writes blkio.bfq.weight where the host has no blkio.weight.
            out.push(w("blkio", "blkio.weight", v));
        }
        if let Some(v) = b.leaf_weight().filter(|v| *v != 0) {
            out.push(w("blkio", "blkio.leaf_weight", v));
        }
        for d in b.weight_device().as_deref().unwrap_or_default() {
            if let Some(v) = d.weight() {
                out.push(w(
                    "blkio",
                    "blkio.weight_device",
                    format!("{}:{} {v}", d.major(), d.minor()),
                ));
            }
            if let Some(v) = d.leaf_weight() {
                out.push(w(
                    "blkio",
                    "blkio.leaf_weight_device",
                    format!("{}:{} {v}", d.major(), d.minor()),
                ));
            }
        }
        for (list, file) in [
            (
                b.throttle_read_bps_device(),
                "blkio.throttle.read_bps_device",
            ),
            (
                b.throttle_write_bps_device(),
                "blkio.throttle.write_bps_device",
            ),
            (
                b.throttle_read_iops_device(),
                "blkio.throttle.read_iops_device",
            ),
            (
                b.throttle_write_iops_device(),
                "blkio.throttle.write_iops_device",
            ),
        ] {
            for d in list.as_deref().unwrap_or_default() {
                out.push(w(
                    "blkio",
                    file,
                    format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                ));
            }
        }
    }
    for h in r.hugepage_limits().as_deref().unwrap_or_default() {
        out.push(w(
            "hugetlb",
            format!("hugetlb.{}.limit_in_bytes", h.page_size()),
            h.limit(),
        ));
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            out.push(w("net_cls", "net_cls.classid", id));
        }
        for p in n.priorities().as_deref().unwrap_or_default() {
            out.push(w(
                "net_prio",
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            ));
        }
    }
    if let Some(rdma) = r.rdma() {
        for (dev, l) in rdma {
            out.push(w(
                "rdma",
                "rdma.max",
                rdma_line(dev, l.hca_handles(), l.hca_objects()),
            ));
        }
    }
    let devices = r.devices().as_deref().unwrap_or_default();
    if !devices.is_empty() {
        // A rule list starts from "nothing allowed", as runc reads it (its devices emulator
        // starts as an allow-list, and cgroup v2's program refuses what no rule names). A new
        // v1 cgroup inherits its parent's list, usually "a *:* rwm": reset it first, or an
        // allow-rule alone would leave everything else open.
        out.push(w("devices", "devices.deny", "a"));
    }
    for d in devices {
        let file = if d.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push(w("devices", file, device_rule(d)));
    }
    out
}

fn rdma_line(dev: &str, handles: Option<u32>, objects: Option<u32>) -> String {
    let mut s = dev.to_string();
    if let Some(h) = handles {
        s.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = objects {
        s.push_str(&format!(" hca_object={o}"));
    }
    s
}

/// A devices-cgroup rule as v1 takes it: "c 1:3 rwm", with `*` for any.
pub fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let typ = d
        .typ()
        .map(|t| t.as_str().to_string())
        .unwrap_or_else(|| "a".into());
    let num = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "*".into())
    };
    if typ == "a" && d.major().is_none() && d.minor().is_none() {
        return format!("a *:* {}", d.access().as_deref().unwrap_or("rwm"));
    }
    format!(
        "{typ} {}:{} {}",
        num(d.major()),
        num(d.minor()),
        d.access().as_deref().unwrap_or("rwm")
    )
}

/// runc's conversion of v1 cpu.shares [2, 262144] to v2 cpu.weight [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// cgroup v2 files, in the unified hierarchy.
/// Written only where the BFQ I/O scheduler provides it.
pub const BFQ_WEIGHT_DEVICE: &str = "io.bfq.weight_device";

pub fn v2(r: &LinuxResources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        // v1's swap is memory+swap; v2's memory.swap.max is swap alone. As runc converts it:
        // an unlimited limit without a swap value lifts swap too (v1 compatibility), and the
        // swap limit goes first (v2 takes the two in any order; runc's order is kept).
        let limit = m.limit().unwrap_or(0);
        let swap = match m.swap().filter(|s| *s != 0) {
            None if limit == -1 => Some(-1),
            s => s,
        };
        if let Some(s) = swap {
            let v = if s < 0 {
                "max".to_string()
            } else {
                (s - limit.max(0)).max(0).to_string()
            };
            out.push(w("", "memory.swap.max", v));
        }
        if limit != 0 {
            out.push(w("", "memory.max", max_or(limit)));
        }
        if let Some(res) = m.reservation().filter(|v| *v != 0) {
            out.push(w("", "memory.low", max_or(res)));
        }
        if m.disable_oom_killer() == Some(true) {
            out.push(w("", "memory.oom.group", 0));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|v| *v != 0) {
            out.push(w("", "cpu.weight", shares_to_weight(s)));
        }
        if c.quota().is_some_and(|q| q != 0) || c.period().is_some_and(|p| p != 0) {
            let quota = c
                .quota()
                .filter(|q| *q > 0)
                .map(|q| q.to_string())
                .unwrap_or_else(|| "max".into());
            // Without a period, write the quota alone: the kernel keeps the cgroup's period
            // (`update --cpu-quota` must not reset a period set at create), as runc does.
            let value = match c.period().filter(|p| *p != 0) {
                Some(period) => format!("{quota} {period}"),
                None => quota,
            };
            out.push(w("", "cpu.max", value));
        }
        if let Some(b) = c.burst() {
            out.push(w("", "cpu.max.burst", b));
        }
        if let Some(idle) = c.idle() {
            out.push(w("", "cpu.idle", idle));
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("", "cpuset.cpus", cpus));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("", "cpuset.mems", mems));
        }
    }
    if let Some(p) = r.pids() {
        out.push(w("", "pids.max", pids_max(p.limit())));
    }
    if let Some(b) = r.block_io() {
        if let Some(v) = b.weight().filter(|v| *v != 0) {
            // blkio.weight [10, 1000] → io.bfq.weight keeps the scale; io.weight [1, 10000].
            out.push(w(
                "",
                "io.weight",
                1 + (u64::from(v).saturating_sub(10)) * 9999 / 990,
            ));
        }
        // Per-device weights exist on v2 only with the BFQ scheduler (the manager skips the
        // file where BFQ is absent, as runc does).
        for d in b.weight_device().as_deref().unwrap_or_default() {
            if let Some(weight) = d.weight() {
                out.push(w(
                    "",
                    BFQ_WEIGHT_DEVICE,
                    format!("{}:{} {weight}", d.major(), d.minor()),
                ));
            }
        }
        for (list, key) in [
            (b.throttle_read_bps_device(), "rbps"),
            (b.throttle_write_bps_device(), "wbps"),
            (b.throttle_read_iops_device(), "riops"),
            (b.throttle_write_iops_device(), "wiops"),
        ] {
            for d in list.as_deref().unwrap_or_default() {
                out.push(w(
                    "",
                    "io.max",
                    format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
                ));
            }
        }
    }
    for h in r.hugepage_limits().as_deref().unwrap_or_default() {
        out.push(w("", format!("hugetlb.{}.max", h.page_size()), h.limit()));
    }
    if let Some(rdma) = r.rdma() {
        for (dev, l) in rdma {
            out.push(w(
                "",
                "rdma.max",
                rdma_line(dev, l.hca_handles(), l.hca_objects()),
            ));
        }
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<_> = u.iter().collect();
        keys.sort();
        for (k, v) in keys {
            out.push(w("", k.clone(), v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn v1_memory_cpu_pids() {
        let r = res(serde_json::json!({
            "memory": {"limit": 1048576, "swap": 2097152, "swappiness": 10},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
            "pids": {"limit": 32}
        }));
        let files: Vec<(String, String)> = v1(&r).into_iter().map(|w| (w.file, w.value)).collect();
        for (f, v) in [
            ("memory.limit_in_bytes", "1048576"),
            ("memory.memsw.limit_in_bytes", "2097152"),
            ("memory.swappiness", "10"),
            ("cpu.shares", "512"),
            ("cpu.cfs_quota_us", "50000"),
            ("cpuset.cpus", "0"),
            ("pids.max", "32"),
        ] {
            assert!(
                files.contains(&(f.to_string(), v.to_string())),
                "{f}={v} missing in {files:?}"
            );
        }
    }

    #[test]
    fn zero_means_unchanged() {
        let r = res(serde_json::json!({"memory": {"limit": 0}, "cpu": {"shares": 0}}));
        assert!(v1(&r).is_empty());
        assert!(v2(&r).is_empty());
    }

    #[test]
    fn pids_limits_as_runtime_spec_1_3() {
        let files = |limit: serde_json::Value| {
            let r = res(serde_json::json!({ "pids": { "limit": limit } }));
            let one: Vec<_> = v1(&r).into_iter().map(|w| (w.file, w.value)).collect();
            let two: Vec<_> = v2(&r).into_iter().map(|w| (w.file, w.value)).collect();
            assert_eq!(one, two);
            one
        };
        let max = |v: &str| vec![("pids.max".to_string(), v.to_string())];
        assert_eq!(files(32.into()), max("32"));
        assert_eq!(files((-1).into()), max("max"));
        assert_eq!(files((-5).into()), max("max"));
        assert_eq!(files(0.into()), max("1"));
        assert!(v1(&res(serde_json::json!({}))).is_empty());
    }

    #[test]
    fn v2_unlimited_memory_lifts_swap_first() {
        let r = res(serde_json::json!({"memory": {"limit": -1}}));
        let files: Vec<(String, String)> = v2(&r).into_iter().map(|w| (w.file, w.value)).collect();
        assert_eq!(
            files,
            [
                ("memory.swap.max".into(), "max".into()),
                ("memory.max".into(), "max".into())
            ]
        );
        let r = res(serde_json::json!({"memory": {"limit": 100, "swap": 300}}));
        let files: Vec<String> = v2(&r).into_iter().map(|w| w.file).collect();
        assert_eq!(files, ["memory.swap.max", "memory.max"]);
    }

    #[test]
    fn v2_conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        let r = res(
            serde_json::json!({"memory": {"limit": 100, "swap": 300}, "cpu": {"quota": -1}, "pids": {"limit": -1}}),
        );
        let files: Vec<(String, String)> = v2(&r).into_iter().map(|w| (w.file, w.value)).collect();
        assert!(files.contains(&("memory.swap.max".into(), "200".into())));
        assert!(files.contains(&("cpu.max".into(), "max".into())));
        let r = res(serde_json::json!({"cpu": {"quota": 20000}}));
        assert_eq!(v2(&r)[0].value, "20000", "the period is left as it is");
        let r = res(serde_json::json!({"cpu": {"quota": 20000, "period": 50000}}));
        assert_eq!(v2(&r)[0].value, "20000 50000");
        assert!(files.contains(&("pids.max".into(), "max".into())));
        let r = res(
            serde_json::json!({"blockIO": {"weight": 500, "weightDevice": [
            {"major": 8, "minor": 0, "weight": 300}, {"major": 8, "minor": 16, "leafWeight": 20}
        ], "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]}}),
        );
        let files: Vec<(String, String)> = v2(&r).into_iter().map(|w| (w.file, w.value)).collect();
        assert_eq!(
            files,
            [
                ("io.weight".into(), "4950".into()),
                (BFQ_WEIGHT_DEVICE.into(), "8:0 300".into()),
                ("io.max".into(), "8:0 rbps=1048576".into()),
            ]
        );
    }

    #[test]
    fn v1_device_list_starts_from_deny_all() {
        let r = res(serde_json::json!({"devices": [
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]}));
        let files: Vec<(String, String)> = v1(&r)
            .into_iter()
            .filter(|w| w.controller == "devices")
            .map(|w| (w.file, w.value))
            .collect();
        assert_eq!(
            files,
            [
                ("devices.deny".into(), "a".into()),
                ("devices.allow".into(), "c 1:3 rwm".into())
            ]
        );
        assert!(v1(&res(serde_json::json!({})))
            .iter()
            .all(|w| w.controller != "devices"));
    }

    #[test]
    fn device_rules() {
        let d: LinuxDeviceCgroup =
            serde_json::from_value(serde_json::json!({"allow": false, "access": "rwm"})).unwrap();
        assert_eq!(device_rule(&d), "a *:* rwm");
        let d: LinuxDeviceCgroup = serde_json::from_value(
            serde_json::json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}),
        )
        .unwrap();
        assert_eq!(device_rule(&d), "c 1:3 rw");
        let d: LinuxDeviceCgroup = serde_json::from_value(
            serde_json::json!({"allow": true, "type": "c", "major": 136, "access": "rwm"}),
        )
        .unwrap();
        assert_eq!(device_rule(&d), "c 136:* rwm");
    }
}
