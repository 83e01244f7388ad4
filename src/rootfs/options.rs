//! Mount options: the one table that maps config.json's option strings to mount flags,
//! recursive attributes and propagation. `features` lists the names from here.

use nix::mount::MsFlags;

/// What an option does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Set (true) or clear (false) a mount(2) flag.
    Flag(bool, MsFlags),
    /// Set (true) or clear (false) a mount attribute on the whole tree (mount_setattr
    /// with AT_RECURSIVE): the `r*` options.
    Recursive(bool, u64),
    /// A propagation type (applied after the mount).
    Propagation(MsFlags),
    /// Copy the destination's contents into a new tmpfs.
    TmpCopyUp,
}

const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

// MOUNT_ATTR_* from linux/mount.h.
pub const ATTR_RDONLY: u64 = 0x1;
pub const ATTR_NOSUID: u64 = 0x2;
pub const ATTR_NODEV: u64 = 0x4;
pub const ATTR_NOEXEC: u64 = 0x8;
pub const ATTR_RELATIME: u64 = 0x0;
pub const ATTR_NOATIME: u64 = 0x10;
pub const ATTR_STRICTATIME: u64 = 0x20;
pub const ATTR_ATIME_MASK: u64 = 0x70;
pub const ATTR_NODIRATIME: u64 = 0x80;
pub const ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

use Effect::*;

