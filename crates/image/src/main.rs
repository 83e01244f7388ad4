//! hull-image: OCI image to bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use hull_image::image::Platform;
use hull_image::layer::Limits;
use hull_image::owner::{IdMap, Owners};
use hull_image::reference::Reference;
use hull_image::{spec, store, unpack};

#[derive(Parser)]
#[command(
    name = "hull-image",
    version,
    about = "Turns OCI images into runtime bundles"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Unpack IMAGE into the bundle directory BUNDLE (rootfs + config.json).
    ///
    /// IMAGE is oci:DIR[:TAG|@DIGEST], oci-archive:TAR[:TAG] or docker-archive:TAR[:REPO:TAG].
    Unpack {
        image: String,
        bundle: PathBuf,
        /// Mount the rootfs as overlayfs over layers kept in the store, instead of copying.
        #[arg(long)]
        overlay: bool,
        /// Layer store for --overlay.
        #[arg(long, default_value_os_t = default_store())]
        store: PathBuf,
        /// os/arch[/variant] to pick from a multi-platform image (default: this host).
        #[arg(long)]
        platform: Option<String>,
        /// Unpack without root: owners go to the user.rootlesscontainers xattr, device
        /// nodes are skipped. The default when not run as root.
        #[arg(long)]
        rootless: bool,
        /// CONTAINER:HOST:SIZE: map file owners, and give the container a user namespace.
        #[arg(long = "uid-map")]
        uid_map: Vec<String>,
        /// CONTAINER:HOST:SIZE, for groups.
        #[arg(long = "gid-map")]
        gid_map: Vec<String>,
        /// Give the container a terminal (process.terminal).
        #[arg(long)]
        tty: bool,
        /// Most uncompressed bytes the image may hold.
        #[arg(long, default_value_t = Limits::default().max_bytes)]
        max_size: u64,
        /// Most tar entries the image may hold.
        #[arg(long, default_value_t = Limits::default().max_entries)]
        max_entries: u64,
        /// No progress bar, even on a terminal.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Unmount an --overlay bundle's rootfs and release its layers (its changes stay).
    Umount { bundle: PathBuf },
    /// Remove layers that no mounted bundle uses.
    Gc {
        #[arg(long, default_value_os_t = default_store())]
        store: PathBuf,
    },
}

fn default_store() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/hull-image");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("hull-image")
}

fn maps(list: &[String]) -> anyhow::Result<Vec<IdMap>> {
    Ok(list
        .iter()
        .map(|m| IdMap::parse(m))
        .collect::<Result<_, _>>()?)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Unpack {
            image,
            bundle,
            overlay,
            store,
            platform,
            rootless,
            uid_map,
            gid_map,
            tty,
            max_size,
            max_entries,
            quiet,
        } => {
            let reference = Reference::parse(&image)?;
            let rootless = rootless || !rustix::process::geteuid().is_root();
            let owners = Owners {
                uid_map: maps(&uid_map)?,
                gid_map: maps(&gid_map)?,
                rootless,
            };
            let opts = unpack::Options {
                platform: match platform {
                    Some(p) => Platform::parse(&p)?,
                    None => Platform::host(),
                },
                store: overlay.then_some(store),
                spec: spec::Options {
                    terminal: tty,
                    rootless,
                    uid_map: owners.uid_map.clone(),
                    gid_map: owners.gid_map.clone(),
                },
                owners,
                limits: Limits {
                    max_bytes: max_size,
                    max_entries,
                },
                progress: !quiet,
            };
            let report = unpack::unpack(&reference, &bundle, &opts)?;
            for w in &report.warnings {
                eprintln!("hull-image: warning: {w}");
            }
            Ok(())
        }
        Command::Umount { bundle } => Ok(store::umount(&bundle)?),
        Command::Gc { store } => {
            let report = store::gc(&store)?;
            for layer in &report.removed_layers {
                println!("removed {layer}");
            }
            eprintln!(
                "hull-image: gc: removed {} layers, kept {}, dropped {} stale bundle records",
                report.removed_layers.len(),
                report.kept_layers,
                report.stale_records
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hull-image: {e:#}");
            ExitCode::FAILURE
        }
    }
}
