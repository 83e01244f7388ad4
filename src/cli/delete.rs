//! `hull delete [--force] ID`.

use super::Global;
use crate::container::{delete, Dir};
use crate::Error;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Forcibly delete the container if it is still running (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let dir = match Dir::open(&g.root(), &a.id) {
        // Engines call `delete --force` on whatever may be left: nothing left is success.
        Err(Error::NotExist) if a.force => return Ok(0),
        other => other?,
    };
    let state = dir.load()?;
    delete::delete(dir, &state, a.force)?;
    Ok(0)
}
