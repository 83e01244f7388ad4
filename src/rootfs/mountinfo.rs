//! /proc/self/mountinfo, parsed: only what the rootfs code needs (cgroup hierarchies, the
//! mount a path lives on, the host's procfs and sysfs mounts for --no-pivot).

use std::path::{Path, PathBuf};

use crate::{Context, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// The path inside the filesystem that is mounted (not `/` for a bind of a subtree).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Optional fields, e.g. `shared:12`, `master:3`.
    pub optional: Vec<String>,
    pub fstype: String,
    pub super_options: Vec<String>,
}

/// Undoes the kernel's octal escapes (`\040` for a space) in mountinfo path fields.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|o| {
            let o = std::str::from_utf8(o).ok()?;
            u8::from_str_radix(o, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(v)) => {
                out.push(v);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    // id parent major:minor root mount-point options [optional...] - fstype source super
    let (head, tail) = line.split_once(" - ")?;
    let head: Vec<&str> = head.split(' ').collect();
    let tail: Vec<&str> = tail.split(' ').collect();
    if head.len() < 6 || tail.len() < 3 {
        return None;
    }
    Some(MountInfo {
        root: unescape(head[3]).into(),
        mount_point: unescape(head[4]).into(),
        optional: head[6..].iter().map(|s| s.to_string()).collect(),
        fstype: tail[0].to_string(),
        super_options: tail[2].split(',').map(str::to_string).collect(),
    })
}

/// The mount table of the calling process, read from the procfs at `/proc`.
pub fn read_self() -> Result<Vec<MountInfo>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ctx("read /proc/self/mountinfo")?;
    Ok(parse(&text))
}

/// The mount `path` (absolute, symlink-free) lives on: the last mount whose mount point is
/// the longest prefix of it.
pub fn mount_of<'a>(mounts: &'a [MountInfo], path: &Path) -> Option<&'a MountInfo> {
    mounts
        .iter()
        .rev()
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 /sub /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
40 27 0:40 / /mnt/with\\040space rw - tmpfs none rw
";

    #[test]
    fn parses_fields_and_escapes() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].optional, vec!["shared:1"]);
        assert_eq!(m[2].root, Path::new("/sub"));
        assert_eq!(m[2].fstype, "cgroup");
        assert_eq!(m[2].super_options, vec!["rw", "cpu", "cpuacct"]);
        assert_eq!(m[3].mount_point, Path::new("/mnt/with space"));
    }

    #[test]
    fn finds_the_mount_of_a_path() {
        let m = parse(SAMPLE);
        let cpu = Path::new("/sys/fs/cgroup/cpu,cpuacct/x");
        assert_eq!(mount_of(&m, cpu).unwrap().fstype, "cgroup");
        assert_eq!(
            mount_of(&m, Path::new("/tmp/x")).unwrap().mount_point,
            Path::new("/")
        );
    }
}
