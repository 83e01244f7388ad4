//! A process id: the type of the pids the runtime makes (init, exec'd processes) and hands
//! from spawn to create, exec, restore and the foreground wait.
//!
//! rustix's `Pid` cannot hold 0 (its `from_raw` answers an `Option`), which would put an
//! unwrap at every call site that carries a pid from state.json or a clone; this one holds the
//! number as the kernel gave it and converts at each rustix call ([`Pid::to_rustix`]).

use std::fmt;

/// A process id. `Debug` prints `Pid(42)`, `Display` the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(i32);

impl Pid {
    pub const fn from_raw(pid: i32) -> Pid {
        Pid(pid)
    }

    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// The pid for rustix's calls; `None` for 0 and negative numbers, which kill(2) and
    /// waitpid(2) read as process groups or "any child", never as this one process.
    pub fn to_rustix(self) -> Option<rustix::process::Pid> {
        if self.0 > 0 {
            rustix::process::Pid::from_raw(self.0)
        } else {
            None
        }
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_before_and_converts_only_real_pids() {
        let pid = Pid::from_raw(42);
        assert_eq!(format!("{pid}"), "42");
        assert_eq!(format!("{pid:?}"), "Pid(42)");
        assert_eq!(pid.to_rustix().map(|p| p.as_raw_nonzero().get()), Some(42));
        assert!(Pid::from_raw(0).to_rustix().is_none());
        assert!(Pid::from_raw(-1).to_rustix().is_none());
    }
}
