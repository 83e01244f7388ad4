//! Mount options: the one table that maps mount(8)-style option names to what they do, the
//! parser built on it, and the per-filesystem list of data flags the kernel understands.
//!
//! Options split four ways, as in runc: per-mount attributes (applied with fsmount or
//! mount_setattr; the `r*` forms recursively), superblock flags (fsconfig on a new
//! filesystem), propagation, and runtime extensions (`bind`, `rbind`, `remount`,
//! `tmpcopyup`). Anything else is filesystem data (`size=64m`, `newinstance`).

use crate::sys::mount::*;

const RDONLY: u64 = MOUNT_ATTR_RDONLY;
const NOSUID: u64 = MOUNT_ATTR_NOSUID;
const NODEV: u64 = MOUNT_ATTR_NODEV;
const NOEXEC: u64 = MOUNT_ATTR_NOEXEC;
const NODIRATIME: u64 = MOUNT_ATTR_NODIRATIME;
const NOSYMFOLLOW: u64 = MOUNT_ATTR_NOSYMFOLLOW;

/// The three access-time flags of mount(2); mount_setattr treats them as one enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atime {
    No,
    Rel,
    Strict,
}

/// What one option does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Nothing left to do ("defaults"; "iversion" and "silent", which the new mount API
    /// no longer takes: i_version is the filesystem's choice, and silence is the default).
    None,
    ReadOnly(bool),
    Attr {
        attr: u64,
        set: bool,
        recursive: bool,
    },
    Atime {
        which: Atime,
        set: bool,
        recursive: bool,
    },
    /// A superblock flag for a new filesystem: the fsconfig key, and whether it sets it.
    Superblock(&'static str, bool),
    Propagation {
        flag: u64,
        recursive: bool,
    },
    Bind {
        recursive: bool,
    },
    Remount,
    TmpCopyUp,
}

const fn attr(attr: u64, set: bool, recursive: bool) -> Effect {
    Effect::Attr {
        attr,
        set,
        recursive,
    }
}

const fn atime(which: Atime, set: bool, recursive: bool) -> Effect {
    Effect::Atime {
        which,
        set,
        recursive,
    }
}

// c_ulong is u64 here but u32 on 32-bit targets, and From is not const.
#[allow(clippy::unnecessary_cast)]
const fn propagation(flag: libc::c_ulong, recursive: bool) -> Effect {
    Effect::Propagation {
        flag: flag as u64,
        recursive,
    }
}

/// Every option name hull accepts, and its effect. `features` lists the names from here.
const OPTIONS: &[(&str, Effect)] = &[
    ("defaults", Effect::None),
    ("ro", Effect::ReadOnly(true)),
    ("rw", Effect::ReadOnly(false)),
    ("nosuid", attr(NOSUID, true, false)),
    ("suid", attr(NOSUID, false, false)),
    ("nodev", attr(NODEV, true, false)),
    ("dev", attr(NODEV, false, false)),
    ("noexec", attr(NOEXEC, true, false)),
    ("exec", attr(NOEXEC, false, false)),
    ("nodiratime", attr(NODIRATIME, true, false)),
    ("diratime", attr(NODIRATIME, false, false)),
    ("nosymfollow", attr(NOSYMFOLLOW, true, false)),
    ("symfollow", attr(NOSYMFOLLOW, false, false)),
    ("noatime", atime(Atime::No, true, false)),
    ("atime", atime(Atime::No, false, false)),
    ("relatime", atime(Atime::Rel, true, false)),
    ("norelatime", atime(Atime::Rel, false, false)),
    ("strictatime", atime(Atime::Strict, true, false)),
    ("nostrictatime", atime(Atime::Strict, false, false)),
    ("rro", attr(RDONLY, true, true)),
    ("rrw", attr(RDONLY, false, true)),
    ("rnosuid", attr(NOSUID, true, true)),
    ("rsuid", attr(NOSUID, false, true)),
    ("rnodev", attr(NODEV, true, true)),
    ("rdev", attr(NODEV, false, true)),
    ("rnoexec", attr(NOEXEC, true, true)),
    ("rexec", attr(NOEXEC, false, true)),
    ("rnodiratime", attr(NODIRATIME, true, true)),
    ("rdiratime", attr(NODIRATIME, false, true)),
    ("rnosymfollow", attr(NOSYMFOLLOW, true, true)),
    ("rsymfollow", attr(NOSYMFOLLOW, false, true)),
    ("rnoatime", atime(Atime::No, true, true)),
    ("ratime", atime(Atime::No, false, true)),
    ("rrelatime", atime(Atime::Rel, true, true)),
    ("rnorelatime", atime(Atime::Rel, false, true)),
    ("rstrictatime", atime(Atime::Strict, true, true)),
    ("rnostrictatime", atime(Atime::Strict, false, true)),
    ("sync", Effect::Superblock("sync", true)),
    ("async", Effect::Superblock("sync", false)),
    ("dirsync", Effect::Superblock("dirsync", true)),
    ("mand", Effect::Superblock("mand", true)),
    ("nomand", Effect::Superblock("mand", false)),
    ("lazytime", Effect::Superblock("lazytime", true)),
    ("nolazytime", Effect::Superblock("lazytime", false)),
    ("iversion", Effect::None),
    ("noiversion", Effect::None),
    ("silent", Effect::None),
    ("loud", Effect::None),
    ("private", propagation(libc::MS_PRIVATE, false)),
    ("rprivate", propagation(libc::MS_PRIVATE, true)),
    ("shared", propagation(libc::MS_SHARED, false)),
    ("rshared", propagation(libc::MS_SHARED, true)),
    ("slave", propagation(libc::MS_SLAVE, false)),
    ("rslave", propagation(libc::MS_SLAVE, true)),
    ("unbindable", propagation(libc::MS_UNBINDABLE, false)),
    ("runbindable", propagation(libc::MS_UNBINDABLE, true)),
    ("bind", Effect::Bind { recursive: false }),
    ("rbind", Effect::Bind { recursive: true }),
    ("remount", Effect::Remount),
    ("tmpcopyup", Effect::TmpCopyUp),
];

