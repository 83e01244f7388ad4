//! LinuxResources → systemd unit properties, as runc converts them (genV1ResourcesProperties,
//! genV2ResourcesProperties, the devices rules). Whatever has no property is written to the
//! cgroup files afterwards by the cgroupfs manager. 0 and absent mean "leave it".

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use crate::dbus::Value;
use crate::render::shares_to_weight;

/// A unit property: its name and value (sent as a variant).
pub type Property = (String, Value);

fn prop(name: &str, v: Value) -> Property {
    (name.to_string(), v)
}

/// systemd's "infinity" for limits.
const INFINITY: u64 = u64::MAX;

/// The kernel's default CFS period, in microseconds.
const DEFAULT_PERIOD: u64 = 100_000;

/// What the host and its systemd can take.
pub struct Target {
    /// cgroup v2 (unified): MemoryMax, CPUWeight, IOWeight...; otherwise the v1 names.
    pub unified: bool,
    /// systemd's version (CPUQuotaPeriodUSec needs 242, AllowedCPUs 244).
    pub version: u32,
}

/// What every unit starts with (runc's list): where it goes, its pid, delegation, accounting.
/// A slice goes in its parent with Wants= and cannot be delegated.
pub fn unit(
    description: &str,
    slice: &str,
    is_slice: bool,
    pid: i32,
    unified: bool,
) -> Vec<Property> {
    let yes = || Value::Bool(true);
    let mut out = vec![prop("Description", Value::str(description))];
    if is_slice {
        out.push(prop("Wants", Value::str(slice)));
    } else {
        out.push(prop("Slice", Value::str(slice)));
        out.push(prop("Delegate", yes()));
    }
    out.push(prop(
        "PIDs",
        Value::array("u", vec![Value::U32(pid as u32)]),
    ));
    out.push(prop("MemoryAccounting", yes()));
    out.push(prop("CPUAccounting", yes()));
    let io = if unified {
        "IOAccounting"
    } else {
        "BlockIOAccounting"
    };
    out.push(prop(io, yes()));
    out.push(prop("TasksAccounting", yes()));
    out.push(prop("DefaultDependencies", Value::Bool(false)));
    out
}

/// Whether converting `r` needs the systemd version (so the caller can skip asking).
pub fn needs_version(r: &LinuxResources) -> bool {
    r.cpu().as_ref().is_some_and(|c| {
        c.period().is_some_and(|p| p != 0)
            || c.cpus().as_deref().is_some_and(|s| !s.is_empty())
            || c.mems().as_deref().is_some_and(|s| !s.is_empty())
    }) || r.unified().as_ref().is_some_and(|u| {
        u.contains_key("cpu.max") || u.contains_key("cpuset.cpus") || u.contains_key("cpuset.mems")
    })
}

