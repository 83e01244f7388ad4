//! `hull delete [--force] ID`.

use super::Global;
use crate::container::state::Found;
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
    match Dir::find(&g.root(), &a.id) {
        Ok(Found::Container(dir, state)) => delete::delete(dir, &state, a.force)?,
        // A create killed right after it made the directory: nothing else exists.
        Ok(Found::Empty(dir)) => dir.remove()?,
        // Engines call `delete --force` on whatever may be left: nothing left is success.
        Err(Error::NotExist) if a.force => {}
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}