/// Every mount option name hull accepts (for `features`), in table order.
pub fn names() -> Vec<&'static str> {
    OPTIONS.iter().map(|(name, _)| *name).collect()
}

/// Changes to per-mount attributes, collected in option order; later options win.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AttrChange {
    set: u64,
    clr: u64,
    noatime: Option<bool>,
    relatime: Option<bool>,
    strictatime: Option<bool>,
}

impl AttrChange {
    /// Just "read-only".
    pub fn readonly() -> AttrChange {
        let mut change = AttrChange::default();
        change.flag(RDONLY, true);
        change
    }

    fn flag(&mut self, attr: u64, set: bool) {
        if set {
            self.set |= attr;
            self.clr &= !attr;
        } else {
            self.clr |= attr;
            self.set &= !attr;
        }
    }

    fn atime(&mut self, which: Atime, set: bool) {
        let slot = match which {
            Atime::No => &mut self.noatime,
            Atime::Rel => &mut self.relatime,
            Atime::Strict => &mut self.strictatime,
        };
        *slot = Some(set);
    }

    /// The access-time mode asked for, with mount(2)'s precedence: strictatime beats
    /// noatime, and any other atime option means the default, relatime.
    fn atime_mode(&self) -> Option<u64> {
        if self.strictatime == Some(true) {
            Some(MOUNT_ATTR_STRICTATIME)
        } else if self.noatime == Some(true) {
            Some(MOUNT_ATTR_NOATIME)
        } else if self.noatime.is_some() || self.relatime.is_some() || self.strictatime.is_some() {
            Some(MOUNT_ATTR_RELATIME)
        } else {
            None
        }
    }

    /// The change as mount_setattr's `struct mount_attr` (propagation left alone).
    pub fn to_mount_attr(self) -> MountAttr {
        let mut attr = MountAttr {
            attr_set: self.set,
            attr_clr: self.clr,
            ..MountAttr::default()
        };
        if let Some(mode) = self.atime_mode() {
            attr.attr_set |= mode;
            attr.attr_clr |= ATIME_MASK;
        }
        attr
    }

    /// The attributes a brand-new mount gets from fsmount (which only sets, never clears).
    pub fn fsmount_flags(self) -> u64 {
        self.set | self.atime_mode().unwrap_or(MOUNT_ATTR_RELATIME)
    }

    pub fn is_empty(&self) -> bool {
        self.to_mount_attr().is_empty()
    }

    pub fn sets(&self, attr: u64) -> bool {
        self.set & attr != 0
    }
}

/// One propagation change, in option order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Propagation {
    /// MS_PRIVATE, MS_SHARED, MS_SLAVE or MS_UNBINDABLE.
    pub flag: u64,
    pub recursive: bool,
}

