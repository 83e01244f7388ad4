//! /proc/PID/mountinfo, parsed: the one parser of the workspace (the cgroup hierarchies here,
//! the runtime's rootfs and state code, hull-image's overlay checks).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

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

/// Undoes the kernel's octal escapes (`\040` for a space; also tab, newline, backslash) in a
/// path field, byte for byte.
fn unescape(field: &str) -> PathBuf {
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
    PathBuf::from(OsString::from_vec(out))
}

/// Every line of a mountinfo text; a line that is not one is left out.
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
        root: unescape(head[3]),
        mount_point: unescape(head[4]),
        optional: head[6..].iter().map(|s| s.to_string()).collect(),
        fstype: tail[0].to_string(),
        super_options: tail[2].split(',').map(str::to_string).collect(),
    })
}

/// The mount table of the calling process, read from the procfs at `/proc`.
pub fn read_self() -> std::io::Result<Vec<MountInfo>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
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
40 27 0:40 / /mnt/with\\040space\\134and\\011tab rw - tmpfs none rw
not a mountinfo line
";

    #[test]
    fn parses_fields_and_escapes() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].optional, vec!["shared:1"]);
        assert_eq!(m[2].root, Path::new("/sub"));
        assert_eq!(m[2].fstype, "cgroup");
        assert_eq!(m[2].super_options, vec!["rw", "cpu", "cpuacct"]);
        assert_eq!(m[3].mount_point, Path::new("/mnt/with space\\and\ttab"));
        // A backslash not followed by three octal digits stays as it is.
        assert_eq!(unescape("/a\\9b\\04"), Path::new("/a\\9b\\04"));
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

    #[test]
    fn reads_its_own() {
        let own = read_self().unwrap();
        assert!(own.iter().any(|m| m.mount_point == Path::new("/")));
    }
}
