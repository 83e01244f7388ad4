//! CRIU (Checkpoint/Restore In Userspace), driven the way runc and podman drive it: over its
//! RPC protocol. `criu swrk FD` serves one request on a SOCK_SEQPACKET socketpair whose other
//! end hull keeps; the request is a protobuf `criu_req` (`rpc`), the answers are `criu_resp`
//! messages: notifications while CRIU works (the points where runc runs hooks, the restored
//! init's pid, a pty master), each acknowledged, then the result.
//!
//! Why RPC and not the command line: directories travel as fds of the requesting process
//! (CRIU opens them through /proc/PID/fd), the restored init becomes hull's child
//! (`rst_sibling`), hull can put CRIU into the container's cgroup before the restore starts,
//! and the notifications let hull run hooks and learn the pid without parsing output.

pub mod rpc;

use std::io::BufRead;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use prost::Message;

use crate::{Context, Error, Result};

/// The criu binary to run: `--criu`, or `criu` from PATH.
#[derive(Debug, Clone)]
pub struct Criu {
    pub path: String,
}

impl Criu {
    pub fn new(path: Option<&str>) -> Criu {
        Criu {
            path: path.unwrap_or("criu").to_string(),
        }
    }

    /// Whether checkpoint and restore can work on this host: the binary runs and `criu check`
    /// (which probes the kernel for what CRIU needs) passes. The error says why not.
    pub fn check(&self) -> std::result::Result<(), String> {
        let out = Command::new(&self.path)
            .arg("check")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.path))?;
        if out.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        let why: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("Error") || l.contains("error"))
            .take(3)
            .collect();
        let why = if why.is_empty() {
            text.lines().last().unwrap_or("").to_string()
        } else {
            why.join("; ")
        };
        Err(format!(
            "`{} check` failed ({}): {why}",
            self.path, out.status
        ))
    }

    /// Starts `criu swrk` with `inherit` open in it at the same numbers (namespace files it
    /// is told about by fd). `stdio`: hull's stdio become criu's (a restore hands them to the
    /// restored container); otherwise /dev/null (criu logs to its file).
    pub fn start(&self, inherit: &[BorrowedFd], stdio: bool) -> Result<Session> {
        use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
        let (ours, theirs) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .ctx("socketpair for criu")?;
        // Everything hull opens is close-on-exec; these few must reach criu. (hull runs one
        // thread here, so no other child can inherit them meanwhile.)
        let passed: Vec<BorrowedFd> = std::iter::once(theirs.as_fd())
            .chain(inherit.iter().copied())
            .collect();
        for fd in &passed {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).ctx("pass an fd to criu")?;
        }
        let io = || {
            if stdio {
                Stdio::inherit()
            } else {
                Stdio::null()
            }
        };
        let spawned = Command::new(&self.path)
            .arg("swrk")
            .arg(theirs.as_raw_fd().to_string())
            .stdin(io())
            .stdout(io())
            .stderr(io())
            .spawn();
        for fd in &passed {
            let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
        }
        let child = spawned.map_err(|e| {
            Error::Other(format!(
                "cannot run {} (checkpoint/restore needs criu): {e}",
                self.path
            ))
        })?;
        // Only criu holds the other end now: if it dies, our reads see the end.
        drop(theirs);
        Ok(Session {
            child: Some(child),
            sock: ours,
        })
    }
}

/// One running `criu swrk`.
pub struct Session {
    child: Option<Child>,
    sock: OwnedFd,
}

/// A notification from CRIU: the script point it stands for (`setup-namespaces`,
/// `post-restore`, `orphan-pts-master`...), a pid where it has one, an fd where one came.
pub struct Notice {
    pub script: String,
    pub pid: Option<i32>,
    pub fd: Option<OwnedFd>,
}

