//! `hull start`.

use super::Global;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let (dir, state) = super::open(g, &a.id)?;
    crate::container::start::start(&dir, &state)?;
    Ok(0)
}