pub const TABLE: &[(&str, Effect)] = &[
    ("async", Flag(false, MsFlags::MS_SYNCHRONOUS)),
    ("atime", Flag(false, MsFlags::MS_NOATIME)),
    ("bind", Flag(true, MsFlags::MS_BIND)),
    ("defaults", Flag(true, MsFlags::empty())),
    ("dev", Flag(false, MsFlags::MS_NODEV)),
    ("diratime", Flag(false, MsFlags::MS_NODIRATIME)),
    ("dirsync", Flag(true, MsFlags::MS_DIRSYNC)),
    ("exec", Flag(false, MsFlags::MS_NOEXEC)),
    ("iversion", Flag(true, MsFlags::MS_I_VERSION)),
    ("lazytime", Flag(true, MsFlags::MS_LAZYTIME)),
    ("loud", Flag(false, MsFlags::MS_SILENT)),
    ("mand", Flag(true, MsFlags::MS_MANDLOCK)),
    ("noatime", Flag(true, MsFlags::MS_NOATIME)),
    ("nodev", Flag(true, MsFlags::MS_NODEV)),
    ("nodiratime", Flag(true, MsFlags::MS_NODIRATIME)),
    ("noexec", Flag(true, MsFlags::MS_NOEXEC)),
    ("noiversion", Flag(false, MsFlags::MS_I_VERSION)),
    ("nolazytime", Flag(false, MsFlags::MS_LAZYTIME)),
    ("nomand", Flag(false, MsFlags::MS_MANDLOCK)),
    ("norelatime", Flag(false, MsFlags::MS_RELATIME)),
    ("nostrictatime", Flag(false, MsFlags::MS_STRICTATIME)),
    ("nosuid", Flag(true, MsFlags::MS_NOSUID)),
    ("nosymfollow", Flag(true, MS_NOSYMFOLLOW)),
    ("rbind", Flag(true, MsFlags::MS_BIND.union(MsFlags::MS_REC))),
    ("relatime", Flag(true, MsFlags::MS_RELATIME)),
    ("remount", Flag(true, MsFlags::MS_REMOUNT)),
    ("ro", Flag(true, MsFlags::MS_RDONLY)),
    ("rw", Flag(false, MsFlags::MS_RDONLY)),
    ("silent", Flag(true, MsFlags::MS_SILENT)),
    ("strictatime", Flag(true, MsFlags::MS_STRICTATIME)),
    ("suid", Flag(false, MsFlags::MS_NOSUID)),
    ("symfollow", Flag(false, MS_NOSYMFOLLOW)),
    ("sync", Flag(true, MsFlags::MS_SYNCHRONOUS)),
    ("private", Propagation(MsFlags::MS_PRIVATE)),
    (
        "rprivate",
        Propagation(MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ),
    ("shared", Propagation(MsFlags::MS_SHARED)),
    (
        "rshared",
        Propagation(MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ),
    ("slave", Propagation(MsFlags::MS_SLAVE)),
    (
        "rslave",
        Propagation(MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ),
    ("unbindable", Propagation(MsFlags::MS_UNBINDABLE)),
    (
        "runbindable",
        Propagation(MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
    ),
    ("rro", Recursive(true, ATTR_RDONLY)),
    ("rrw", Recursive(false, ATTR_RDONLY)),
    ("rnosuid", Recursive(true, ATTR_NOSUID)),
    ("rsuid", Recursive(false, ATTR_NOSUID)),
    ("rnodev", Recursive(true, ATTR_NODEV)),
    ("rdev", Recursive(false, ATTR_NODEV)),
    ("rnoexec", Recursive(true, ATTR_NOEXEC)),
    ("rexec", Recursive(false, ATTR_NOEXEC)),
    ("rnodiratime", Recursive(true, ATTR_NODIRATIME)),
    ("rdiratime", Recursive(false, ATTR_NODIRATIME)),
    ("rrelatime", Recursive(true, ATTR_RELATIME)),
    ("rnorelatime", Recursive(false, ATTR_RELATIME)),
    ("rnoatime", Recursive(true, ATTR_NOATIME)),
    ("ratime", Recursive(false, ATTR_NOATIME)),
    ("rstrictatime", Recursive(true, ATTR_STRICTATIME)),
    ("rnostrictatime", Recursive(false, ATTR_STRICTATIME)),
    ("rnosymfollow", Recursive(true, ATTR_NOSYMFOLLOW)),
    ("rsymfollow", Recursive(false, ATTR_NOSYMFOLLOW)),
    ("tmpcopyup", TmpCopyUp),
];

/// A mount's options, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub flags: MsFlags,
    /// Flags an option cleared explicitly (so a bind remount does not keep them).
    pub cleared: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub attr_set: u64,
    pub attr_clr: u64,
    pub tmpcopyup: bool,
    /// Everything else goes to the filesystem as its data string (`mode=755`, `size=64k`).
    pub data: Vec<String>,
}

impl Parsed {
    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

pub fn parse(options: &[String]) -> Parsed {
    let mut p = Parsed {
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        propagation: Vec::new(),
        attr_set: 0,
        attr_clr: 0,
        tmpcopyup: false,
        data: Vec::new(),
    };
    for opt in options {
        match TABLE.iter().find(|(name, _)| name == opt).map(|(_, e)| *e) {
            Some(Flag(true, f)) => {
                p.flags |= f;
                p.cleared -= f;
            }
            Some(Flag(false, f)) => {
                p.flags -= f;
                p.cleared |= f;
            }
            Some(Recursive(true, a)) => {
                if a & ATTR_ATIME_MASK != 0 || a == ATTR_RELATIME {
                    p.attr_clr |= ATTR_ATIME_MASK;
                }
                p.attr_set |= a;
            }
            Some(Recursive(false, a)) => p.attr_clr |= a,
            Some(Propagation(f)) => p.propagation.push(f),
            Some(TmpCopyUp) => p.tmpcopyup = true,
            None => p.data.push(opt.clone()),
        }
    }
    p
}

/// Every option name in the table (for `features`).
pub fn names() -> Vec<&'static str> {
    TABLE.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_data_and_propagation() {
        let p = parse(&s(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "rslave",
            "ro",
        ]));
        assert_eq!(
            p.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY
        );
        assert_eq!(p.data().as_deref(), Some("mode=755,size=65536k"));
        assert_eq!(p.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    }

    #[test]
    fn later_options_win() {
        let p = parse(&s(&["ro", "rw"]));
        assert!(!p.flags.contains(MsFlags::MS_RDONLY));
        assert!(p.cleared.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn recursive_and_extensions() {
        let p = parse(&s(&["rbind", "rro", "rnoexec", "tmpcopyup", "nosymfollow"]));
        assert!(p.is_bind() && p.flags.contains(MsFlags::MS_REC));
        assert_eq!(p.attr_set, ATTR_RDONLY | ATTR_NOEXEC);
        assert!(p.tmpcopyup);
        assert!(p.flags.contains(MS_NOSYMFOLLOW));
    }
}
