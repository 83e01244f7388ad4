//! Handing the notification listener to the seccomp agent (runtime-spec, "Seccomp
//! notify"): connect to `linux.seccomp.listenerPath` and send one message holding the
//! `containerProcessState` JSON, with the listener fd attached as SCM_RIGHTS.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use serde::Serialize;

use crate::{Context, Result};

/// The message the agent receives. `fds` names the attached descriptors in order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerProcessState<'a, S: Serialize> {
    pub oci_version: &'a str,
    pub fds: Vec<&'a str>,
    /// The process the filter was loaded in: init for create, the new process for exec.
    pub pid: i32,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub metadata: &'a str,
    /// The container's state, as `hull state` prints it.
    pub state: &'a S,
}

/// Send `listener` to the agent at `listener_path`. Called by the parent once init
/// (or the exec'd process) has passed it the listener.
pub fn send_listener<S: Serialize>(
    listener_path: &Path,
    metadata: Option<&str>,
    pid: i32,
    state: &S,
    listener: BorrowedFd<'_>,
) -> Result<()> {
    let what = || format!("seccomp agent at {}", listener_path.display());
    let msg = ContainerProcessState {
        oci_version: crate::OCI_VERSION,
        fds: vec!["seccompFd"],
        pid,
        metadata: metadata.unwrap_or_default(),
        state,
    };
    let body = serde_json::to_vec(&msg)
        .map_err(|e| crate::Error::Other(format!("encode containerProcessState: {e}")))?;
    let sock = UnixStream::connect(listener_path).with_ctx(|| format!("connect to {}", what()))?;
    let sent = crate::sys::socket::send_packet(sock.as_fd(), &body, Some(listener.as_raw_fd()))
        .with_ctx(|| format!("send the listener to {}", what()))?;
    // A stream socket may take less than the whole message in one go; the fd travels
    // with the first byte, the rest follows plainly.
    if sent < body.len() {
        use std::io::Write;
        (&sock)
            .write_all(&body[sent..])
            .with_ctx(|| format!("send containerProcessState to {}", what()))?;
    }
    Ok(())
}
