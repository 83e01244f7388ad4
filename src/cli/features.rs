//! `hull features`: what this build supports, per the runtime-spec features document.

use super::Global;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_g: &Global, _a: Args) -> anyhow::Result<i32> {
    super::outln!(
        "{}",
        serde_json::to_string_pretty(&crate::features::document())?
    )?;
    Ok(0)
}
