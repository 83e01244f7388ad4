//! OOM notification, so `events` reports an OOM kill when it happens instead of sampling a
//! counter. cgroup v1: an eventfd registered for memory.oom_control through
//! cgroup.event_control, which the kernel signals on every OOM in the cgroup (and once more
//! when the cgroup is removed). cgroup v2: inotify on memory.events, whose `oom` and
//! `oom_kill` counters the kernel bumps (and notifies) on every OOM.

use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::event::{eventfd, EventfdFlags};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};

use crate::{io, write, Error, Result};

/// A file descriptor that becomes readable when the cgroup may have had an OOM; [`take`]
/// then says how many.
///
/// [`take`]: OomWatch::take
pub struct OomWatch {
    kind: Kind,
}

enum Kind {
    V1 {
        efd: OwnedFd,
        /// The memory cgroup's directory: gone means the eventfd fired for the removal.
        dir: PathBuf,
        /// Held open while registered: the kernel ties the registration to this file.
        _control: File,
    },
    V2 {
        inotify: OwnedFd,
        events: PathBuf,
        seen: Counters,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    oom: u64,
    oom_kill: u64,
}

impl OomWatch {
    /// Registers for OOM notification on the v1 memory cgroup at `dir`.
    pub fn v1(dir: &Path) -> Result<OomWatch> {
        let oom_control = dir.join("memory.oom_control");
        let control = File::open(&oom_control).map_err(|e| io("open", &oom_control, e))?;
        let efd = eventfd(0, EventfdFlags::CLOEXEC)
            .map_err(|e| io("eventfd for", &oom_control, e.into()))?;
        write(
            &dir.join("cgroup.event_control"),
            &format!(
                "{} {}",
                std::os::fd::AsRawFd::as_raw_fd(&efd),
                std::os::fd::AsRawFd::as_raw_fd(&control)
            ),
        )?;
        Ok(OomWatch {
            kind: Kind::V1 {
                efd,
                dir: dir.to_path_buf(),
                _control: control,
            },
        })
    }

    /// Watches memory.events of the v2 cgroup at `dir`.
    pub fn v2(dir: &Path) -> Result<OomWatch> {
        let events = dir.join("memory.events");
        let inotify = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .map_err(|e| io("inotify for", &events, e.into()))?;
        inotify::add_watch(&inotify, &events, WatchFlags::MODIFY)
            .map_err(|e| io("watch", &events, e.into()))?;
        // Counted from now: OOMs before the watch started were not this watcher's.
        let seen = read_counters(&events)?;
        Ok(OomWatch {
            kind: Kind::V2 {
                inotify,
                events,
                seen,
            },
        })
    }

    /// Poll this for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.kind {
            Kind::V1 { efd, .. } => efd.as_fd(),
            Kind::V2 { inotify, .. } => inotify.as_fd(),
        }
    }

    /// After the fd polled readable: the number of OOMs since the last call, or `None` when
    /// the cgroup is gone (nothing more will come).
    pub fn take(&mut self) -> Result<Option<u64>> {
        match &mut self.kind {
            Kind::V1 { efd, dir, .. } => {
                // An eventfd reads as its 8-byte counter, reset to 0 by the read.
                let mut count = [0u8; 8];
                rustix::io::read(&*efd, &mut count)
                    .map_err(|e| io("read OOM eventfd of", dir, e.into()))?;
                let n = u64::from_ne_bytes(count);
                // The kernel also signals the eventfd when the cgroup is removed.
                if !dir.join("cgroup.event_control").exists() {
                    return Ok(None);
                }
                Ok(Some(n))
            }
            Kind::V2 {
                inotify,
                events,
                seen,
            } => {
                // Drain; EAGAIN only means the queue is empty.
                let mut buf = [MaybeUninit::uninit(); 4096];
                let mut reader = inotify::Reader::new(&*inotify, &mut buf);
                while let Ok(ev) = reader.next() {
                    if ev.events().contains(ReadFlags::IGNORED) {
                        break;
                    }
                }
                let now = match read_counters(events) {
                    Ok(c) => c,
                    Err(Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        return Ok(None)
                    }
                    Err(e) => return Err(e),
                };
                // An OOM is counted in `oom`; `oom_kill` only when a process was killed for
                // it (with memory.oom.group or no victim the two can differ).
                let n = (now.oom.saturating_sub(seen.oom))
                    .max(now.oom_kill.saturating_sub(seen.oom_kill));
                *seen = now;
                Ok(Some(n))
            }
        }
    }
}

fn read_counters(events: &Path) -> Result<Counters> {
    let text = std::fs::read_to_string(events).map_err(|e| io("read", events, e))?;
    Ok(parse_counters(&text))
}

fn parse_counters(text: &str) -> Counters {
    let mut c = Counters::default();
    for line in text.lines() {
        let mut kv = line.split_whitespace();
        let (Some(key), Some(value)) = (kv.next(), kv.next()) else {
            continue;
        };
        let value = value.parse().unwrap_or(0);
        match key {
            "oom" => c.oom = value,
            "oom_kill" => c.oom_kill = value,
            _ => {}
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_events_counters() {
        let c = parse_counters("low 0\nhigh 3\nmax 9\noom 2\noom_kill 1\noom_group_kill 0\n");
        assert_eq!(
            c,
            Counters {
                oom: 2,
                oom_kill: 1
            }
        );
        assert_eq!(parse_counters("garbage\n"), Counters::default());
    }
}
