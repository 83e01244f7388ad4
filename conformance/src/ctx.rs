//! What a case works with: the runtime under test behind a private `--root`, a scratch
//! directory for bundles, and cleanup of everything the case made when it ends, pass or fail
//! (containers force-deleted, helper processes killed, cgroups removed, directories removed).

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use crate::bundle::Bundle;

/// The runtime under test and what every case needs to know about the run.
pub struct Target {
    pub bin: PathBuf,
    pub probe: PathBuf,
    pub oci_version: String,
    /// A scratch directory for this run; each case gets its own directories below it.
    pub base: PathBuf,
}

/// A finished command: exit code (None when killed or timed out) and both streams.
pub struct Out {
    pub code: Option<i32>,
    /// The signal that ended the command, if one did.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The exit code and stderr, for failure messages.
    pub fn describe(&self) -> String {
        let status = match (self.code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            (None, None) => "no exit status".to_string(),
        };
        format!(
            "{status}, stderr: {}",
            self.stderr.trim().chars().take(600).collect::<String>()
        )
    }
}

const RUNTIME_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Ctx<'a> {
    pub t: &'a Target,
    /// Scratch directory of this case (bundles, files the case inspects).
    pub dir: PathBuf,
    /// The `--root` given to the runtime.
    pub root: PathBuf,
    case: usize,
    n: usize,
    ids: Vec<String>,
    helpers: Vec<Child>,
    cgroups: Vec<String>,
    host_mounts: Vec<PathBuf>,
}

