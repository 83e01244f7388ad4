//! `hull pause` and `hull resume`: freeze and thaw every process of a container.

use super::Global;
use crate::container::{cgroup, state, Status};

#[derive(clap::Args, Debug)]
pub struct Args {
    pub id: String,
}

pub fn pause(g: &Global, a: Args) -> anyhow::Result<i32> {
    let (dir, st) = super::open(g, &a.id)?;
    match state::status(&dir, &st) {
        Status::Running | Status::Created => {}
        Status::Paused => anyhow::bail!("container already paused"),
        _ => anyhow::bail!("container not running"),
    }
    let cg = cgroup::of(&st).ok_or_else(|| anyhow::anyhow!("container has no cgroup to freeze"))?;
    cgroup::call(cg.freeze())?;
    Ok(0)
}

pub fn resume(g: &Global, a: Args) -> anyhow::Result<i32> {
    let (dir, st) = super::open(g, &a.id)?;
    if state::status(&dir, &st) != Status::Paused {
        anyhow::bail!("container not paused");
    }
    let cg = cgroup::of(&st).ok_or_else(|| anyhow::anyhow!("container has no cgroup to thaw"))?;
    cgroup::call(cg.thaw())?;
    Ok(0)
}