/// The properties expressing `r` (the devices among them when `r` has device rules).
pub fn resources(r: &LinuxResources, t: &Target) -> Result<Vec<Property>, String> {
    let mut out = Vec::new();
    if let Some(rules) = r.devices().as_deref().filter(|d| !d.is_empty()) {
        out.extend(devices(rules, &HostDevices));
    }
    if let Some(m) = r.memory() {
        let limit = m.limit().unwrap_or(0);
        if limit != 0 {
            let name = if t.unified {
                "MemoryMax"
            } else {
                "MemoryLimit"
            };
            out.push(prop(name, Value::U64(limit_value(limit))));
        }
        if t.unified {
            if let Some(low) = m.reservation().filter(|v| *v != 0) {
                out.push(prop("MemoryLow", Value::U64(limit_value(low))));
            }
            if let Some(swap) = m.swap().filter(|v| *v != 0) {
                // v1's swap counts memory+swap; MemorySwapMax is the swap alone.
                let v = if swap < 0 {
                    INFINITY
                } else {
                    (swap - limit.max(0)).max(0) as u64
                };
                out.push(prop("MemorySwapMax", Value::U64(v)));
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares().filter(|v| *v != 0) {
            out.push(if t.unified {
                prop("CPUWeight", Value::U64(shares_to_weight(shares)))
            } else {
                prop("CPUShares", Value::U64(shares))
            });
        }
        cpu_quota(&mut out, c.quota().unwrap_or(0), c.period().unwrap_or(0), t);
        cpuset(&mut out, c.cpus().as_deref(), c.mems().as_deref(), t)?;
    }
    if let Some(p) = r.pids() {
        // runtime-spec 1.3 and runc 1.4: a negative limit is none, and 0 is a limit systemd
        // cannot express, so it becomes 1 (the same as 0 in practice: init is the one task).
        let tasks = match p.limit() {
            l if l < 0 => limit_value(-1),
            0 => 1,
            l => limit_value(l),
        };
        out.push(prop("TasksMax", Value::U64(tasks)));
    }
    if let Some(w) = r
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|w| *w != 0)
    {
        out.push(if t.unified {
            prop(
                "IOWeight",
                Value::U64(1 + (u64::from(w).saturating_sub(10)) * 9999 / 990),
            )
        } else {
            prop("BlockIOWeight", Value::U64(u64::from(w)))
        });
    }
    if t.unified {
        if let Some(u) = r.unified() {
            let mut keys: Vec<_> = u.iter().collect();
            keys.sort();
            for (k, v) in keys {
                unified(&mut out, k, v.trim(), t)?;
            }
        }
    }
    Ok(out)
}

/// -1 (or any negative) is "no limit".
fn limit_value(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(INFINITY)
}

/// runc's addCpuQuota: CPUQuotaPerSecUSec, rounded up to systemd's 1% steps.
fn cpu_quota(out: &mut Vec<Property>, quota: i64, period: u64, t: &Target) {
    if period != 0 && t.version >= 242 {
        out.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
    }
    if quota == 0 && period == 0 {
        return;
    }
    let mut per_sec = INFINITY;
    if quota > 0 {
        let period = if period == 0 { DEFAULT_PERIOD } else { period };
        per_sec = ((quota as u64).saturating_mul(1_000_000) / period).div_ceil(10_000) * 10_000;
    }
    out.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
}

fn cpuset(
    out: &mut Vec<Property>,
    cpus: Option<&str>,
    mems: Option<&str>,
    t: &Target,
) -> Result<(), String> {
    if t.version < 244 {
        return Ok(()); // the cgroupfs manager still writes them
    }
    for (list, name, field) in [
        (cpus, "AllowedCPUs", "cpu.cpus"),
        (mems, "AllowedMemoryNodes", "cpu.mems"),
    ] {
        if let Some(list) = list.filter(|s| !s.is_empty()) {
            let bits = range_to_bits(list)
                .map_err(|e| format!("linux.resources.{field} {list:?}: {e}"))?;
            out.push(prop(name, bytes(bits)));
        }
    }
    Ok(())
}

fn bytes(b: Vec<u8>) -> Value {
    Value::array("y", b.into_iter().map(Value::Byte).collect())
}

/// A cpuset list ("0-3,8") as systemd's bitmask: byte i holds CPUs 8i..8i+7, lowest bit first.
pub fn range_to_bits(list: &str) -> Result<Vec<u8>, String> {
    let mut bits: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let num = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| format!("bad entry {part:?}"))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi || hi >= 8192 {
            return Err(format!("bad range {part:?}"));
        }
        for n in lo..=hi {
            if bits.len() <= n / 8 {
                bits.resize(n / 8 + 1, 0);
            }
            bits[n / 8] |= 1 << (n % 8);
        }
    }
    if bits.is_empty() {
        return Err("empty list".into());
    }
    Ok(bits)
}

