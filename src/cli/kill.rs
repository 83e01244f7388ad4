//! `hull kill [--all] ID [SIGNAL]`.

use super::Global;
use crate::container::kill;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Send the specified signal to all processes inside the container
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    /// A signal name (KILL, SIGKILL) or number; SIGTERM when not given
    #[arg(default_value = "SIGTERM", allow_hyphen_values = true)]
    pub signal: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let sig = kill::parse_signal(a.signal.trim_start_matches('-'))?;
    let (dir, state) = super::open(g, &a.id)?;
    kill::kill(&dir, &state, sig, a.all)?;
    Ok(0)
}
