//! The process part of the plan: config.json's `process` (or exec's), checked once and turned
//! into what init and exec apply. One constructor, [`Process::new`], for both: create and
//! exec validate the same way, with exec's few exceptions named in [`ProcessOf`].

use std::collections::HashSet;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxCapabilities, LinuxIOPriority, PosixRlimitType, Scheduler};

use crate::{Error, Result};

/// Whose process is checked: the container's init (config.json) or an exec'd one (`exec
/// --process`, or config.json's with exec's flags applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessOf {
    Init,
    Exec,
}

/// A process, validated, resolved and typed.
#[derive(Debug, Clone)]
pub struct Process {
    pub args: Vec<String>,
    /// The environment: every entry KEY=VALUE, the last of a key given twice kept in its place,
    /// the runtime's additions (LISTEN_FDS) after the config's. HOME is added in the container
    /// when `home` is false (its value comes from the container's /etc/passwd).
    pub env: Vec<String>,
    /// Whether `env` has a non-empty HOME.
    pub home: bool,
    pub cwd: PathBuf,
    pub terminal: bool,
    pub console_size: Option<ConsoleSize>,
    pub user: User,
    /// Every set; a config without `capabilities` gets none at all (oci-spec's Default would
    /// bring a default set).
    pub capabilities: LinuxCapabilities,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
    /// Init only (the spec: an exec'd process's is not set, by runc 1.1.5 nor hull).
    pub oom_score_adj: Option<i32>,
    /// Empty strings are no label.
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
    /// Checked by `process::sched` (policy, nice, priority, deadline rules).
    pub scheduler: Option<Scheduler>,
    pub io_priority: Option<LinuxIOPriority>,
    pub cpu_affinity: CpuAffinity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleSize {
    pub rows: u16,
    pub cols: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// The config's, or 0022 as runc gives.
    pub umask: u32,
    pub additional_gids: Vec<u32>,
}

/// One rlimit: the kernel's resource number, the spec's name (for messages), the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub typ: PosixRlimitType,
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
}

/// process.execCPUAffinity (exec only): the CPU lists as written, checked, empty ones left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuAffinity {
    pub initial: Option<String>,
    pub last: Option<String>,
}

impl Process {
    /// Checks `p` and builds the plan of it. `mount_label`: linux.mountLabel, which the
    /// process's SELinux label is checked with (exec has none). `extra_env`: what the runtime
    /// adds to process.env (LISTEN_FDS).
    ///
    /// Exec leaves out only what runc's exec accepts (so no engine sees a refusal runc would
    /// not give): rlimits given twice (runc 1.1.5 sets them in order, the last wins, as hull
    /// does) and oomScoreAdj, which neither runc 1.1.5 nor hull sets for an exec'd process.
    pub fn new(
        p: &oci_spec::runtime::Process,
        of: ProcessOf,
        mount_label: Option<&str>,
        extra_env: &[String],
    ) -> Result<Process> {
        let args = p.args().clone().unwrap_or_default();
        if args.is_empty() {
            return Err(Error::invalid("process.args: must not be empty"));
        }
        if args[0].is_empty() {
            return Err(Error::invalid("process.args[0]: must not be empty"));
        }
        if !p.cwd().is_absolute() {
            return Err(Error::invalid(format!(
                "process.cwd {}: must be an absolute path",
                p.cwd().display()
            )));
        }
        let given_env = p.env().as_deref().unwrap_or_default();
        for (i, env) in given_env.iter().enumerate() {
            if !env.contains('=') {
                return Err(Error::invalid(format!(
                    "process.env[{i}] {env:?}: not in KEY=VALUE form"
                )));
            }
        }
        let rlimits = rlimits(p, of)?;
        crate::process::sched::check(p.scheduler().as_ref(), p.io_priority().as_ref())?;
        let oom_score_adj = p.oom_score_adj().filter(|_| of == ProcessOf::Init);
        if let Some(adj) = oom_score_adj {
            if !(-1000..=1000).contains(&adj) {
                return Err(Error::invalid(format!(
                    "process.oomScoreAdj {adj}: must be between -1000 and 1000"
                )));
            }
        }
        // Not applied to init (the spec: "not applicable to the container's init process"),
        // but `exec` without --process takes it from here.
        let cpu_affinity = cpu_affinity(p)?;
        let (apparmor_profile, selinux_label) = (
            p.apparmor_profile().clone().filter(|s| !s.is_empty()),
            p.selinux_label().clone().filter(|s| !s.is_empty()),
        );
        check_labels(
            p.apparmor_profile().as_deref(),
            p.selinux_label().as_deref(),
            mount_label,
        )?;
        let (env, home) = environment(given_env, extra_env)?;
        let user = p.user();
        Ok(Process {
            args,
            env,
            home,
            cwd: p.cwd().clone(),
            terminal: p.terminal().unwrap_or(false),
            console_size: p.console_size().map(|s| ConsoleSize {
                rows: s.height() as u16,
                cols: s.width() as u16,
            }),
            user: User {
                uid: user.uid(),
                gid: user.gid(),
                umask: user.umask().unwrap_or(0o022),
                additional_gids: user.additional_gids().clone().unwrap_or_default(),
            },
            capabilities: p.capabilities().clone().unwrap_or_else(no_capabilities),
            rlimits,
            no_new_privileges: p.no_new_privileges() == Some(true),
            oom_score_adj,
            apparmor_profile,
            selinux_label,
            scheduler: p.scheduler().clone(),
            io_priority: *p.io_priority(),
            cpu_affinity,
        })
    }
}

