//! `hull update`: change a running container's resources (runc's flags, or LinuxResources
//! JSON with -r, where 0 means "unchanged").

use std::io::Read;

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

use super::Global;
use crate::container::cgroup;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Path to a file with the resources to update, or - for stdin
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<String>,
    #[arg(long, value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<u64>,
    #[arg(long, value_name = "US", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long, value_name = "US")]
    pub cpu_burst: Option<u64>,
    #[arg(long = "cpu-share", value_name = "SHARES")]
    pub cpu_share: Option<u64>,
    #[arg(long, value_name = "US")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long, value_name = "US", allow_negative_numbers = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long, value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,
    #[arg(long, value_name = "MEMS")]
    pub cpuset_mems: Option<String>,
    #[arg(long, value_name = "0|1")]
    pub cpu_idle: Option<i64>,
    /// Memory limit (bytes, or with a k/m/g suffix; -1 for none)
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of tasks (-1 for unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    pub id: String,
}

/// "64m" → bytes; "-1" stays unlimited.
fn bytes(flag: &str, s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    if s == "-1" {
        return Ok(-1);
    }
    let (num, mult) = match s.to_ascii_lowercase().chars().last() {
        Some('k') => (&s[..s.len() - 1], 1i64 << 10),
        Some('m') => (&s[..s.len() - 1], 1 << 20),
        Some('g') => (&s[..s.len() - 1], 1 << 30),
        Some('b') => (&s[..s.len() - 1], 1),
        _ => (s, 1),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("--{flag} {s:?}: not a size"))?;
    Ok(n * mult)
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let (dir, mut st) = super::open(g, &a.id)?;
    let r: LinuxResources = match &a.resources {
        Some(src) => {
            let mut text = String::new();
            if src == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text =
                    std::fs::read_to_string(src).map_err(|e| anyhow::anyhow!("read {src}: {e}"))?;
            }
            let mut de = serde_json::Deserializer::from_str(&text);
            let mut r = serde_path_to_error::deserialize(&mut de)
                .map_err(|e| anyhow::anyhow!("resources: {}: {}", e.path(), e.inner()))?;
            crate::spec::drop_unset_pids_limit(&mut r, text.as_bytes(), "/pids");
            r
        }
        None => serde_json::from_value(from_flags(&a)?)?,
    };
    let cg = cgroup::of(&st).ok_or_else(|| anyhow::anyhow!("container has no cgroup to update"))?;
    let saved = st
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    cgroup::update(
        cg.as_ref(),
        &st.config,
        &with_memory_limit(r.clone(), &saved),
    )?;
    // Remember what was asked, so the saved config tells the truth.
    if let Some(linux) = st.config.linux_mut() {
        let mut merged = serde_json::to_value(&saved)?;
        merge(&mut merged, serde_json::to_value(&r)?);
        if let Some(p) = r.pids() {
            // 0 is a limit for pids (runtime-spec 1.3), which `merge` would pass over.
            merged["pids"] = serde_json::to_value(p)?;
        }
        linux.set_resources(Some(serde_json::from_value(merged)?));
        dir.save(&st)?;
    }
    Ok(0)
}

/// A swap value without a memory limit is read against the container's current limit, as
/// runc does (its update applies the merged config): on v2 memory.swap.max is swap alone, so
/// "memory+swap" needs the limit to subtract, and on v1 the order of the two writes depends on
/// it.
fn with_memory_limit(mut r: LinuxResources, saved: &LinuxResources) -> LinuxResources {
    let current = saved.memory().as_ref().and_then(|m| m.limit());
    if let (Some(m), Some(limit)) = (r.memory_mut().as_mut(), current) {
        if m.swap().is_some_and(|s| s != 0) && m.limit().is_none_or(|l| l == 0) {
            m.set_limit(Some(limit));
        }
    }
    r
}

fn from_flags(a: &Args) -> anyhow::Result<Value> {
    let mut v = json!({"memory": {}, "cpu": {}, "blockIO": {}, "pids": {}});
    let set = |v: &mut Value, section: &str, key: &str, val: Value| v[section][key] = val;
    if let Some(x) = &a.memory {
        set(&mut v, "memory", "limit", bytes("memory", x)?.into());
    }
    if let Some(x) = &a.memory_reservation {
        set(
            &mut v,
            "memory",
            "reservation",
            bytes("memory-reservation", x)?.into(),
        );
    }
    if let Some(x) = &a.memory_swap {
        set(&mut v, "memory", "swap", bytes("memory-swap", x)?.into());
    }
    if let Some(x) = a.cpu_period {
        set(&mut v, "cpu", "period", x.into());
    }
    if let Some(x) = a.cpu_quota {
        set(&mut v, "cpu", "quota", x.into());
    }
    if let Some(x) = a.cpu_burst {
        set(&mut v, "cpu", "burst", x.into());
    }
    if let Some(x) = a.cpu_share {
        set(&mut v, "cpu", "shares", x.into());
    }
    if let Some(x) = a.cpu_rt_period {
        set(&mut v, "cpu", "realtimePeriod", x.into());
    }
    if let Some(x) = a.cpu_rt_runtime {
        set(&mut v, "cpu", "realtimeRuntime", x.into());
    }
    if let Some(x) = &a.cpuset_cpus {
        set(&mut v, "cpu", "cpus", x.clone().into());
    }
    if let Some(x) = &a.cpuset_mems {
        set(&mut v, "cpu", "mems", x.clone().into());
    }
    if let Some(x) = a.cpu_idle {
        set(&mut v, "cpu", "idle", x.into());
    }
    if let Some(x) = a.blkio_weight {
        set(&mut v, "blockIO", "weight", x.into());
    }
    match a.pids_limit {
        Some(x) => set(&mut v, "pids", "limit", x.into()),
        None => {
            v.as_object_mut().expect("object").remove("pids");
        }
    }
    Ok(v)
}

/// Deep-merges `new` into `base`; zero numbers in `new` leave `base` as it was.
fn merge(base: &mut Value, new: Value) {
    match (base, new) {
        (Value::Object(b), Value::Object(n)) => {
            for (k, v) in n {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (_, Value::Number(n)) if n.as_f64() == Some(0.0) => {}
        (_, Value::Null) => {}
        (b, n) => *b = n,
    }
}
