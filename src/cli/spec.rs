//! `hull spec`: write a starting config.json, as `runc spec` does.

use std::path::PathBuf;

use super::Global;
use crate::spec::{DEFAULT_SPEC, ROOTLESS_SPEC};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

pub fn run(_g: &Global, a: Args) -> anyhow::Result<i32> {
    let dir = a.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        anyhow::bail!("File {} exists. Remove it first", path.display());
    }
    let text = if a.rootless {
        // Map root in the container to the calling user, as runc does.
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        let mut v: serde_json::Value = serde_json::from_str(ROOTLESS_SPEC)?;
        v["linux"]["uidMappings"][0]["hostID"] = uid.into();
        v["linux"]["gidMappings"][0]["hostID"] = gid.into();
        serde_json::to_string_pretty(&v)?
    } else {
        DEFAULT_SPEC.to_string()
    };
    std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
    Ok(0)
}
