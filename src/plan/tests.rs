//! The plan from config.json: typed results, errors naming the field, and exec's process
//! planned by the same constructor as init's. None of this needs root: nothing is made.

use super::*;
use crate::rootfs::testbundle::Bundle;

/// The default spec with `edit` applied to its JSON.
fn config(edit: impl FnOnce(&mut serde_json::Value)) -> Spec {
    let mut v: serde_json::Value = serde_json::from_str(crate::spec::DEFAULT_SPEC).unwrap();
    edit(&mut v);
    crate::spec::parse(v.to_string().as_bytes()).unwrap()
}

fn plan_of(spec: Spec) -> std::result::Result<Plan, String> {
    plan_with(spec, None)
}

/// The plan as create makes it, with `notify` as under NOTIFY_SOCKET.
fn plan_with(
    spec: Spec,
    notify: Option<crate::io::notify::Bind>,
) -> std::result::Result<Plan, String> {
    let bundle = Bundle::empty("plan");
    let opts = options(&bundle);
    of_config(spec, bundle.dir.clone(), &opts, notify).map_err(|e| e.to_string())
}

fn options(bundle: &Bundle) -> Options {
    Options {
        root: bundle.dir.join("state"),
        id: "plan-test".into(),
        bundle: bundle.dir.clone(),
        // A terminal relayed by the runtime: no console socket needed.
        foreground: true,
        cgroup_driver: Driver::Disabled,
        ..Default::default()
    }
}

#[test]
fn the_container_is_planned_typed_and_resolved() {
    let spec = config(|v| {
        v["linux"]["sysctl"] = serde_json::json!({
            "net.ipv4.ip_forward": "1",
            "kernel/shm_rmid_forced": "1"
        });
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        v["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        v["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        v["linux"]["personality"] = serde_json::json!({"domain": "LINUX32"});
        v["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/true"}]});
        v["domainname"] = "example.org".into();
        v["process"]["env"] = serde_json::json!(["PATH=/bin", "HOME=/root"]);
    });
    let plan = plan_of(spec).unwrap();
    assert_eq!(plan.process.args, ["sh"]);
    assert_eq!(plan.process.env, ["PATH=/bin", "HOME=/root"]);
    assert!(plan.process.home);
    assert!(matches!(plan.terminal, Some(Terminal::Runtime)));
    assert_eq!(plan.hostname.as_deref(), Some("hull"));
    assert_eq!(plan.domainname.as_deref(), Some("example.org"));
    // Keys resolved once, in key order, to their paths under /proc/sys.
    let sysctl: Vec<(&str, &str)> = plan
        .sysctl
        .iter()
        .map(|e| (e.key.as_str(), e.path.as_str()))
        .collect();
    assert_eq!(
        sysctl,
        [
            ("kernel/shm_rmid_forced", "kernel/shm_rmid_forced"),
            ("net.ipv4.ip_forward", "net/ipv4/ip_forward")
        ]
    );
    assert!(plan.ns.new_net && plan.ns.new_user && plan.ns.new_mount && plan.ns.new_cgroup);
    assert_eq!(plan.uid_mappings.len(), 1);
    assert_eq!(plan.gid_mappings[0].host_id(), 100000);
    assert!(plan.kernel.personality.is_some() && plan.kernel.memory_policy.is_none());
    assert_eq!(
        plan.hooks
            .as_ref()
            .unwrap()
            .create_runtime()
            .as_ref()
            .unwrap()
            .len(),
        1
    );
    assert!(plan.net_devices.is_empty());
    assert!(plan.cgroup.manager.is_none(), "the driver is disabled");
    assert!(!plan.cgroup.has_limits);
    // The config's device rules (the default spec denies all), then runc's 11 defaults.
    let devices = plan.cgroup.resources.devices().clone().unwrap();
    assert_eq!(devices.len(), 1 + 11);
    assert!(!devices[0].allow() && devices[1..].iter().all(|d| d.allow()));
    assert!(plan.seccomp.is_none() && plan.idle_trim);
    assert_eq!(plan.notify, Notify::default());
    assert!(plan.resctrl.is_none() && plan.intel_rdt.is_none());
    assert_eq!(plan.rootfs.root, plan.bundle.join("rootfs"));
}

#[test]
fn a_host_network_namespace_is_not_a_new_one() {
    let plan = plan_of(config(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network");
    }))
    .unwrap();
    assert!(!plan.ns.new_net);
}

/// An edit of the default spec's JSON.
type Edit = fn(&mut serde_json::Value);

