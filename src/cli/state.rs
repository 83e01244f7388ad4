//! `hull state`: the runtime-spec state of a container, as runc prints it.

use super::Global;
use crate::container::state;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    // Read without the lock: a create or exec running on the container must not hold up
    // `state` (a create still running shows as "creating").
    let dir = crate::container::Dir::peek(&g.root(), &a.id)?;
    let st = dir.load()?;
    let status = state::status(&dir, &st);
    println!("{}", serde_json::to_string_pretty(&st.public(status))?);
    Ok(0)
}
