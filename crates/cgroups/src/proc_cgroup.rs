//! /proc/PID/cgroup, parsed: the one parser of the workspace (the managers' own cgroup, the
//! runtime's `cgroup` mount and CRIU's cgroup roots).

use std::path::{Path, PathBuf};

/// One line of /proc/PID/cgroup: `ID:CONTROLLERS:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnCgroup {
    /// `cpu`, `cpuacct`, `name=systemd`; empty for the v2 line (`0::/path`).
    pub controllers: Vec<String>,
    pub path: PathBuf,
}

/// Every line of a /proc/PID/cgroup text; a line that is not one is left out.
pub fn parse(text: &str) -> Vec<OwnCgroup> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(OwnCgroup {
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.into(),
            })
        })
        .collect()
}

/// The calling process's cgroups.
pub fn read_self() -> std::io::Result<Vec<OwnCgroup>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/cgroup")?))
}

/// The cgroup of the hierarchy carrying exactly `controllers` (empty: the v2 line).
pub fn of<'a>(own: &'a [OwnCgroup], controllers: &[String]) -> Option<&'a Path> {
    own.iter()
        .find(|c| {
            c.controllers.len() == controllers.len()
                && controllers.iter().all(|w| c.controllers.contains(w))
        })
        .map(|c| c.path.as_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_a_hybrid_host() {
        let own =
            parse("12:cpu,cpuacct:/user/1\n1:name=systemd:/init.scope\n0::/process_api\nbogus\n");
        assert_eq!(own.len(), 3);
        assert_eq!(own[0].controllers, ["cpu", "cpuacct"]);
        assert!(own[2].controllers.is_empty());
        let ctl = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            of(&own, &ctl(&["cpuacct", "cpu"])),
            Some(Path::new("/user/1"))
        );
        assert_eq!(of(&own, &[]), Some(Path::new("/process_api")));
        assert_eq!(of(&own, &ctl(&["cpu"])), None);
    }
}