impl Process {
    /// Plans the environment again from `given` (the config's process.env, as the runtime
    /// changed it) and `extra`: for the NOTIFY_SOCKET entry create adds to the config.
    pub fn set_env(&mut self, given: &[String], extra: &[String]) -> Result<()> {
        (self.env, self.home) = environment(given, extra)?;
        Ok(())
    }
}

fn rlimits(p: &oci_spec::runtime::Process, of: ProcessOf) -> Result<Vec<Rlimit>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, r) in p
        .rlimits()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if !seen.insert(r.typ() as i32) && of == ProcessOf::Init {
            return Err(Error::invalid(format!(
                "process.rlimits[{i}]: {:?} given more than once",
                r.typ()
            )));
        }
        if r.soft() > r.hard() {
            return Err(Error::invalid(format!(
                "process.rlimits[{i}]: soft limit {} is above hard limit {}",
                r.soft(),
                r.hard()
            )));
        }
        out.push(Rlimit {
            typ: r.typ(),
            resource: r.typ() as i32,
            soft: r.soft(),
            hard: r.hard(),
        });
    }
    Ok(out)
}

fn cpu_affinity(p: &oci_spec::runtime::Process) -> Result<CpuAffinity> {
    let Some(aff) = p.exec_cpu_affinity() else {
        return Ok(CpuAffinity::default());
    };
    let checked = |field: &str, list: &Option<String>| -> Result<Option<String>> {
        let Some(list) = list.clone().filter(|l| !l.is_empty()) else {
            return Ok(None);
        };
        crate::process::affinity::parse(&list)
            .map_err(|e| Error::invalid(format!("process.execCPUAffinity.{field} {e}")))?;
        Ok(Some(list))
    };
    Ok(CpuAffinity {
        initial: checked("initial", aff.initial())?,
        last: checked("final", aff.cpu_affinity_final())?,
    })
}

/// The LSM labels of a process, checked against what the host has (before anything exists).
fn check_labels(
    apparmor_profile: Option<&str>,
    selinux_label: Option<&str>,
    mount_label: Option<&str>,
) -> Result<()> {
    let labels = crate::security::lsm::Labels {
        apparmor_profile,
        selinux_label,
        mount_label,
    };
    crate::security::lsm::check(&labels, crate::security::lsm::Host::detect())
}

/// The process's environment, as runc 1.4 prepares it: every entry KEY=VALUE with a name, no
/// NUL; for a key given more than once the last one wins (in its place); an empty HOME counts
/// as none. `extra` (what the runtime adds, LISTEN_FDS) comes after the config's. Returns the
/// entries and whether HOME is among them (when not, the container's /etc/passwd gives it).
pub fn environment(given: &[String], extra: &[String]) -> Result<(Vec<String>, bool)> {
    let given: Vec<&String> = given.iter().chain(extra).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(given.len() + 1);
    let mut home = false;
    for kv in given.into_iter().rev() {
        let key = match kv.split_once('=') {
            Some((k, _)) if !k.is_empty() => k,
            Some(_) => {
                return Err(Error::invalid(format!(
                    "process.env {kv:?}: invalid environment variable: name cannot be empty"
                )))
            }
            None => {
                return Err(Error::invalid(format!(
                    "process.env {kv:?}: invalid environment variable: missing '='"
                )))
            }
        };
        if kv.contains('\0') {
            return Err(Error::invalid(format!(
                "process.env: invalid environment variable {key:?}: contains nul byte"
            )));
        }
        if !seen.insert(key) {
            continue;
        }
        if key == "HOME" {
            if kv.len() == "HOME=".len() {
                continue;
            }
            home = true;
        }
        out.push(kv.clone());
    }
    out.reverse();
    Ok((out, home))
}

