//! `hull restore`: a container from a `checkpoint` image; in the foreground, like `run`, hull
//! stays its parent, forwards signals, exits with its status and deletes it afterwards.

use std::path::PathBuf;

use super::checkpoint::CriuArgs;
use super::Global;
use crate::container::create;
use crate::container::restore::{self, Options};
use crate::container::{delete, Dir};
use crate::process::foreground;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long, value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master
    /// end of the console's pseudoterminal
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Disable the use of the subreaper used to reap reparented processes
    #[arg(long)]
    pub no_subreaper: bool,
    /// Accepted for runc's callers; criu makes the container's root itself
    #[arg(long)]
    pub no_pivot: bool,
    /// An LSM profile for the restored process, TYPE:NAME (not supported)
    #[arg(long, value_name = "TYPE:NAME")]
    pub lsm_profile: Option<String>,
    /// An LSM mount context for the restored mounts (not supported)
    #[arg(long, value_name = "CONTEXT")]
    pub lsm_mount_context: Option<String>,
    /// The id of the restored container, unique on this host
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    super::check_cgroup_driver(g)?;
    if a.lsm_profile.is_some() || a.lsm_mount_context.is_some() {
        anyhow::bail!(
            "--lsm-profile and --lsm-mount-context are not supported: hull restores the labels the image holds"
        );
    }
    let opts = Options {
        create: create::Options {
            root: g.root(),
            id: a.id.clone(),
            bundle: a.bundle.clone(),
            pid_file: a.pid_file.clone(),
            console_socket: a.console_socket.clone(),
            no_pivot: a.no_pivot,
            foreground: !a.detach,
            cgroup_driver: g.cgroup_driver(),
            ..Default::default()
        },
        flags: a.criu.flags(g)?,
    };
    if a.detach {
        restore::restore(&opts)?;
        return Ok(0);
    }

    if !a.no_subreaper {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    }
    // Signals for the container queue up from here (criu starts with a clean mask).
    let forwarded = foreground::block_signals()?;
    let restored = restore::restore(&opts)?;
    let (state, pid) = (restored.state.clone(), restored.pid);
    // Release the lock: `state`, `kill` and `exec` must work while we wait.
    drop(restored.dir);
    let status = match restored.console {
        Some(master) => crate::io::relay::relay_and_wait(pid, &forwarded, master)?,
        None => foreground::wait_forwarding(pid, &forwarded)?,
    };
    foreground::unblock_signals(&forwarded)?;
    if let Ok(dir) = Dir::open(&g.root(), &a.id) {
        delete::delete(dir, &state, true)?;
    }
    Ok(status)
}
