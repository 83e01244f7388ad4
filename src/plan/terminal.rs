//! The container's terminal, by runc's rules (the same for create, run and exec): who gets
//! the master of the pty a process with `terminal` set gets.

use std::path::Path;

use crate::{Context, Error, Result};

/// Who gets the master of the container's terminal.
pub enum Terminal {
    /// A connected `--console-socket`.
    Socket(std::os::unix::net::UnixStream),
    /// The runtime itself, over the channel (foreground `run` relays it).
    Runtime,
}

/// A detached terminal needs a socket to send the pty to, and a socket is only for a
/// terminal. The socket is connected here, in the runtime's namespaces.
pub fn terminal(
    terminal: bool,
    console_socket: Option<&Path>,
    detached: bool,
) -> Result<Option<Terminal>> {
    match (terminal, console_socket) {
        (true, None) if detached => Err(Error::invalid(
            "cannot allocate tty if runc will detach without setting console socket",
        )),
        (false, Some(_)) => Err(Error::invalid(
            "cannot use console socket if runc will not detach or allocate tty",
        )),
        (true, Some(path)) => connect_console(path).map(|s| Some(Terminal::Socket(s))),
        (true, None) => Ok(Some(Terminal::Runtime)),
        (false, None) => Ok(None),
    }
}

pub fn connect_console(path: &Path) -> Result<std::os::unix::net::UnixStream> {
    let sock = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| Error::invalid(format!("--console-socket {}: {e}", path.display())))?;
    // A receiver that never reads must not hang create or exec.
    sock.set_write_timeout(Some(std::time::Duration::from_secs(10)))
        .with_ctx(|| format!("--console-socket {}", path.display()))?;
    Ok(sock)
}
