//! hull-image: OCI image to bundle.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use hull_image::image::Platform;
use hull_image::layer::Limits;
use hull_image::owner::{IdMap, Owners};
use hull_image::reference::Reference;
use hull_image::registry::{self, Credentials};
use hull_image::{repack, show, spec, store, unpack};

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

/// How to reach a registry (docker:// references).
#[derive(clap::Args, Clone)]
struct RegistryArgs {
    /// Allow plain HTTP and do not verify TLS certificates (loopback registries get plain
    /// HTTP without it).
    #[arg(long)]
    insecure: bool,
    /// Directory of extra CA certificates (*.crt) for the registry; default
    /// /etc/containers/certs.d/HOST and /etc/docker/certs.d/HOST.
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// USER:PASSWORD for the registry (default: the credentials `podman login` or
    /// `docker login` stored).
    #[arg(long)]
    creds: Option<String>,
    /// The auth.json to read credentials from (default: $REGISTRY_AUTH_FILE, then
    /// podman's, then docker's config.json).
    #[arg(long)]
    authfile: Option<PathBuf>,
    /// Seconds to wait for a connection (and TLS handshake) to the registry.
    #[arg(long, value_name = "SECS", value_parser = parse_secs,
          default_value_t = registry::DEFAULT_CONNECT_TIMEOUT.as_secs_f64())]
    connect_timeout: f64,
    /// Seconds the registry may send nothing mid-answer before the connection counts as
    /// broken (then retried, or resumed for a layer).
    #[arg(long, value_name = "SECS", value_parser = parse_secs,
          default_value_t = registry::DEFAULT_READ_TIMEOUT.as_secs_f64())]
    read_timeout: f64,
    /// Times a failed GET (broken or stalled connection, 429, 5xx) is tried again, and a
    /// layer download resumed.
    #[arg(long, value_name = "N", default_value_t = registry::DEFAULT_RETRIES)]
    retries: u32,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86400.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds in (0, 86400]")),
    }
}

impl RegistryArgs {
    fn options(&self) -> anyhow::Result<registry::Options> {
        Ok(registry::Options {
            insecure: self.insecure,
            cert_dir: self.cert_dir.clone(),
            creds: self.creds.as_deref().map(Credentials::parse).transpose()?,
            auth_file: self.authfile.clone(),
            connect_timeout: std::time::Duration::from_secs_f64(self.connect_timeout),
            read_timeout: std::time::Duration::from_secs_f64(self.read_timeout),
            retries: self.retries,
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Unpack IMAGE into the bundle directory BUNDLE (rootfs + config.json).
    ///
    /// IMAGE is docker://[HOST/]REPO[:TAG|@DIGEST], oci:DIR[:TAG|@DIGEST],
    /// oci-archive:TAR[:TAG] or docker-archive:TAR[:REPO:TAG].
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
        /// Layers fetched at once from a registry. A local image is flattened with one
        /// thread decompressing ahead, and extracted into the store with at most one job
        /// per core.
        #[arg(long, default_value_t = unpack::DEFAULT_JOBS)]
        jobs: usize,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Fetch IMAGE's layers into the store (as --overlay would) without making a bundle.
    Pull {
        image: String,
        #[arg(long, default_value_os_t = default_store())]
        store: PathBuf,
        /// os/arch[/variant] to pick from a multi-platform image (default: this host).
        #[arg(long)]
        platform: Option<String>,
        /// Most uncompressed bytes the image may hold.
        #[arg(long, default_value_t = Limits::default().max_bytes)]
        max_size: u64,
        /// Most tar entries the image may hold.
        #[arg(long, default_value_t = Limits::default().max_entries)]
        max_entries: u64,
        #[arg(long, short)]
        quiet: bool,
        /// Layers fetched at once from a registry. A local image is flattened with one
        /// thread decompressing ahead, and extracted into the store with at most one job
        /// per core.
        #[arg(long, default_value_t = unpack::DEFAULT_JOBS)]
        jobs: usize,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Turn what a container changed in BUNDLE into a new layer, and a new image in an
    /// OCI layout (oci:DIR:TAG, created if missing).
    Repack {
        bundle: PathBuf,
        /// Where the new image goes: oci:DIR:TAG.
        #[arg(long)]
        image: String,
        /// The history entry's created_by.
        #[arg(long)]
        history: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Show an image's manifest, config and layers.
    Inspect {
        image: String,
        #[arg(long)]
        platform: Option<String>,
        /// Everything, as JSON (the manifest and config as they are).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// List the store's images, layers (with what uses them) and bundles.
    Ls {
        #[arg(long, default_value_os_t = default_store())]
        store: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Forget an image pulled into the store (its layers go at the next gc).
    Rmi {
        image: String,
        #[arg(long, default_value_os_t = default_store())]
        store: PathBuf,
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

fn parse_platform(p: Option<String>) -> anyhow::Result<Platform> {
    Ok(match p {
        Some(p) => Platform::parse(&p)?,
        None => Platform::host(),
    })
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
            jobs,
            registry,
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
                registry: registry.options()?,
                jobs,
            };
            let report = unpack::unpack(&reference, &bundle, &opts)?;
            for w in &report.warnings {
                eprintln!("hull-image: warning: {w}");
            }
            Ok(())
        }
        Command::Pull {
            image,
            store,
            platform,
            max_size,
            max_entries,
            quiet,
            jobs,
            registry,
        } => {
            let reference = Reference::parse(&image)?;
            let opts = unpack::Options {
                platform: parse_platform(platform)?,
                store: Some(store.clone()),
                owners: Owners {
                    rootless: !rustix::process::geteuid().is_root(),
                    ..Owners::default()
                },
                limits: Limits {
                    max_bytes: max_size,
                    max_entries,
                },
                progress: !quiet,
                registry: registry.options()?,
                jobs,
                ..unpack::Options::default()
            };
            let report = unpack::pull(&reference, &store, &opts)?;
            for w in &report.warnings {
                eprintln!("hull-image: warning: {w}");
            }
            eprintln!(
                "hull-image: pulled {}: {} layers extracted, {} already in the store",
                unpack::reference_name(&reference),
                report.layers_extracted,
                report.layers_reused
            );
            Ok(())
        }
        Command::Repack {
            bundle,
            image,
            history,
            registry,
        } => {
            let target = Reference::parse(&image)?;
            let opts = repack::Options {
                registry: registry.options()?,
                created_by: history,
            };
            let report = repack::repack(&bundle, &target, &opts)?;
            println!("{}", report.manifest);
            eprintln!(
                "hull-image: repack: layer {} ({} entries), image {image}",
                report.layer, report.entries
            );
            Ok(())
        }
        Command::Inspect {
            image,
            platform,
            json,
            registry,
        } => {
            let reference = Reference::parse(&image)?;
            let v =
                show::inspect_json(&reference, &parse_platform(platform)?, &registry.options()?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", show::inspect_text(&v));
            }
            Ok(())
        }
        Command::Ls { store, json } => {
            let v = show::ls_json(&store)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", show::ls_text(&v));
            }
            Ok(())
        }
        Command::Rmi { image, store } => {
            let name = unpack::reference_name(&Reference::parse(&image)?);
            let store = store::Store::open(&store, false)?;
            if !store.remove_image(&name)? {
                anyhow::bail!("no image {name} in {}", store.root().display());
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