fn no_capabilities() -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    let empty = Some(Default::default());
    c.set_bounding(empty.clone());
    c.set_effective(empty.clone());
    c.set_permitted(empty.clone());
    c.set_inheritable(empty.clone());
    c.set_ambient(empty);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(v: serde_json::Value) -> oci_spec::runtime::Process {
        let mut p: serde_json::Value =
            serde_json::json!({"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}});
        for (k, x) in v.as_object().unwrap() {
            p[k] = x.clone();
        }
        serde_json::from_value(p).unwrap()
    }

    fn build(v: serde_json::Value, of: ProcessOf) -> std::result::Result<Process, String> {
        Process::new(&process(v), of, None, &[]).map_err(|e| e.to_string())
    }

    #[test]
    fn the_plan_is_typed_and_resolved() {
        let p = Process::new(
            &process(serde_json::json!({
                "args": ["sh", "-c", "true"],
                "env": ["A=1", "B=2", "A=3", "HOME="],
                "terminal": true,
                "consoleSize": {"height": 24, "width": 80},
                "user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6]},
                "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}],
                "noNewPrivileges": true,
                "oomScoreAdj": 100,
                "execCPUAffinity": {"initial": "0"}
            })),
            ProcessOf::Init,
            None,
            &["LISTEN_FDS=1".into()],
        )
        .unwrap();
        assert_eq!(p.args, ["sh", "-c", "true"]);
        assert_eq!(p.env, ["B=2", "A=3", "LISTEN_FDS=1"]);
        assert!(!p.home, "an empty HOME counts as none");
        assert!(p.terminal);
        assert_eq!(p.console_size, Some(ConsoleSize { rows: 24, cols: 80 }));
        assert_eq!(
            p.user,
            User {
                uid: 1000,
                gid: 100,
                umask: 0o022,
                additional_gids: vec![5, 6]
            }
        );
        assert_eq!(
            p.rlimits,
            [Rlimit {
                typ: PosixRlimitType::RlimitNofile,
                resource: libc::RLIMIT_NOFILE as i32,
                soft: 1024,
                hard: 4096
            }]
        );
        assert!(p.no_new_privileges);
        assert_eq!(p.oom_score_adj, Some(100));
        assert_eq!(
            p.cpu_affinity,
            CpuAffinity {
                initial: Some("0".into()),
                last: None
            }
        );
        // No `capabilities`: none at all, in every set.
        assert!(p.capabilities.bounding().as_ref().unwrap().is_empty());
        assert!(p.capabilities.ambient().as_ref().unwrap().is_empty());
    }

    #[test]
    fn capabilities_are_typed_sets() {
        let p = build(
            serde_json::json!({"capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"]}}),
            ProcessOf::Init,
        )
        .unwrap();
        let bounding = p.capabilities.bounding().clone().unwrap();
        use oci_spec::runtime::Capability;
        assert!(bounding.contains(&Capability::Chown) && bounding.contains(&Capability::Kill));
        assert_eq!(bounding.len(), 2);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (serde_json::json!({"args": []}), "process.args:"),
            (serde_json::json!({"args": [""]}), "process.args[0]:"),
            (serde_json::json!({"cwd": "rel"}), "process.cwd rel"),
            (serde_json::json!({"env": ["A=1", "B"]}), "process.env[1]"),
            (serde_json::json!({"env": ["=v"]}), "process.env \"=v\""),
            (
                serde_json::json!({"rlimits": [{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}]}),
                "process.rlimits[0]: soft limit 2",
            ),
            (
                serde_json::json!({"oomScoreAdj": 1001}),
                "process.oomScoreAdj 1001",
            ),
            (
                serde_json::json!({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 8}}),
                "process.ioPriority.priority 8",
            ),
            (
                serde_json::json!({"execCPUAffinity": {"initial": "0", "final": "99999"}}),
                "process.execCPUAffinity.final",
            ),
        ];
        for (doc, field) in cases {
            let err = build(doc.clone(), ProcessOf::Init).unwrap_err();
            assert!(err.starts_with(field), "{doc}: {err}");
        }
    }

    #[test]
    fn runtime_additions_are_checked_too() {
        let err = Process::new(
            &process(serde_json::json!({})),
            ProcessOf::Init,
            None,
            &["NOEQUALS".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("missing '='"), "{err}");
        let (env, home) = environment(&["HOME=/h".into()], &[]).unwrap();
        assert_eq!((env, home), (vec!["HOME=/h".to_string()], true));
        let err = environment(&["A=b\0c".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("contains nul byte"), "{err}");
    }

    #[test]
    fn exec_gets_inits_checks_but_what_runc_exec_accepts() {
        // Both through the one constructor: refused alike ...
        for doc in [
            serde_json::json!({"args": []}),
            serde_json::json!({"env": ["X"]}),
            serde_json::json!({"rlimits": [{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}]}),
        ] {
            let (init, exec) = (
                build(doc.clone(), ProcessOf::Init).unwrap_err(),
                build(doc.clone(), ProcessOf::Exec).unwrap_err(),
            );
            assert_eq!(init, exec, "{doc}");
        }
        // ... except what runc's exec takes.
        for doc in [
            serde_json::json!({"rlimits": [
                {"type": "RLIMIT_CORE", "soft": 1, "hard": 1},
                {"type": "RLIMIT_CORE", "soft": 2, "hard": 2}]}),
            serde_json::json!({"oomScoreAdj": 5000}),
        ] {
            assert!(build(doc.clone(), ProcessOf::Init).is_err(), "{doc}");
            let exec = build(doc.clone(), ProcessOf::Exec).unwrap();
            assert_eq!(exec.oom_score_adj, None, "{doc}");
        }
    }
}