impl Session {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Sends `req`, answers CRIU's notifications with `on_notice` (an error there fails the
    /// request, and CRIU rolls back), and returns the final response once criu has exited.
    pub fn request(
        mut self,
        req: &rpc::Req,
        mut on_notice: impl FnMut(Notice) -> Result<()>,
    ) -> Result<rpc::Resp> {
        let kind = req_name(req.r#type);
        self.send(req)?;
        let mut buf = vec![0u8; 128 * 1024];
        let resp = loop {
            let (n, fd) = crate::sys::socket::recv_packet(self.sock.as_fd(), &mut buf)
                .ctx("read criu's answer")?;
            if n == 0 {
                let status = self.wait()?;
                return Err(Error::Other(format!(
                    "criu {kind}: criu exited without an answer ({status})"
                )));
            }
            if n == buf.len() {
                return Err(Error::Other(format!(
                    "criu {kind}: an answer larger than {n} bytes"
                )));
            }
            let resp = rpc::Resp::decode(&buf[..n])
                .map_err(|e| Error::Other(format!("criu {kind}: bad answer: {e}")))?;
            if !resp.success {
                let _ = self.wait();
                return Err(Error::Other(failure(kind, &resp)));
            }
            if resp.r#type != rpc::ReqType::Notify as i32 {
                break resp;
            }
            let notify = resp.notify.unwrap_or_default();
            let notice = Notice {
                script: notify.script.unwrap_or_default(),
                pid: notify.pid,
                fd,
            };
            let script = notice.script.clone();
            let handled = on_notice(notice);
            self.send(&rpc::Req {
                r#type: rpc::ReqType::Notify as i32,
                notify_success: Some(handled.is_ok()),
                ..Default::default()
            })?;
            if let Err(e) = handled {
                let _ = self.wait();
                return Err(Error::Other(format!("criu {kind}, at {script}: {e}")));
            }
        };
        if resp.r#type != req.r#type {
            let _ = self.wait();
            return Err(Error::Other(format!(
                "criu {kind}: answered a {} request",
                req_name(resp.r#type)
            )));
        }
        // A pre-dump leaves criu waiting for the next request of a series; hull asks one at a
        // time, so closing our end is what ends it, and its exit status means nothing.
        let _ = rustix::net::shutdown(&self.sock, rustix::net::Shutdown::Write);
        let status = self.wait()?;
        if !status.success() && req.r#type != rpc::ReqType::PreDump as i32 {
            return Err(Error::Other(format!("criu {kind}: criu {status}")));
        }
        Ok(resp)
    }

    fn send(&self, req: &rpc::Req) -> Result<()> {
        crate::sys::socket::send_packet(self.sock.as_fd(), &req.encode_to_vec(), None)
            .ctx("send a request to criu")?;
        Ok(())
    }

    fn wait(&mut self) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().expect("waited once");
        child.wait().ctx("wait for criu")
    }
}

impl Drop for Session {
    /// A session given up early: closing our end makes criu stop (and roll back a restore);
    /// it is then reaped.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = rustix::net::shutdown(&self.sock, rustix::net::Shutdown::Both);
            let _ = child.wait();
        }
    }
}

fn req_name(t: i32) -> &'static str {
    match rpc::ReqType::try_from(t) {
        Ok(rpc::ReqType::Dump) => "dump",
        Ok(rpc::ReqType::PreDump) => "pre-dump",
        Ok(rpc::ReqType::Restore) => "restore",
        Ok(rpc::ReqType::FeatureCheck) => "feature check",
        Ok(rpc::ReqType::Version) => "version",
        Ok(rpc::ReqType::Notify) => "notify",
        _ => "request",
    }
}

fn failure(kind: &str, resp: &rpc::Resp) -> String {
    let mut msg = format!("criu {kind} failed");
    if let Some(m) = resp
        .cr_errmsg
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        msg.push_str(&format!(": {m}"));
    }
    if let Some(errno) = resp.cr_errno.filter(|e| *e != 0) {
        msg.push_str(&format!(" ({})", std::io::Error::from_raw_os_error(errno)));
    }
    msg
}

/// How CRIU should lock the container's network while it dumps. Its default, iptables, runs
/// iptables-restore and ip6tables-restore; where those are not installed that cannot work and
/// nftables (which CRIU does through libnftables, in-process) is asked for instead.
pub fn network_lock() -> Option<rpc::NetworkLock> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    let has = |name: &str| std::env::split_paths(&path).any(|d| d.join(name).exists());
    if has("iptables-restore") && has("ip6tables-restore") {
        None
    } else {
        Some(rpc::NetworkLock::Nftables)
    }
}

/// The lines of a CRIU log that say what went wrong (those with "Error", the last few), for
/// an error message; None when the log is missing or has none.
pub fn log_errors(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .map_while(|l| l.ok())
        .filter(|l| l.contains("Error"))
        .collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    (!tail.is_empty()).then(|| tail.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_is_a_clear_error() {
        let criu = Criu::new(Some("/nonexistent/criu"));
        let e = criu.check().unwrap_err();
        assert!(e.contains("cannot run /nonexistent/criu"), "{e}");
        let e = criu.start(&[], false).err().unwrap().to_string();
        assert!(e.contains("checkpoint/restore needs criu"), "{e}");
    }

    #[test]
    fn log_error_lines() {
        let dir = std::env::temp_dir().join(format!("hull-criu-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("dump.log");
        std::fs::write(
            &log,
            "(00.1) info\n(00.2) Error (criu/a.c:1): one\n(00.3) fine\n(00.4) Error (criu/b.c:2): two\n",
        )
        .unwrap();
        assert_eq!(
            log_errors(&log).as_deref(),
            Some("(00.2) Error (criu/a.c:1): one; (00.4) Error (criu/b.c:2): two")
        );
        std::fs::write(&log, "all fine\n").unwrap();
        assert_eq!(log_errors(&log), None);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(log_errors(&log), None);
    }
}