/// runc's unifiedResToSystemdProps: the cgroup v2 files systemd has a property for.
fn unified(out: &mut Vec<Property>, key: &str, v: &str, t: &Target) -> Result<(), String> {
    let bad = |e: &str| format!("linux.resources.unified[{key:?}] {v:?}: {e}");
    let num = |s: &str| -> Result<u64, String> {
        if s == "max" {
            Ok(INFINITY)
        } else {
            s.parse().map_err(|_| bad("not a number"))
        }
    };
    match key {
        "memory.high" | "memory.low" | "memory.min" | "memory.max" | "memory.swap.max" => {
            let name = match key {
                "memory.high" => "MemoryHigh",
                "memory.low" => "MemoryLow",
                "memory.min" => "MemoryMin",
                "memory.max" => "MemoryMax",
                _ => "MemorySwapMax",
            };
            out.push(prop(name, Value::U64(num(v)?)));
        }
        "pids.max" => out.push(prop("TasksMax", Value::U64(num(v)?))),
        "cpu.weight" => out.push(prop("CPUWeight", Value::U64(num(v)?))),
        "cpu.max" => {
            let mut f = v.split_whitespace();
            let quota = match f.next() {
                Some("max") => 0,
                Some(q) => q.parse().map_err(|_| bad("bad quota"))?,
                None => return Err(bad("empty")),
            };
            let period = match f.next() {
                Some(p) => p.parse().map_err(|_| bad("bad period"))?,
                None => DEFAULT_PERIOD,
            };
            cpu_quota(out, quota, period, t);
        }
        "cpuset.cpus" | "cpuset.mems" if t.version >= 244 => {
            let name = if key == "cpuset.cpus" {
                "AllowedCPUs"
            } else {
                "AllowedMemoryNodes"
            };
            out.push(prop(name, bytes(range_to_bits(v).map_err(|e| bad(&e))?)));
        }
        _ => {} // written to the file by the cgroupfs manager
    }
    Ok(())
}

/// What the device rules need from the host: /proc/devices groups and device nodes.
pub trait Devices {
    /// The /proc/devices name of a (type, major): "pts" for (c, 136).
    fn group(&self, block: bool, major: i64) -> Option<String>;
    /// Whether /dev/char/1:3 (or its /sys/dev twin) exists: systemd warns about missing ones.
    fn node_exists(&self, path: &str) -> bool;
}

pub struct HostDevices;

impl Devices for HostDevices {
    fn group(&self, block: bool, major: i64) -> Option<String> {
        let text = std::fs::read_to_string("/proc/devices").ok()?;
        let header = if block {
            "Block devices:"
        } else {
            "Character devices:"
        };
        text.lines()
            .skip_while(|l| l.trim() != header)
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .find_map(|l| {
                let (num, name) = l.trim().split_once(' ')?;
                (num.parse::<i64>().ok()? == major).then(|| name.trim().to_string())
            })
    }

    fn node_exists(&self, path: &str) -> bool {
        std::path::Path::new(path).exists() || std::path::Path::new(&format!("/sys{path}")).exists()
    }
}

/// One rule of the allow-list being built: (block, major, minor) with None as a wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    typ: char,
    major: Option<i64>,
    minor: Option<i64>,
    access: String,
}

fn wildcard(n: Option<i64>) -> Option<i64> {
    n.filter(|n| *n >= 0)
}