#[test]
fn errors_name_the_field() {
    let cases: [(&str, Edit); 6] = [
        ("ociVersion", |v| v["ociVersion"] = "2.0.0".into()),
        ("process: missing", |v| {
            v.as_object_mut().unwrap().remove("process");
        }),
        ("process.args: must not be empty", |v| {
            v["process"]["args"] = serde_json::json!([])
        }),
        ("process.env[0]", |v| {
            v["process"]["env"] = serde_json::json!(["NOEQUALS"])
        }),
        ("linux.sysctl \"kernel.hostname\"", |v| {
            v["linux"]["sysctl"] = serde_json::json!({"kernel.hostname": "x"})
        }),
        ("root.path", |v| v["root"]["path"] = "missing".into()),
    ];
    for (field, edit) in cases {
        let err = plan_of(config(edit)).map(drop).unwrap_err();
        assert!(err.starts_with(field), "{field}: {err}");
    }
}

#[test]
fn a_detached_terminal_needs_a_console_socket() {
    let bundle = Bundle::empty("plan");
    let opts = Options {
        foreground: false,
        ..options(&bundle)
    };
    let err = of_config(config(|_| {}), bundle.dir.clone(), &opts, None)
        .map(drop)
        .unwrap_err()
        .to_string();
    // runc's words.
    assert!(err.starts_with("cannot allocate tty"), "{err}");
}

#[test]
fn notify_is_planned_as_a_bind_and_an_env_entry_without_editing_the_config() {
    let state_dir = std::path::Path::new("/run/hull-test/c");
    let given = config(|v| {
        v["process"]["env"] = serde_json::json!(["PATH=/bin", "NOTIFY_SOCKET=/elsewhere"]);
    });
    let plan = plan_with(given.clone(), Some(crate::io::notify::bind(state_dir))).unwrap();
    // The config stays as given: state.json keeps what the caller wrote.
    assert_eq!(plan.config, given);
    let last = plan.rootfs.mounts.last().unwrap();
    assert_eq!(
        last.source.as_deref(),
        Some(crate::io::notify::dir(state_dir).as_path())
    );
    let env = &plan.process.env;
    let notify: Vec<_> = env
        .iter()
        .filter(|e| e.starts_with("NOTIFY_SOCKET="))
        .collect();
    assert_eq!(notify, [&crate::io::notify::container_env()], "{env:?}");
    // Without it, the config's own entry is left as it is.
    let plain = plan_of(given).unwrap();
    assert!(plain
        .process
        .env
        .contains(&"NOTIFY_SOCKET=/elsewhere".to_string()));
    assert_eq!(plain.rootfs.mounts.len(), plan.rootfs.mounts.len() - 1);
}

#[test]
fn exec_plans_its_process_with_inits_constructor() {
    // The same process refused the same way, whether config.json's (create) or exec's.
    for edit in [
        serde_json::json!({"env": ["A=1", "FOO"]}),
        serde_json::json!({"cwd": "relative"}),
        serde_json::json!({"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 30, "hard": 20}]}),
        serde_json::json!({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 9}}),
    ] {
        let spec = config(|v| {
            for (k, x) in edit.as_object().unwrap() {
                v["process"][k] = x.clone();
            }
        });
        let process = spec.process().clone().unwrap();
        let create = plan_of(spec).map(drop).unwrap_err();
        let exec = Process::new(&process, ProcessOf::Exec, None, &[])
            .map(drop)
            .unwrap_err()
            .to_string();
        assert_eq!(create, exec, "{edit}");
    }
    // And an accepted one planned alike (exec adds no LISTEN_FDS, sets no oomScoreAdj).
    let spec = config(|v| v["process"]["oomScoreAdj"] = 10.into());
    let process = spec.process().clone().unwrap();
    let init = plan_of(spec).unwrap().process;
    let exec = Process::new(&process, ProcessOf::Exec, None, &[]).unwrap();
    assert_eq!(
        (init.args, init.env, init.user),
        (exec.args, exec.env, exec.user)
    );
    assert_eq!((init.oom_score_adj, exec.oom_score_adj), (Some(10), None));
}

#[test]
fn exec_reads_the_container_parts_from_the_stored_config_the_same_way() {
    let spec = config(|v| {
        v["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "listenerMetadata": "meta",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        });
        v["linux"]["personality"] = serde_json::json!({"domain": "LINUX"});
    });
    let notify = Notify::of(&spec);
    assert_eq!(
        notify,
        Notify {
            listener_path: Some("/run/agent.sock".into()),
            listener_metadata: Some("meta".into())
        }
    );
    let kernel = KernelAttrs::of(&spec);
    let plan = plan_of(spec).unwrap();
    assert_eq!(plan.notify, notify);
    assert_eq!(
        format!("{:?}", plan.kernel.personality),
        format!("{:?}", kernel.personality)
    );
    assert!(plan.seccomp.as_ref().is_some_and(|p| p.notifies()));
    // A notify rule on neither madvise nor brk: init may still trim while it waits.
    assert!(plan.idle_trim);
}
