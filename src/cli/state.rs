//! `hull state`: the runtime-spec state of a container, as runc prints it.

use super::Global;
use crate::container::state;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let (dir, st) = crate::container::Dir::observe(&g.root(), &a.id)?;
    let status = state::status(&dir, &st);
    super::outln!("{}", serde_json::to_string_pretty(&st.public(status))?)?;
    Ok(0)
}
