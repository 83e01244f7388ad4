//! `hull checkpoint` (and the CRIU flags `restore` shares), with runc's flags.

use std::path::PathBuf;

use super::Global;
use crate::container::checkpoint::{self, CriuFlags, Options};

/// The CRIU flags of both `checkpoint` and `restore`.
#[derive(clap::Args, Debug, Clone)]
pub struct CriuArgs {
    /// Path for the criu image files (default: ./checkpoint)
    #[arg(long, value_name = "PATH")]
    pub image_path: Option<PathBuf>,
    /// Path for criu's work files and logs (default: the image path)
    #[arg(long, value_name = "PATH")]
    pub work_path: Option<PathBuf>,
    /// Allow open tcp connections
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks, for safety
    #[arg(long)]
    pub file_locks: bool,
    /// Cgroups mode: soft (default), full, strict or ignore
    #[arg(long, value_name = "MODE")]
    pub manage_cgroups_mode: Option<String>,
    /// Create a namespace, but don't restore its properties (only "network")
    #[arg(long, value_name = "NS")]
    pub empty_ns: Vec<String>,
    /// Enable auto deduplication of memory images
    #[arg(long)]
    pub auto_dedup: bool,
    /// Use userfaultfd to lazily restore memory pages (not supported)
    #[arg(long)]
    pub lazy_pages: bool,
}

impl CriuArgs {
    pub fn flags(&self, g: &Global) -> anyhow::Result<CriuFlags> {
        if self.lazy_pages {
            anyhow::bail!(
                "--lazy-pages is not supported: hull does not drive criu's page server and lazy-pages daemon"
            );
        }
        let image_path = match &self.image_path {
            Some(p) => p.clone(),
            // runc's default: ./checkpoint.
            None => std::env::current_dir()?.join("checkpoint"),
        };
        Ok(CriuFlags {
            criu: g.criu.clone(),
            image_path,
            work_path: self.work_path.clone(),
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            manage_cgroups_mode: self.manage_cgroups_mode.clone(),
            empty_ns: self.empty_ns.clone(),
            auto_dedup: self.auto_dedup,
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Path of the previous criu image (a --pre-dump), relative to the image path
    #[arg(long, value_name = "PATH")]
    pub parent_path: Option<PathBuf>,
    /// Leave the process running after checkpointing
    #[arg(long)]
    pub leave_running: bool,
    /// Dump the container's memory only, and leave it running (for a later --parent-path)
    #[arg(long)]
    pub pre_dump: bool,
    /// ADDRESS:PORT of a criu page server (not supported)
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub page_server: Option<String>,
    /// The fd criu writes \0 to once lazy pages are ready (not supported)
    #[arg(long, value_name = "FD")]
    pub status_fd: Option<i32>,
    /// The container to checkpoint
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    if a.page_server.is_some() {
        anyhow::bail!("--page-server is not supported: hull does not drive criu's page server");
    }
    if a.status_fd.is_some_and(|fd| fd >= 0) {
        anyhow::bail!("--status-fd is only for --lazy-pages, which hull does not support");
    }
    let opts = Options {
        flags: a.criu.flags(g)?,
        parent_path: a.parent_path.clone(),
        leave_running: a.leave_running,
        pre_dump: a.pre_dump,
    };
    let (dir, state) = super::open(g, &a.id)?;
    checkpoint::checkpoint(dir, &state, &opts)?;
    Ok(0)
}
