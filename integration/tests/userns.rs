//! User namespaces: as root with a mapped range, and rootless (an unprivileged caller mapping
//! its own ids), checked from inside the container and from the host.

use std::os::unix::process::CommandExt;

use hull_integration::*;
use serde_json::json;

/// Without `gid=5` on /dev/pts when only one gid is mapped (the kernel refuses an unmapped
/// gid), as `spec --rootless` writes it.
fn without_tty_gid(b: &mut Bundle) {
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev/pts" {
            m["options"]
                .as_array_mut()
                .unwrap()
                .retain(|o| o != "gid=5");
        }
    }
}

fn with_user_namespace(b: &mut Bundle, host: u32, size: u32) {
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": host, "size": size}]);
    b.config["linux"]["uidMappings"] = map.clone();
    b.config["linux"]["gidMappings"] = map;
    b.save();
}

/// The Uid: line of /proc/PID/status: real, effective, saved, fs uids as the host sees them.
fn host_uids(pid: i64) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn root_inside_is_a_mapped_host_range() {
    let rt = Runtime::new();
    let mut b = Bundle::sh(
        "id -u; id -g; cat /proc/self/uid_map; touch /tmp/f; stat -c '%u %g' /tmp/f; \
         stat -c '%t:%T' /dev/null; ls /sys/class/net; sleep 30",
    );
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
    with_user_namespace(&mut b, 100000, 65536);
    let id = unique("userns");
    let out_path = b.path().join("out");
    let err_path = b.path().join("err");
    // Files, not pipes: the detached container keeps its stdio open for its 30 s.
    let status = rt
        .command()
        .args(["run", "-d", "-b", b.path().to_str().unwrap(), &id])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&err_path).unwrap()
    );
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    // Init is the container's root, which is host uid 100000.
    assert_eq!(host_uids(pid), "100000 100000 100000 100000");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut out = String::new();
    while out.lines().count() < 6 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        out = std::fs::read_to_string(&out_path).unwrap();
    }
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        ["0", "0", "0 100000 65536", "0 0", "1:3", "lo"],
        "id, map, file owner, /dev/null (bound from the host), a sysfs of its own: {out}"
    );
    // exec joins the user namespace first, then the rest.
    let exec = ok(&rt.cmd(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map"]));
    let exec: Vec<String> = exec
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(exec, ["0", "0 100000 65536"]);
    ok(&rt.cmd(&["delete", "-f", &id]));
}

#[test]
fn rootless_caller_maps_its_own_ids() {
    let root = TempDir::new("hull-rootless");
    std::os::unix::fs::chown(root.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let mut b = Bundle::sh("id -u; cat /proc/self/uid_map; cat /proc/self/setgroups");
    without_tty_gid(&mut b);
    with_user_namespace(&mut b, NOBODY, 1);
    let id = unique("rootless");
    let out = hull_as_nobody(root.path(), &["run", "-b", b.path().to_str().unwrap(), &id])
        .env("XDG_RUNTIME_DIR", root.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["0", "0 65534 1", "deny"]);
    // No cgroup may be made here without privilege: runc's rule, a warning and no limits.
    assert!(stderr(&out).contains("caller's cgroup"), "{}", stderr(&out));
    assert!(
        std::fs::read_dir(root.path()).unwrap().next().is_none(),
        "run leaves no state behind"
    );
}

#[test]
fn rootless_limits_without_a_writable_cgroup_are_refused() {
    let root = TempDir::new("hull-rootless");
    std::os::unix::fs::chown(root.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let mut b = Bundle::sh("true");
    b.config["linux"]["resources"] = json!({"pids": {"limit": 10}});
    without_tty_gid(&mut b);
    with_user_namespace(&mut b, NOBODY, 1);
    let id = unique("rootless");
    let out = hull_as_nobody(root.path(), &["run", "-b", b.path().to_str().unwrap(), &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("linux.resources"), "{}", stderr(&out));
    assert!(std::fs::read_dir(root.path()).unwrap().next().is_none());
    assert!(!process_with(&id));
}

#[test]
fn mappings_and_user_namespace_go_together() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    b.save();
    let out = rt.create(&unique("map"), &b);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("linux.uidMappings"),
        "{}",
        stderr(&out)
    );

    let mut b = Bundle::sh("true");
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    b.save();
    let out = rt.create(&unique("map"), &b);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("linux.uidMappings: a new user namespace needs mappings"),
        "{}",
        stderr(&out)
    );
    assert!(rt.ids().is_empty());
}

/// Rootless podman's shape: the runtime runs as root of a user namespace an ordinary user
/// made (podman keeps it alive and enters it for every command), with no `--root`. Its state
/// goes under $XDG_RUNTIME_DIR (runc's rule: /run belongs to the host's root), its cgroup is
/// skipped with a warning, and `exec` reaches the container's pid namespace, which the
/// runtime may enter but never leave again (its own is the host's).
#[test]
fn root_of_a_user_namespace_runs_and_execs() {
    let xdg = TempDir::new("hull-xdg");
    std::os::unix::fs::chown(xdg.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let mut b = Bundle::sh("sleep 60");
    without_tty_gid(&mut b);
    b.save();
    // The user's namespace, held open by a process as podman's pause process does.
    let mut holder = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "sleep", "60"])
        .uid(NOBODY)
        .gid(NOBODY)
        .spawn()
        .unwrap();
    let userns = format!("/proc/{}/ns/user", holder.id());
    let own = std::fs::read_link("/proc/self/ns/user").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_link(&userns).is_ok_and(|l| l == own)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // nobody, entering its own namespace, is root there (it maps to 0) with every capability.
    let hull = |args: &[&str], out: fn() -> std::process::Stdio| {
        std::process::Command::new("nsenter")
            .args(["--user", "--preserve-credentials", "--target"])
            .arg(holder.id().to_string())
            .arg("--")
            .arg(hull_bin())
            .args(args)
            .env("XDG_RUNTIME_DIR", xdg.path())
            .env("USER", "nobody")
            .uid(NOBODY)
            .gid(NOBODY)
            .stdin(std::process::Stdio::null())
            .stdout(out())
            .stderr(out())
            .output()
            .unwrap()
    };
    let id = unique("nsroot");
    // The container inherits run -d's stdio: not pipes that would stay open.
    let run = hull(
        &["run", "-d", "-b", b.path().to_str().unwrap(), &id],
        std::process::Stdio::null,
    );
    let stored = xdg.path().join("hull").join(&id).is_dir();
    let exec = hull(
        &["exec", &id, "sh", "-c", "echo pid=$$; id -u"],
        std::process::Stdio::piped,
    );
    let delete = hull(&["delete", "-f", &id], std::process::Stdio::piped);
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(run.status.success(), "run -d failed");
    assert!(stored, "the state is under $XDG_RUNTIME_DIR/hull");
    assert!(exec.status.success(), "exec: {}", stderr(&exec));
    assert_eq!(
        stdout(&exec),
        "pid=2\n0\n",
        "in the container's pid namespace, as root"
    );
    assert!(delete.status.success(), "delete: {}", stderr(&delete));
    assert!(!process_with(&id));
}

