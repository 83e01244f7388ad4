//! `hull create`.

use std::path::PathBuf;

use crate::container::create::{self, Options};
use crate::process::fds::Passed;

use super::Global;

/// The flags `create` and `run` share, with runc's names and defaults.
#[derive(clap::Args, Debug, Clone)]
pub struct CreateFlags {
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long, value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master
    /// end of the console's pseudoterminal
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Path to an AF_UNIX socket which will receive a pidfd of the container's init
    #[arg(long, value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// Specify the file to write the process id to
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot root to jail process inside rootfs
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
}

impl CreateFlags {
    pub fn options(&self, g: &Global, id: &str, foreground: bool, fds: Passed) -> Options {
        Options {
            root: g.root(),
            id: id.to_string(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            pidfd_socket: self.pidfd_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            fds,
            foreground,
            cgroup_driver: g.cgroup_driver(),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// The container's id, unique on this host
    pub id: String,
}

pub fn run(g: &Global, a: Args, fds: crate::Result<Passed>) -> anyhow::Result<i32> {
    let fds = fds?;
    super::check_cgroup_driver(g)?;
    create::create(&a.flags.options(g, &a.id, false, fds))?;
    Ok(0)
}
