//! `hull run`: create and start in one go; in the foreground, stay as the container's parent,
//! forward signals to it, and exit with its status.

use std::path::{Path, PathBuf};

use super::create::CreateFlags;
use super::Global;
use crate::container::{create, delete, start, Dir};
use crate::process::foreground;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
    /// Disable the use of the subreaper used to reap reparented processes
    #[arg(long)]
    pub no_subreaper: bool,
    /// The container's id; or a bundle path (holding a `/`), whose directory name becomes the id
    pub id: String,
}

pub fn run(
    g: &Global,
    a: Args,
    fds: crate::Result<crate::process::fds::Passed>,
) -> anyhow::Result<i32> {
    let fds = fds?;
    super::check_cgroup_driver(g)?;
    let (id, bundle) = id_and_bundle(&a)?;
    let mut flags = a.flags.clone();
    flags.bundle = bundle;
    let opts = flags.options(g, &id, !a.detach, fds);

    if a.detach {
        let created = create::create(&opts)?;
        if let Err(e) = start::start(&created.dir, &created.state) {
            let _ = delete::delete(created.dir, &created.state, true);
            return Err(e.into());
        }
        return Ok(0);
    }

    if !a.no_subreaper {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    }
    // Signals for the container queue up from here; init unblocks them for itself.
    let forwarded = foreground::block_signals()?;

    let created = create::create(&opts)?;
    let (state, pid) = (created.state.clone(), created.pid);
    let console = created.console;
    if let Err(e) = start::start(&created.dir, &created.state) {
        let _ = delete::delete(created.dir, &state, true);
        return Err(e.into());
    }
    // Release the lock: `state`, `kill` and `exec` must work while we wait.
    drop(created.dir);

    let status = match console {
        Some(master) => crate::io::relay::relay_and_wait(pid, &forwarded, master)?,
        None => foreground::wait_forwarding(pid, &forwarded)?,
    };
    foreground::unblock_signals(&forwarded)?;
    if !a.keep {
        if let Ok(dir) = Dir::open(&g.root(), &id) {
            delete::delete(dir, &state, true)?;
        }
    }
    Ok(status)
}

/// `hull run bundle/`: an argument holding a `/` cannot be an id; it names the bundle.
fn id_and_bundle(a: &Args) -> anyhow::Result<(String, PathBuf)> {
    if !a.id.contains('/') {
        return Ok((a.id.clone(), a.flags.bundle.clone()));
    }
    if a.flags.bundle != Path::new(".") {
        anyhow::bail!(
            "{}: a bundle path was given both as the id and with --bundle",
            a.id
        );
    }
    let bundle =
        std::fs::canonicalize(&a.id).map_err(|e| anyhow::anyhow!("bundle {}: {e}", a.id))?;
    let id = bundle
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("bundle {}: cannot make an id from its name", a.id))?
        .to_string();
    Ok((id, bundle))
}