/// An unprivileged caller's exec: the container's pid namespace belongs to its user namespace,
/// so the runtime must be in that user namespace before it may join the pid namespace.
#[test]
fn rootless_exec_joins_the_user_namespace_first() {
    let root = TempDir::new("hull-rootless");
    std::os::unix::fs::chown(root.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let mut b = Bundle::sh("sleep 60");
    without_tty_gid(&mut b);
    with_user_namespace(&mut b, NOBODY, 1);
    let id = unique("rootless");
    let hull = |args: &[&str]| {
        hull_as_nobody(root.path(), args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap()
    };
    let run = hull_as_nobody(
        root.path(),
        &["run", "-d", "-b", b.path().to_str().unwrap(), &id],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .status()
    .unwrap();
    let exec = hull(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo pid=$$; id -u; cat /proc/self/uid_map",
    ]);
    let delete = hull(&["delete", "-f", &id]);
    assert!(run.success(), "run -d failed");
    assert!(exec.status.success(), "exec: {}", stderr(&exec));
    let lines: Vec<String> = stdout(&exec)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["pid=2", "0", "0 65534 1"]);
    assert!(delete.status.success(), "delete: {}", stderr(&delete));
    assert!(!process_with(&id));
}

/// The directories named `name` under this process's own cgroup, in every hierarchy mounted
/// here (where a relative cgroupsPath lands).
fn cgroup_dirs(name: &str) -> Vec<std::path::PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut found = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (root, mountpoint) = (pre[3], pre[4]);
        let v2 = post[0] == "cgroup2";
        if !v2 && post[0] != "cgroup" {
            continue;
        }
        let opts: Vec<&str> = post.get(2).unwrap_or(&"").split(',').collect();
        let path = own.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            let matches = match v2 {
                true => ctrls.is_empty(),
                false => !ctrls.is_empty() && ctrls.split(',').all(|c| opts.contains(&c)),
            };
            matches.then_some(path)
        });
        let Some(path) = path.and_then(|p| p.strip_prefix(root.trim_end_matches('/'))) else {
            continue;
        };
        let dir = std::path::Path::new(mountpoint)
            .join(path.trim_start_matches('/'))
            .join(name);
        if dir.is_dir() && !found.contains(&dir) {
            found.push(dir);
        }
    }
    found
}

