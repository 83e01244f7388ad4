//! sd_notify passthrough, as runc does it (podman's --sdnotify=container): the container
//! gets NOTIFY_SOCKET pointing at a socket in a directory of the runtime's, bind-mounted
//! read-only at /run/notify; `start` listens there and passes the container's READY=1 on to
//! the caller's NOTIFY_SOCKET before it returns.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Context, Error, Result};

const IN_CONTAINER_DIR: &str = "/run/notify";
const SOCKET: &str = "notify.sock";

/// The caller's notify socket, if it gave one.
pub fn from_env() -> Option<PathBuf> {
    std::env::var_os("NOTIFY_SOCKET")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

/// The directory, in the container's state directory, that holds the socket.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("notify")
}

/// The read-only bind of the socket's directory into the container, for the rootfs plan
/// (the directory is made with the state directory, after validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// The host directory: `notify` in the container's state directory.
    pub source: PathBuf,
    pub destination: &'static str,
    pub options: &'static [&'static str],
}

/// The bind the container's rootfs gets when the caller passed NOTIFY_SOCKET.
pub fn bind(state_dir: &Path) -> Bind {
    Bind {
        source: dir(state_dir),
        destination: IN_CONTAINER_DIR,
        options: &["bind", "nosuid", "noexec", "nodev", "ro"],
    }
}

/// The variable the container's process gets (after its own env, so it replaces a
/// NOTIFY_SOCKET of the config's).
pub fn container_env() -> String {
    format!("NOTIFY_SOCKET={IN_CONTAINER_DIR}/{SOCKET}")
}

/// Listens where the container will write (call before releasing it).
pub fn listen(state_dir: &Path) -> Result<UnixDatagram> {
    let path = dir(state_dir).join(SOCKET);
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).with_ctx(|| format!("bind {}", path.display()))?;
    // The container may run as any user.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .with_ctx(|| format!("chmod {}", path.display()))?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .ctx("notify socket timeout")?;
    Ok(sock)
}

/// Waits for READY=1 from the container (while `alive` holds) and passes it to `host`.
pub fn relay_ready(
    sock: &UnixDatagram,
    host: &Path,
    pid: i32,
    alive: impl Fn() -> bool,
) -> Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]);
                if msg.lines().any(|l| l.trim() == "READY=1") {
                    let out = UnixDatagram::unbound().ctx("notify socket")?;
                    out.send_to(format!("MAINPID={pid}\nREADY=1\n").as_bytes(), host)
                        .with_ctx(|| format!("send READY=1 to NOTIFY_SOCKET {}", host.display()))?;
                    return Ok(());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !alive() {
                    return Err(Error::Other(
                        "container exited before it notified READY=1".into(),
                    ));
                }
            }
            Err(e) => return Err(Error::os("receive on the notify socket", e)),
        }
    }
}