/// A mount entry's `options`, parsed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// `bind` (Some(false)) or `rbind` (Some(true)).
    pub bind: Option<bool>,
    pub remount: bool,
    pub tmpcopyup: bool,
    /// `ro` / `rw`: the mount, and for a new filesystem its superblock too.
    pub readonly: Option<bool>,
    /// Attributes of the mount itself.
    pub attrs: AttrChange,
    /// Attributes of the mount and every mount below it (the `r*` options).
    pub rec_attrs: AttrChange,
    /// Superblock flags (fsconfig keys) a new filesystem is created with.
    pub superblock: Vec<&'static str>,
    pub propagation: Vec<Propagation>,
    /// Everything else, in order: filesystem data such as `size=64m` or `newinstance`.
    pub data: Vec<String>,
}

impl MountOptions {
    pub fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
        let mut parsed = MountOptions::default();
        for option in options {
            let option = option.as_ref();
            let Some((_, effect)) = OPTIONS.iter().find(|(name, _)| *name == option) else {
                parsed.data.push(option.to_string());
                continue;
            };
            match *effect {
                Effect::None => {}
                Effect::ReadOnly(ro) => parsed.readonly = Some(ro),
                Effect::Attr {
                    attr,
                    set,
                    recursive,
                } => parsed.attrs_mut(recursive).flag(attr, set),
                Effect::Atime {
                    which,
                    set,
                    recursive,
                } => parsed.attrs_mut(recursive).atime(which, set),
                Effect::Superblock(key, set) => {
                    parsed.superblock.retain(|k| *k != key);
                    if set {
                        parsed.superblock.push(key);
                    }
                }
                Effect::Propagation { flag, recursive } => {
                    parsed.propagation.push(Propagation { flag, recursive })
                }
                Effect::Bind { recursive } => {
                    parsed.bind = Some(recursive || parsed.bind == Some(true))
                }
                Effect::Remount => parsed.remount = true,
                Effect::TmpCopyUp => parsed.tmpcopyup = true,
            }
        }
        parsed
    }

    fn attrs_mut(&mut self, recursive: bool) -> &mut AttrChange {
        if recursive {
            &mut self.rec_attrs
        } else {
            &mut self.attrs
        }
    }

    /// The per-mount attributes with `ro`/`rw` folded in.
    pub fn mount_attrs(&self) -> AttrChange {
        let mut attrs = self.attrs;
        if let Some(ro) = self.readonly {
            attrs.flag(RDONLY, ro);
        }
        attrs
    }

    /// Filesystem data flags (no `=`) this filesystem type does not take, if hull knows the
    /// type; unknown types get their data passed through for the kernel to judge.
    pub fn unknown_data_flags(&self, fstype: &str) -> Vec<&str> {
        let Some(known) = data_flags(fstype) else {
            return Vec::new();
        };
        self.data
            .iter()
            .map(String::as_str)
            .filter(|d| !d.contains('=') && !known.contains(d))
            .collect()
    }
}