/// The namespaces a pod's second container shares with the pod's (as `same`/`own` by type),
/// from the `readlink /proc/self/ns/X` lines it printed.
fn shared_with(pod: i64, lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let typ = l.split(':').next().unwrap();
            let file = if typ == "mnt" { "mnt" } else { typ };
            let pods = std::fs::read_link(format!("/proc/{pod}/ns/{file}")).unwrap();
            let same = pods.to_str() == Some(*l);
            format!("{typ}={}", if same { "same" } else { "own" })
        })
        .collect()
}

/// A pod's second container, Kubernetes' and podman's shape: the pod is a container with a
/// user namespace of its own (0 → 100000), and the member joins its user, network and ipc
/// namespaces by path, with mount, pid and uts namespaces of its own; those are owned by the
/// pod's user namespace, so the member's mounts and hostname can be set up. Run by runc and
/// by hull side by side: the maps, ids, pid, hostname, the owner of a file on its tmpfs and
/// which namespaces it shares read the same. The member's config repeats the pod's mappings,
/// as containerd and CRI-O write it: runc 1.1.5 requires them ("User namespaces enabled, but
/// no uid mappings found") and takes mappings that are not the namespace's without a word;
/// runc 1.4 and hull take them only when they are the namespace's own, and hull runs it
/// without them too (as runc 1.4 does).
#[test]
fn a_pod_member_joins_the_pods_user_namespace_as_runc_does() {
    const NS: [&str; 6] = ["user", "net", "ipc", "mnt", "pid", "uts"];
    let member = |rt: &Runtime, mappings: bool| {
        let mut pod = Bundle::sh("sleep 60");
        with_user_namespace(&mut pod, 100000, 65536);
        let pod_id = unique("pod");
        ok(&rt.run_detached(&pod_id, &pod));
        let pid = rt.state(&pod_id).unwrap()["pid"].as_i64().unwrap();

        let mut b = Bundle::sh(
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; echo pid=$$; hostname; \
             touch /data/f && stat -c '%u %g' /data/f; \
             for n in user net ipc mnt pid uts; do readlink /proc/self/ns/$n; done",
        );
        let path = |n: &str| format!("/proc/{pid}/ns/{n}");
        let namespaces = json!([
            {"type": "user", "path": path("user")},
            {"type": "network", "path": path("net")},
            {"type": "ipc", "path": path("ipc")},
            {"type": "mount"}, {"type": "pid"}, {"type": "uts"},
        ]);
        b.config["linux"]["namespaces"] = namespaces;
        if mappings {
            let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            b.config["linux"]["uidMappings"] = map.clone();
            b.config["linux"]["gidMappings"] = map;
        }
        b.config["hostname"] = json!("member");
        b.config["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs"}));
        // The image's mount point: the member's root may not create it in this rootfs.
        std::fs::create_dir(b.rootfs().join("data")).unwrap();
        b.save();
        let out = rt.run(&unique("member"), &b);
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        let (seen, ns) = lines.split_at(lines.len().saturating_sub(NS.len()));
        let shared = out.status.success().then(|| shared_with(pid, ns));
        ok(&rt.cmd(&["delete", "-f", &pod_id]));
        assert!(out.status.success(), "{}", stderr(&out));
        let seen: Vec<String> = seen
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        (seen, shared.unwrap())
    };
    let runc = member(&Runtime::with_bin("/usr/sbin/runc".into()), true);
    let hull = member(&Runtime::new(), true);
    assert_eq!(
        runc.0,
        [
            "0 100000 65536",
            "0 100000 65536",
            "0",
            "0",
            "pid=1",
            "member",
            "0 0"
        ],
        "runc"
    );
    assert_eq!(
        runc.1,
        [
            "user=same",
            "net=same",
            "ipc=same",
            "mnt=own",
            "pid=own",
            "uts=own"
        ],
        "runc"
    );
    assert_eq!(hull, runc, "hull as runc");
    assert_eq!(
        member(&Runtime::new(), false),
        runc,
        "hull without mappings"
    );
}

