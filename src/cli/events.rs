//! `hull events`: resource usage (`--stats` once, or every `--interval`) and OOM events.

use std::time::Duration;

use super::Global;
use crate::container::{cgroup, state, Status};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    /// Set the stats collection interval (e.g. 5s, 500ms)
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub interval: String,
    pub id: String,
}

fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("--interval {s:?}: not a duration"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => anyhow::bail!("--interval {s:?}: unknown unit"),
    };
    if secs <= 0.0 {
        anyhow::bail!("--interval {s:?}: must be greater than 0");
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let interval = parse_duration(&a.interval)?;
    let (dir, st) = super::open(g, &a.id)?;
    let cg = cgroup::of(&st).ok_or_else(|| anyhow::anyhow!("container has no cgroup"))?;
    let event = |typ: &str, data: serde_json::Value| {
        println!(
            "{}",
            serde_json::json!({"type": typ, "id": a.id, "data": data})
        );
    };
    if a.stats {
        event("stats", serde_json::to_value(cgroup::call(cg.stats())?)?);
        return Ok(0);
    }
    drop(dir);
    let mut ooms = cgroup::call(cg.stats())?.memory.oom_kill;
    let mut last_stats = std::time::Instant::now() - interval;
    loop {
        let stats = cgroup::call(cg.stats())?;
        if stats.memory.oom_kill > ooms {
            ooms = stats.memory.oom_kill;
            event("oom", serde_json::Value::Null);
        }
        if last_stats.elapsed() >= interval {
            event("stats", serde_json::to_value(&stats)?);
            last_stats = std::time::Instant::now();
        }
        let (dir, st) = super::open(g, &a.id)?;
        if state::status(&dir, &st) == Status::Stopped {
            return Ok(0);
        }
        drop(dir);
        std::thread::sleep(Duration::from_millis(100).min(interval));
    }
}
