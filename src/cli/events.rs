//! `hull events`: resource usage (`--stats` once, or every `--interval`) and OOM events.

use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::Global;
use crate::container::{cgroup, kill};

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
    // runc's event shape: {"type","id","data"}, where an "oom" event has no data.
    let event = |typ: &str, data: Option<serde_json::Value>| {
        let mut e = serde_json::json!({"type": typ, "id": a.id});
        if let Some(d) = data {
            e["data"] = d;
        }
        super::outln!("{e}")
    };
    if a.stats {
        event(
            "stats",
            Some(serde_json::to_value(cgroup::call(cg.stats())?)?),
        )?;
        return Ok(0);
    }
    drop(dir);
    // Woken by whichever comes first: init's exit (its pidfd turns readable), an OOM (the
    // cgroup's notification fd), or the next stats tick. Without a notification fd the OOM
    // counter is sampled instead.
    let init = kill::open_init(&st)?;
    let mut watch = cgroup::call(cg.oom_watch())?;
    let mut ooms = cgroup::call(cg.stats())?.memory.oom_kill;
    // As runc's ticker: the first stats come one interval after the start.
    let mut next_stats = Instant::now() + interval;
    loop {
        if Instant::now() >= next_stats {
            event(
                "stats",
                Some(serde_json::to_value(cgroup::call(cg.stats())?)?),
            )?;
            next_stats = Instant::now() + interval;
        }
        let Some(init) = &init else {
            return Ok(0);
        };
        let mut wait = next_stats.saturating_duration_since(Instant::now());
        if watch.is_none() {
            wait = wait.min(Duration::from_millis(100));
        }
        let mut fds = vec![PollFd::new(&init, PollFlags::IN)];
        if let Some(w) = &watch {
            fds.push(PollFd::from_borrowed_fd(w.fd(), PollFlags::IN));
        }
        // Whole milliseconds, as poll(2) counts them.
        let timeout = Timespec::try_from(Duration::from_millis(
            wait.as_millis().min(i32::MAX as u128) as u64,
        ))
        .ok();
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => anyhow::bail!("poll: {e}"),
        }
        let ready = |fd: &PollFd| !fd.revents().is_empty();
        let exited = ready(&fds[0]);
        let oom_ready = fds.get(1).is_some_and(ready);
        drop(fds);
        if oom_ready {
            let taken = watch.as_mut().map(|w| w.take()).transpose();
            match cgroup::call(taken.map(Option::flatten))? {
                Some(n) => (0..n).try_for_each(|_| event("oom", None))?,
                None => watch = None,
            }
        } else if watch.is_none() {
            let now = cgroup::call(cg.stats())?.memory.oom_kill;
            if now > ooms {
                (ooms..now).try_for_each(|_| event("oom", None))?;
            }
            ooms = now;
        }
        if exited {
            return Ok(0);
        }
    }
}