/// Mappings that are not the joined user namespace's own are refused naming the field (runc
/// 1.4's rule), and a member whose setup fails in init (a bind of a missing source) leaves
/// nothing: no state, cgroup, process or mount.
#[test]
fn a_failed_pod_member_leaves_nothing() {
    let rt = Runtime::new();
    let mut pod = Bundle::sh("sleep 60");
    with_user_namespace(&mut pod, 100000, 65536);
    let pod_id = unique("pod");
    pod.config["linux"]["cgroupsPath"] = json!(format!("hull-test-{pod_id}"));
    pod.save();
    ok(&rt.run_detached(&pod_id, &pod));
    let pid = rt.state(&pod_id).unwrap()["pid"].as_i64().unwrap();
    assert!(
        !cgroup_dirs(&format!("hull-test-{pod_id}")).is_empty(),
        "the pod's cgroup is where the check below looks"
    );

    let member = |edit: &dyn Fn(&mut Bundle)| {
        let mut b = Bundle::sh("true");
        b.config["linux"]["namespaces"] = json!([
            {"type": "user", "path": format!("/proc/{pid}/ns/user")},
            {"type": "mount"}, {"type": "pid"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"},
        ]);
        edit(&mut b);
        b.save();
        let id = unique("member");
        let cgroup = format!("hull-test-{id}");
        b.config["linux"]["cgroupsPath"] = json!(cgroup);
        b.save();
        let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let out = rt.create(&id, &b);
        let mounts_after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            std::fs::read_dir(rt.root.path()).unwrap().all(|e| e
                .unwrap()
                .file_name()
                .to_str()
                .is_some_and(|n| !n.starts_with("member"))),
            "no state directory"
        );
        assert!(cgroup_dirs(&cgroup).is_empty(), "no cgroup");
        assert!(!process_with(&id), "no process");
        // (other tests mount meanwhile: only what names this member counts)
        let bundle = b.path().to_str().unwrap();
        let ours = |info: &str| {
            info.lines()
                .filter(|l| l.contains(&id) || l.contains(bundle))
                .count()
        };
        assert_eq!(ours(&mounts_after), ours(&mounts_before), "no mount");
        stderr(&out)
    };

    let err = member(&|b| {
        let map = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        b.config["linux"]["uidMappings"] = map.clone();
        b.config["linux"]["gidMappings"] = map;
    });
    assert!(
        err.contains("linux.uidMappings: the user namespace")
            && err.contains("{containerID 0, hostID 100000, size 65536}"),
        "{err}"
    );
    let err = member(&|b| {
        let source = b.path().join("no-such-source");
        b.config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/missing", "type": "bind", "options": ["rbind"], "source": source
        }));
    });
    assert!(err.contains("/missing"), "{err}");
    assert_eq!(rt.ids(), std::slice::from_ref(&pod_id));
    ok(&rt.cmd(&["delete", "-f", &pod_id]));
}