/// DevicePolicy and DeviceAllow for a rule list, read in order as runc's devices emulator
/// reads it: the list starts as an allow-list (nothing allowed), "deny all" starts a new
/// allow-list, "allow all" a deny-list. systemd has only allow-lists, so a deny-list other than
/// "allow everything" becomes "deny everything" here (the cgroupfs manager then writes the
/// real rules, as runc does).
pub fn devices(rules: &[LinuxDeviceCgroup], host: &dyn Devices) -> Vec<Property> {
    let mut default_allow = false;
    let mut allowed: Vec<Allowed> = Vec::new();
    let mut denied_some = false;
    for r in rules {
        let typ = match r.typ() {
            None | Some(LinuxDeviceType::A) => 'a',
            Some(LinuxDeviceType::B) => 'b',
            _ => 'c',
        };
        let (major, minor) = (wildcard(r.major()), wildcard(r.minor()));
        let access = r.access().clone().unwrap_or_else(|| "rwm".into());
        if typ == 'a' && major.is_none() && minor.is_none() {
            default_allow = r.allow();
            allowed.clear();
            denied_some = false;
            continue;
        }
        match (default_allow, r.allow()) {
            (false, true) => allowed.push(Allowed {
                typ,
                major,
                minor,
                access,
            }),
            (false, false) => {
                for a in allowed
                    .iter_mut()
                    .filter(|a| a.typ == typ && a.major == major && a.minor == minor)
                {
                    a.access.retain(|c| !access.contains(c));
                }
                allowed.retain(|a| !a.access.is_empty());
            }
            (true, false) => denied_some = true,
            (true, true) => {}
        }
    }
    let empty = || Value::array("(ss)", vec![]);
    if default_allow {
        let policy = if denied_some { "strict" } else { "auto" };
        return vec![
            prop("DevicePolicy", Value::str(policy)),
            prop("DeviceAllow", empty()),
        ];
    }
    let mut entries: Vec<Value> = Vec::new();
    let mut entry = |path: String, access: &str| {
        entries.push(Value::Struct(vec![Value::str(path), Value::str(access)]));
    };
    for a in &allowed {
        let kinds: &[(&str, bool)] = match a.typ {
            'a' => &[("char", false), ("block", true)],
            'b' => &[("block", true)],
            _ => &[("char", false)],
        };
        for (kind, block) in kinds {
            match (a.major, a.minor) {
                (None, None) => entry(format!("{kind}-*"), &a.access),
                (None, Some(_)) => {} // "*:n" has no systemd spelling
                (Some(major), None) => {
                    if let Some(group) = host.group(*block, major) {
                        entry(format!("{kind}-{group}"), &a.access);
                    }
                }
                (Some(major), Some(minor)) => {
                    let path = format!("/dev/{kind}/{major}:{minor}");
                    if host.node_exists(&path) {
                        entry(path, &a.access);
                    }
                }
            }
        }
    }
    vec![
        prop("DevicePolicy", Value::str("strict")),
        // An empty list first resets what an earlier SetUnitProperties added.
        prop("DeviceAllow", empty()),
        prop("DeviceAllow", Value::array("(ss)", entries)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    fn v2() -> Target {
        Target {
            unified: true,
            version: 252,
        }
    }

    fn get<'a>(props: &'a [Property], name: &str) -> Option<&'a Value> {
        props.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn unit_basics() {
        let p = unit("hull container web", "system.slice", false, 42, true);
        assert_eq!(get(&p, "Slice"), Some(&Value::str("system.slice")));
        assert_eq!(get(&p, "Delegate"), Some(&Value::Bool(true)));
        assert_eq!(
            get(&p, "PIDs"),
            Some(&Value::array("u", vec![Value::U32(42)]))
        );
        assert_eq!(get(&p, "IOAccounting"), Some(&Value::Bool(true)));
        assert_eq!(get(&p, "DefaultDependencies"), Some(&Value::Bool(false)));
        let p = unit("hull container pod", "system.slice", true, 42, false);
        assert_eq!(get(&p, "Wants"), Some(&Value::str("system.slice")));
        assert!(get(&p, "Delegate").is_none() && get(&p, "Slice").is_none());
        assert_eq!(get(&p, "BlockIOAccounting"), Some(&Value::Bool(true)));
    }

    #[test]
    fn memory_cpu_pids_on_v2() {
        let r = res(serde_json::json!({
            "memory": {"limit": 1048576, "reservation": 4096, "swap": 3145728},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1,3"},
            "pids": {"limit": 32},
            "blockIO": {"weight": 500}
        }));
        let p = resources(&r, &v2()).unwrap();
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(1_048_576)));
        assert_eq!(get(&p, "MemoryLow"), Some(&Value::U64(4096)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(2_097_152)));
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(39)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(get(&p, "AllowedCPUs"), Some(&bytes(vec![0b1011])));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(32)));
        assert_eq!(get(&p, "IOWeight"), Some(&Value::U64(4950)));
        assert!(get(&p, "MemoryLimit").is_none());
    }

    #[test]
    fn v1_names_and_unlimited() {
        let r = res(serde_json::json!({
            "memory": {"limit": -1},
            "cpu": {"shares": 512, "quota": 33333},
            "pids": {"limit": -1},
            "blockIO": {"weight": 300}
        }));
        let t = Target {
            unified: false,
            version: 241,
        };
        let p = resources(&r, &t).unwrap();
        assert_eq!(get(&p, "MemoryLimit"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "CPUShares"), Some(&Value::U64(512)));
        // 33333 µs per 100 ms is 33.3%: rounded up to 34%.
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(340_000)));
        assert!(get(&p, "CPUQuotaPeriodUSec").is_none()); // systemd 241 lacks it
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "BlockIOWeight"), Some(&Value::U64(300)));
        assert!(get(&p, "MemoryMax").is_none());
    }

    #[test]
    fn zero_means_unchanged() {
        let r = res(serde_json::json!({"memory": {"limit": 0}, "cpu": {"shares": 0}}));
        assert!(resources(&r, &v2()).unwrap().is_empty());
        assert!(!needs_version(&r));
        // pids.limit 0 is a limit (runtime-spec 1.3, runc 1.4): TasksMax cannot be 0, so 1.
        let r = res(serde_json::json!({"pids": {"limit": 0}}));
        let p = resources(&r, &v2()).unwrap();
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(1)));
        let r = res(serde_json::json!({"cpu": {"quota": -1, "period": 0}}));
        let p = resources(&r, &v2()).unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(u64::MAX)));
    }

    #[test]
    fn unified_keys() {
        let r = res(serde_json::json!({"unified": {
            "memory.high": "1000", "pids.max": "max", "cpu.max": "20000 50000",
            "cpuset.mems": "0", "io.weight": "50"
        }}));
        assert!(needs_version(&r));
        let p = resources(&r, &v2()).unwrap();
        assert_eq!(get(&p, "MemoryHigh"), Some(&Value::U64(1000)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(50_000)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(400_000)));
        assert_eq!(get(&p, "AllowedMemoryNodes"), Some(&bytes(vec![1])));
        let bad = res(serde_json::json!({"unified": {"memory.max": "lots"}}));
        assert!(resources(&bad, &v2()).unwrap_err().contains("memory.max"));
    }

    #[test]
    fn cpu_bitmasks() {
        assert_eq!(range_to_bits("0").unwrap(), [1]);
        assert_eq!(range_to_bits("0-3,5").unwrap(), [0x2f]);
        assert_eq!(range_to_bits("8").unwrap(), [0, 1]);
        assert_eq!(range_to_bits("1,9-10").unwrap(), [2, 6]);
        assert!(range_to_bits("3-1").is_err());
        assert!(range_to_bits("x").is_err());
        assert!(range_to_bits("").is_err());
    }

    struct FakeHost;
    impl Devices for FakeHost {
        fn group(&self, block: bool, major: i64) -> Option<String> {
            (!block && major == 136).then(|| "pts".to_string())
        }
        fn node_exists(&self, path: &str) -> bool {
            path != "/dev/char/10:200"
        }
    }

    fn rules(json: serde_json::Value) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_value(json).unwrap()
    }

    fn allow_list(p: &[Property]) -> Vec<(String, String)> {
        let Some(Value::Array(_, items)) = get(p, "DeviceAllow") else {
            panic!("no DeviceAllow in {p:?}");
        };
        items
            .iter()
            .map(|i| match i {
                Value::Struct(f) => (
                    f[0].as_str().unwrap().to_string(),
                    f[1].as_str().unwrap().to_string(),
                ),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn device_allow_list() {
        let r = rules(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
            {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "rw"},
            {"allow": false, "type": "b", "major": 8, "minor": 0, "access": "w"}
        ]));
        let p = devices(&r, &FakeHost);
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::str("strict")));
        let want: Vec<(String, String)> = [
            ("char-*", "m"),
            ("/dev/char/1:3", "rwm"),
            ("char-pts", "rwm"),
            // 10:200 has no node here: left to the cgroupfs manager
            ("/dev/block/8:0", "r"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(allow_list(&p), want);
    }

    #[test]
    fn device_deny_lists() {
        let allow_all = rules(serde_json::json!([{"allow": true, "access": "rwm"}]));
        let p = devices(&allow_all, &FakeHost);
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::str("auto")));
        assert!(allow_list(&p).is_empty());
        let some_denied = rules(serde_json::json!([
            {"allow": true, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]));
        let p = devices(&some_denied, &FakeHost);
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::str("strict")));
    }

    #[test]
    fn a_list_without_deny_all_is_still_an_allow_list() {
        let r = rules(serde_json::json!([
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]));
        let p = devices(&r, &FakeHost);
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::str("strict")));
        assert_eq!(
            allow_list(&p),
            [("/dev/char/1:3".to_string(), "rwm".to_string())]
        );
    }
}