impl<'a> Ctx<'a> {
    pub fn new(t: &'a Target, case: usize) -> Result<Ctx<'a>> {
        // The names match hull's leak check (`hull-(bundle|root)` in mountinfo).
        let dir = t.base.join(format!("hull-bundle-c{case}"));
        let root = t.base.join(format!("hull-root-c{case}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::create_dir_all(&root)?;
        Ok(Ctx {
            t,
            dir,
            root,
            case,
            n: 0,
            ids: Vec::new(),
            helpers: Vec::new(),
            cgroups: Vec::new(),
            host_mounts: Vec::new(),
        })
    }

    fn next(&mut self) -> usize {
        self.n += 1;
        self.n
    }

    /// A container id unique to this run and case; it is force-deleted when the case ends.
    pub fn id(&mut self) -> String {
        let n = self.next();
        let id = format!("conf{}-{}-{n}", std::process::id(), self.case);
        self.ids.push(id.clone());
        id
    }

    /// A relative cgroupsPath unique to this run; removed (if left) when the case ends.
    pub fn cgroups_path(&mut self) -> String {
        let n = self.next();
        let p = format!("hull-conf-{}-{}-{n}", std::process::id(), self.case);
        self.cgroups.push(p.clone());
        p
    }

    /// A fresh bundle running `args`.
    pub fn bundle(&mut self, args: &[&str]) -> Result<Bundle> {
        let n = self.next();
        let dir = self.dir.join(format!("b{n}"));
        Bundle::new(&dir, args, &self.t.oci_version, &self.t.probe)
    }

    /// A fresh bundle running the probe with `args`.
    pub fn probe_bundle(&mut self, args: &[&str]) -> Result<Bundle> {
        let mut all = vec!["/probe"];
        all.extend_from_slice(args);
        self.bundle(&all)
    }

    /// A fresh bundle running a shell script.
    pub fn sh_bundle(&mut self, script: &str) -> Result<Bundle> {
        self.bundle(&["/bin/sh", "-c", script])
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs `cmd` with stdin closed and both streams captured through files (a container
    /// left behind keeps the runtime's stdio open, so pipes would never reach EOF).
    pub fn exec(&mut self, mut cmd: Command, timeout: Duration) -> Out {
        let n = self.next();
        let out_path = self.dir.join(format!("io{n}.out"));
        let err_path = self.dir.join(format!("io{n}.err"));
        let files = (
            std::fs::File::create(&out_path),
            std::fs::File::create(&err_path),
        );
        let (Ok(out_file), Ok(err_file)) = files else {
            return Out {
                code: None,
                signal: None,
                stdout: String::new(),
                stderr: "cannot create output files".into(),
            };
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out_file))
            .stderr(Stdio::from(err_file));
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Out {
                    code: None,
                    signal: None,
                    stdout: String::new(),
                    stderr: format!("spawn: {e}"),
                }
            }
        };
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let (code, signal) = loop {
            match child.try_wait() {
                Ok(Some(st)) => break (st.code(), st.signal()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    timed_out = true;
                    break (None, None);
                }
            }
        };
        let mut stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        if timed_out {
            stderr.push_str(&format!("\n(timed out after {timeout:?})"));
        }
        Out {
            code,
            signal,
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr,
        }
    }

    /// A command for the runtime with this case's `--root`.
    pub fn rt_command(&self) -> Command {
        let mut c = Command::new(&self.t.bin);
        c.arg("--root").arg(&self.root);
        c
    }

    /// Runs the runtime with `args`.
    pub fn rt(&mut self, args: &[&str]) -> Out {
        let mut c = self.rt_command();
        c.args(args);
        self.exec(c, RUNTIME_TIMEOUT)
    }

    /// Runs the runtime through `sh -c SCRIPT` where SCRIPT ends by exec'ing it with `args`
    /// (used to hand the runtime extra file descriptors, e.g. `exec 3</etc/hostname`).
    pub fn rt_via_shell(&mut self, prelude: &str, args: &[&str]) -> Out {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg(format!("{prelude}; exec \"$@\""))
            .arg("sh")
            .arg(&self.t.bin)
            .arg("--root")
            .arg(&self.root)
            .args(args);
        self.exec(c, RUNTIME_TIMEOUT)
    }

    pub fn create(&mut self, id: &str, b: &Bundle) -> Out {
        self.rt(&["create", "--bundle", b.path(), id])
    }

    pub fn start(&mut self, id: &str) -> Out {
        self.rt(&["start", id])
    }

    pub fn kill(&mut self, id: &str, sig: &str) -> Out {
        self.rt(&["kill", id, sig])
    }

    pub fn delete(&mut self, id: &str) -> Out {
        self.rt(&["delete", id])
    }

    /// `run` in the foreground: returns when the container's process exits.
    pub fn run(&mut self, id: &str, b: &Bundle) -> Out {
        self.rt(&["run", "--bundle", b.path(), id])
    }

    /// `state ID` parsed, or None when the runtime reports an error.
    pub fn state(&mut self, id: &str) -> Option<Value> {
        let out = self.rt(&["state", id]);
        if !out.ok() {
            return None;
        }
        serde_json::from_str(&out.stdout).ok()
    }

    pub fn status(&mut self, id: &str) -> Option<String> {
        self.state(id)
            .and_then(|s| s["status"].as_str().map(String::from))
    }

    /// Waits up to 10 s for the container to reach `status`.
    pub fn wait_status(&mut self, id: &str, status: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.status(id).as_deref() == Some(status) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Creates the container, failing with the runtime's words if it refuses.
    pub fn must_create(&mut self, id: &str, b: &Bundle) -> Result<()> {
        let out = self.create(id, b);
        if !out.ok() {
            bail!("create failed: {}", out.describe());
        }
        Ok(())
    }

    /// The init pid of a created or running container, from `state`.
    pub fn pid(&mut self, id: &str) -> Result<i64> {
        let st = self.state(id).ok_or_else(|| anyhow!("state {id} failed"))?;
        st["pid"]
            .as_i64()
            .filter(|p| *p > 0)
            .ok_or_else(|| anyhow!("state has no pid: {st}"))
    }

    /// Runs the bundle in the foreground and parses the probe's JSON report from stdout.
    pub fn probe(&mut self, b: &Bundle) -> Result<Value> {
        let id = self.id();
        let out = self.run(&id, b);
        if !out.ok() {
            bail!("run failed: {}", out.describe());
        }
        parse_report(&out.stdout)
    }

    /// Runs the bundle in the foreground; fails unless it exits 0. Returns stdout.
    pub fn run_ok(&mut self, b: &Bundle) -> Result<String> {
        let id = self.id();
        let out = self.run(&id, b);
        if !out.ok() {
            bail!("run failed: {}\nstdout: {}", out.describe(), out.stdout);
        }
        Ok(out.stdout)
    }

    /// Starts a helper process on the host (killed when the case ends); returns its pid.
    pub fn helper(&mut self, program: &str, args: &[&str]) -> Result<u32> {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let pid = child.id();
        self.helpers.push(child);
        Ok(pid)
    }

    /// Makes this case's scratch directory a shared mount on the host (a bind mount onto
    /// itself), so propagation from the host to containers can be observed. Unmounted when
    /// the case ends.
    pub fn share_scratch(&mut self) -> Result<()> {
        let dir = self.dir.clone();
        let d = dir.to_str().unwrap_or_default();
        for args in [vec!["--bind", d, d], vec!["--make-shared", d]] {
            let st = Command::new("mount").args(&args).status()?;
            if !st.success() {
                bail!("mount {args:?} failed");
            }
            if args[0] == "--bind" {
                self.host_mounts.push(dir.clone());
            }
        }
        Ok(())
    }

    fn cleanup_cgroups(&self) {
        let mut hierarchies: Vec<(String, PathBuf)> = crate::host::v1_mounts();
        if let Some(v2) = crate::host::v2_mount() {
            hierarchies.push((String::new(), v2));
        }
        for name in &self.cgroups {
            for (controller, mount) in &hierarchies {
                let own = crate::host::own_cgroup(controller);
                for parent in [own.as_str(), "/"] {
                    let dir = mount.join(parent.trim_start_matches('/')).join(name);
                    // rmdir only removes an empty cgroup: never one with processes in it.
                    let _ = std::fs::remove_dir(&dir);
                }
            }
        }
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        for id in std::mem::take(&mut self.ids) {
            let mut c = self.rt_command();
            c.args(["delete", "--force", &id]);
            let _ = self.exec(c, Duration::from_secs(10));
        }
        for mut h in std::mem::take(&mut self.helpers) {
            let _ = h.kill();
            let _ = h.wait();
        }
        self.cleanup_cgroups();
        for m in std::mem::take(&mut self.host_mounts).iter().rev() {
            // A runtime may have propagated mounts back into it: detach lazily then.
            let ok = Command::new("umount")
                .arg(m)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(m).status();
            }
        }
        // Never recurse into a directory something is still mounted under: that would
        // delete through the mount. Leave it and say so.
        for d in [&self.dir, &self.root] {
            if mounted_under(d) {
                println!(
                    "# left {} in place: something is mounted under it",
                    d.display()
                );
            } else {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

/// Whether any mount point of this mount namespace lies under `dir`.
pub fn mounted_under(dir: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.display().to_string();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|target| target.starts_with(&prefix))
}

/// The probe's report: the last stdout line that parses as a JSON object.
pub fn parse_report(stdout: &str) -> Result<Value> {
    stdout
        .lines()
        .rev()
        .find_map(|l| {
            l.trim_start()
                .starts_with('{')
                .then(|| serde_json::from_str(l).ok())
                .flatten()
        })
        .ok_or_else(|| anyhow!("no probe report in stdout: {stdout}"))
}
