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

/// The flags a bind's own remount sets exactly (runc's MS_RDONLY, NOSUID, NODEV, NOEXEC and
/// NOSYMFOLLOW): what is not asked for is cleared.
const BIND_FLAGS: u64 = RDONLY | NOSUID | NODEV | NOEXEC | NOSYMFOLLOW;
/// The flags the kernel locks on mounts a less privileged mount namespace inherits (with the
/// access time): a user namespace's root may not clear them.
const LOCKABLE: u64 = RDONLY | NOSUID | NODEV | NOEXEC;

// statfs(2) f_flags of a mount (the ST_* values).
const ST_RDONLY: u64 = 0x1;
const ST_NOSUID: u64 = 0x2;
const ST_NODEV: u64 = 0x4;
const ST_NOEXEC: u64 = 0x8;
const ST_NOATIME: u64 = 0x400;
const ST_NODIRATIME: u64 = 0x800;
const ST_RELATIME: u64 = 0x1000;

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
    /// An id-mapped mount (`idmap`), of every mount below too (`ridmap`).
    IdMap {
        recursive: bool,
    },
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
    ("idmap", Effect::IdMap { recursive: false }),
    ("ridmap", Effect::IdMap { recursive: true }),
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

    /// The access time of a bind's remount, with mount(2)'s rules, when an access-time
    /// option is *set* (noatime, relatime, strictatime, nodiratime): the mode, and nodiratime.
    /// Otherwise (nothing, or only clearing options such as `atime`) mount(2) keeps the
    /// mount's own, and so None.
    fn bind_atime(&self) -> Option<(u64, bool)> {
        let nodiratime = self.sets(NODIRATIME);
        let any = [self.noatime, self.relatime, self.strictatime].contains(&Some(true));
        if !any && !nodiratime {
            return None;
        }
        let mode = if self.strictatime == Some(true) {
            MOUNT_ATTR_STRICTATIME
        } else if self.noatime == Some(true) {
            MOUNT_ATTR_NOATIME
        } else {
            MOUNT_ATTR_RELATIME
        };
        Some((mode, nodiratime))
    }

    /// Whether an option explicitly clears the access-time setting `mode`/`nodiratime` has.
    fn clears_atime(&self, mode: u64, nodiratime: bool) -> bool {
        let slot = match mode {
            MOUNT_ATTR_NOATIME => self.noatime,
            MOUNT_ATTR_STRICTATIME => self.strictatime,
            _ => self.relatime,
        };
        slot == Some(false) || (nodiratime && self.clr & NODIRATIME != 0)
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
    /// `idmap` (Some(false)) or `ridmap` (Some(true)).
    pub idmap: Option<bool>,
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
    /// Some mount(2) flag was named, set or cleared (anything but the extensions, `defaults`,
    /// propagation and the `r*` attributes): a bind then gets exactly the flags asked for.
    pub sets_flags: bool,
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
            parsed.sets_flags |= match *effect {
                // iversion, silent and their opposites are mount(2) flags to runc.
                Effect::None => option != "defaults",
                Effect::ReadOnly(_) | Effect::Superblock(..) => true,
                Effect::Attr { recursive, .. } | Effect::Atime { recursive, .. } => !recursive,
                _ => false,
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
                Effect::IdMap { recursive } => {
                    parsed.idmap = Some(recursive || parsed.idmap == Some(true))
                }
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

    /// A bind's own attributes, the way runc 1.2+ sets them (`mount --bind -o OPTS`): exactly
    /// the flags asked for, the others cleared, and the access time left as the source has it
    /// unless an access-time option is set. None when no flag was named at all: the bind
    /// keeps its source's flags. (runc 1.1 made this remount only when a flag was *set*, so
    /// `rw` or `suid` alone left the source's flags; 1.2 counts the clearing options too.)
    pub fn bind_attr(&self) -> Option<MountAttr> {
        if !self.sets_flags {
            return None;
        }
        let asked = self.mount_attrs();
        let set = asked.set & BIND_FLAGS;
        let mut attr = MountAttr {
            attr_set: set,
            attr_clr: BIND_FLAGS & !set,
            ..MountAttr::default()
        };
        if let Some((mode, nodiratime)) = asked.bind_atime() {
            attr.attr_set |= mode;
            attr.attr_clr |= ATIME_MASK;
            if nodiratime {
                attr.attr_set |= NODIRATIME;
            } else {
                attr.attr_clr |= NODIRATIME;
            }
        }
        Some(attr)
    }

    /// What runc 1.2+ retries with when the kernel refused a bind's `attr` because flags are
    /// locked on the source (a user namespace's mount namespace inherits the host's mounts
    /// with nosuid, nodev, noexec, ro and the access time locked): the source's lockable
    /// flags and access time kept, everything else as asked. None when the config itself
    /// cleared a flag the source has, or asked for another access time: that mount cannot be
    /// made as asked, and the first error stands. `source` is the mount's statfs f_flags.
    pub fn keep_locked(&self, attr: MountAttr, source: u64) -> Option<MountAttr> {
        let asked = self.mount_attrs();
        let mut held = 0;
        for (st, attr) in [
            (ST_RDONLY, RDONLY),
            (ST_NOSUID, NOSUID),
            (ST_NODEV, NODEV),
            (ST_NOEXEC, NOEXEC),
        ] {
            if source & st != 0 {
                held |= attr;
            }
        }
        let mode = if source & ST_NOATIME != 0 {
            MOUNT_ATTR_NOATIME
        } else if source & ST_RELATIME != 0 {
            MOUNT_ATTR_RELATIME
        } else {
            MOUNT_ATTR_STRICTATIME
        };
        let nodiratime = source & ST_NODIRATIME != 0;
        if asked.clr & held & LOCKABLE != 0 || asked.clears_atime(mode, nodiratime) {
            return None;
        }
        if asked.bind_atime().is_some_and(|a| a != (mode, nodiratime)) {
            return None;
        }
        Some(MountAttr {
            attr_set: (attr.attr_set | held) & !(ATIME_MASK | NODIRATIME),
            attr_clr: attr.attr_clr & !held & !(ATIME_MASK | NODIRATIME),
            ..attr
        })
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
    fn a_bind_gets_exactly_the_flags_named_as_runc_1_2_does() {
        // No flag at all: the source's flags stay.
        assert_eq!(parse(&["rbind", "rprivate", "rro"]).bind_attr(), None);
        assert_eq!(parse(&["bind", "defaults"]).bind_attr(), None);
        // `ro` alone: read-only, and nosuid/nodev/noexec/nosymfollow cleared; atime kept.
        let a = parse(&["bind", "ro"]).bind_attr().unwrap();
        assert_eq!(a.attr_set, RDONLY);
        assert_eq!(a.attr_clr, NOSUID | NODEV | NOEXEC | NOSYMFOLLOW);
        // A clearing option alone counts too (runc 1.2; 1.1 left the source's flags).
        let a = parse(&["bind", "rw"]).bind_attr().unwrap();
        assert_eq!(a.attr_set, 0);
        assert_eq!(a.attr_clr, BIND_FLAGS);
        // An access time set: the whole access-time state is the one asked for.
        let a = parse(&["bind", "nosuid", "noatime"]).bind_attr().unwrap();
        assert_eq!(a.attr_set, NOSUID | MOUNT_ATTR_NOATIME);
        assert_eq!(
            a.attr_clr & (ATIME_MASK | NODIRATIME),
            ATIME_MASK | NODIRATIME
        );
        let a = parse(&["bind", "nodiratime"]).bind_attr().unwrap();
        assert_eq!(a.attr_set, NODIRATIME | MOUNT_ATTR_RELATIME);
        assert_eq!(a.attr_clr & ATIME_MASK, ATIME_MASK);
        // Only clearing atime options: mount(2) keeps the mount's access time.
        let a = parse(&["bind", "atime"]).bind_attr().unwrap();
        assert_eq!(a.attr_clr & (ATIME_MASK | NODIRATIME), 0);
    }

    #[test]
    fn locked_source_flags_are_kept_unless_the_config_clears_them() {
        let src = ST_NOSUID | ST_NODEV | ST_RELATIME;
        let o = parse(&["bind", "ro"]);
        let retry = o.keep_locked(o.bind_attr().unwrap(), src).unwrap();
        assert_eq!(retry.attr_set, RDONLY | NOSUID | NODEV);
        assert_eq!(retry.attr_clr, NOEXEC | NOSYMFOLLOW);
        // `suid` asked explicitly on a nosuid source: no retry, the error stands.
        let o = parse(&["bind", "ro", "suid"]);
        assert_eq!(o.keep_locked(o.bind_attr().unwrap(), src), None);
        let o = parse(&["bind", "rw"]);
        assert_eq!(o.keep_locked(o.bind_attr().unwrap(), ST_RDONLY), None);
        // An access time other than the source's cannot be had; the same one can.
        let o = parse(&["bind", "noatime"]);
        assert_eq!(o.keep_locked(o.bind_attr().unwrap(), src), None);
        let o = parse(&["bind", "nodev", "relatime"]);
        let retry = o.keep_locked(o.bind_attr().unwrap(), src).unwrap();
        assert_eq!(retry.attr_set, NOSUID | NODEV);
        assert_eq!(retry.attr_clr & (ATIME_MASK | NODIRATIME), 0);
        // A source with neither noatime nor relatime is strictatime.
        let o = parse(&["bind", "strictatime"]);
        assert!(o.keep_locked(o.bind_attr().unwrap(), ST_NOSUID).is_some());
        let o = parse(&["bind", "atime"]);
        assert_eq!(o.keep_locked(o.bind_attr().unwrap(), ST_NOATIME), None);
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