/// Data options without a value that each filesystem hull knows accepts. `None`: hull does
/// not know this type, the kernel decides.
fn data_flags(fstype: &str) -> Option<&'static [&'static str]> {
    Some(match fstype {
        // A bind has no filesystem to pass data to: only known options make sense.
        "bind" => &[],
        "tmpfs" => &[
            "inode32", "inode64", "noswap", "quota", "usrquota", "grpquota",
        ],
        "devpts" => &["newinstance"],
        "proc" | "sysfs" | "mqueue" => &[],
        "overlay" => &["userxattr", "volatile"],
        "cgroup2" => &[
            "nsdelegate",
            "favordynmods",
            "memory_localevents",
            "memory_recursiveprot",
            "memory_hugetlb_accounting",
            "pids_localevents",
        ],
        // v1 hierarchies are named by their controllers.
        "cgroup" => &[
            "all",
            "none",
            "noprefix",
            "xattr",
            "clone_children",
            "cpuset_v2_mode",
            "cpu",
            "cpuacct",
            "cpuset",
            "memory",
            "devices",
            "freezer",
            "net_cls",
            "net_prio",
            "blkio",
            "perf_event",
            "hugetlb",
            "pids",
            "rdma",
            "misc",
        ],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(opts: &[&str]) -> MountOptions {
        MountOptions::parse(opts)
    }

    #[test]
    fn names_are_unique_and_cover_the_runc_set() {
        let names = names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate option in the table");
        for required in [
            "ro",
            "rw",
            "nosuid",
            "nodev",
            "noexec",
            "rbind",
            "bind",
            "rprivate",
            "rslave",
            "rshared",
            "runbindable",
            "rro",
            "rnoatime",
            "tmpcopyup",
            "nosymfollow",
            "rnosymfollow",
            "strictatime",
            "relatime",
            "remount",
            "dirsync",
            "lazytime",
        ] {
            assert!(
                names.contains(&required),
                "{required} missing from the table"
            );
        }
    }

    #[test]
    fn flags_set_and_clear_in_order() {
        let o = parse(&["nosuid", "nodev", "suid", "ro"]);
        let a = o.mount_attrs().to_mount_attr();
        assert_eq!(a.attr_set, NODEV | RDONLY);
        assert_eq!(a.attr_clr, NOSUID);
        assert!(o.rec_attrs.is_empty());
        assert_eq!(o.readonly, Some(true));
        let o = parse(&["ro", "rw"]);
        assert_eq!(o.mount_attrs().to_mount_attr().attr_clr, RDONLY);
        assert_eq!(o.mount_attrs().to_mount_attr().attr_set, 0);
    }

    #[test]
    fn recursive_options_are_kept_apart() {
        let o = parse(&["rbind", "rro", "rnosuid", "nodev", "rexec"]);
        assert_eq!(o.bind, Some(true));
        let rec = o.rec_attrs.to_mount_attr();
        assert_eq!(rec.attr_set, RDONLY | NOSUID);
        assert_eq!(rec.attr_clr, NOEXEC);
        assert_eq!(o.attrs.to_mount_attr().attr_set, NODEV);
    }

    #[test]
    fn atime_follows_mount2_precedence() {
        let a = parse(&["noatime"]).attrs.to_mount_attr();
        assert_eq!(a.attr_set, MOUNT_ATTR_NOATIME);
        assert_eq!(a.attr_clr, ATIME_MASK);
        // strictatime wins over noatime, as in mount(2).
        let a = parse(&["strictatime", "noatime"]).attrs.to_mount_attr();
        assert_eq!(a.attr_set, MOUNT_ATTR_STRICTATIME);
        // "atime" (clear noatime) means the default mode, relatime, and clears the mask.
        let a = parse(&["noatime", "atime"]).attrs.to_mount_attr();
        assert_eq!(a.attr_set, MOUNT_ATTR_RELATIME);
        assert_eq!(a.attr_clr, ATIME_MASK);
        let a = parse(&["rnoatime"]).rec_attrs.to_mount_attr();
        assert_eq!(a.attr_set, MOUNT_ATTR_NOATIME);
        // Without any atime option the mode is left alone.
        assert_eq!(parse(&["nosuid"]).attrs.to_mount_attr().attr_clr, 0);
        assert_eq!(
            parse(&["nosuid"]).attrs.fsmount_flags(),
            NOSUID | MOUNT_ATTR_RELATIME
        );
    }

    #[test]
    fn propagation_bind_and_extensions() {
        let o = parse(&["bind", "rprivate", "unbindable", "tmpcopyup", "remount"]);
        assert_eq!(o.bind, Some(false));
        assert!(o.tmpcopyup && o.remount);
        assert_eq!(
            o.propagation,
            vec![
                Propagation {
                    flag: libc::MS_PRIVATE as _,
                    recursive: true
                },
                Propagation {
                    flag: libc::MS_UNBINDABLE as _,
                    recursive: false
                },
            ]
        );
        // rbind then bind stays recursive.
        assert_eq!(parse(&["rbind", "bind"]).bind, Some(true));
    }

    #[test]
    fn superblock_flags_and_data() {
        let o = parse(&[
            "sync",
            "dirsync",
            "async",
            "size=64m",
            "mode=1777",
            "newinstance",
        ]);
        assert_eq!(o.superblock, vec!["dirsync"]);
        assert_eq!(o.data, vec!["size=64m", "mode=1777", "newinstance"]);
        assert!(o.unknown_data_flags("devpts").is_empty());
        assert_eq!(o.unknown_data_flags("tmpfs"), vec!["newinstance"]);
        assert_eq!(o.unknown_data_flags("bind"), vec!["newinstance"]);
        // A type hull does not know is the kernel's to judge.
        assert!(o.unknown_data_flags("ext4").is_empty());
    }
}