/// `exec` into a pod's second container reaches its own pid and uts namespaces through the
/// pod's user namespace, as root there.
#[test]
fn a_pod_member_is_execd_into() {
    let rt = Runtime::new();
    let mut pod = Bundle::sh("sleep 60");
    with_user_namespace(&mut pod, 100000, 65536);
    let pod_id = unique("pod");
    ok(&rt.run_detached(&pod_id, &pod));
    let pid = rt.state(&pod_id).unwrap()["pid"].as_i64().unwrap();
    let mut b = Bundle::sh("sleep 60");
    b.config["linux"]["namespaces"] = json!([
        {"type": "user", "path": format!("/proc/{pid}/ns/user")},
        {"type": "mount"}, {"type": "pid"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"},
    ]);
    b.config["hostname"] = json!("member");
    b.save();
    let id = unique("member");
    ok(&rt.run_detached(&id, &b));
    let out = rt.cmd(&[
        "exec",
        &id,
        "sh",
        "-c",
        "id -u; hostname; cat /proc/self/uid_map; echo $$",
    ]);
    let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let same = |ns: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap()
            == std::fs::read_link(format!("/proc/{init}/ns/{ns}")).unwrap()
    };
    let (user, pidns) = (same("user"), same("pid"));
    ok(&rt.cmd(&["delete", "-f", &id]));
    ok(&rt.cmd(&["delete", "-f", &pod_id]));
    let text = ok(&out);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines[..3], ["0", "member", "0 100000 65536"], "{text}");
    let exec_pid: u32 = lines[3].parse().unwrap();
    assert!(
        exec_pid > 1 && exec_pid < 100,
        "in the member's pid namespace: {exec_pid}"
    );
    assert!(
        user && !pidns,
        "the pod's user namespace, a pid namespace of its own"
    );
}

/// An unprivileged caller's pod: its second container joins the pod's user namespace (which
/// the caller owns) by path, with mount, pid and uts namespaces of its own, made inside it.
#[test]
fn rootless_pod_member_joins_the_pods_user_namespace() {
    let root = TempDir::new("hull-rootless");
    std::os::unix::fs::chown(root.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let as_nobody = |args: &[&str], out: fn() -> std::process::Stdio| {
        hull_as_nobody(root.path(), args)
            .env("XDG_RUNTIME_DIR", root.path())
            .stdout(out())
            .stderr(out())
            .output()
            .unwrap()
    };
    let mut pod = Bundle::sh("sleep 60");
    without_tty_gid(&mut pod);
    with_user_namespace(&mut pod, NOBODY, 1);
    let pod_id = unique("rootless-pod");
    // The pod inherits run -d's stdio: not pipes that would stay open.
    let run = as_nobody(
        &["run", "-d", "-b", pod.path().to_str().unwrap(), &pod_id],
        std::process::Stdio::null,
    );
    let state = as_nobody(&["state", &pod_id], std::process::Stdio::piped);
    let pid = serde_json::from_slice::<serde_json::Value>(&state.stdout)
        .ok()
        .and_then(|s| s["pid"].as_i64());

    let mut b = Bundle::sh("cat /proc/self/uid_map; id -u; hostname; echo pid=$$");
    without_tty_gid(&mut b);
    b.config["linux"]["namespaces"] = json!([
        {"type": "user", "path": format!("/proc/{}/ns/user", pid.unwrap_or(0))},
        {"type": "mount"}, {"type": "pid"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"},
    ]);
    b.config["hostname"] = json!("member");
    b.save();
    let member_id = unique("rootless-member");
    let member = as_nobody(
        &["run", "-b", b.path().to_str().unwrap(), &member_id],
        std::process::Stdio::piped,
    );
    let delete = as_nobody(&["delete", "-f", &pod_id], std::process::Stdio::piped);
    assert!(run.status.success() && pid.is_some(), "pod: run -d failed");
    assert!(member.status.success(), "member: {}", stderr(&member));
    let lines: Vec<String> = stdout(&member)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["0 65534 1", "0", "member", "pid=1"]);
    assert!(delete.status.success(), "delete: {}", stderr(&delete));
    assert!(
        std::fs::read_dir(root.path()).unwrap().next().is_none(),
        "nothing left under the root"
    );
}
