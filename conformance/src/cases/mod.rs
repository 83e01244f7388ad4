//! The cases. Each names the spec section and quotes the sentence it checks; each asserts
//! something observable (a case never passes by default) and skips only naming what the host
//! lacks.

use crate::ctx::Ctx;

mod cgroups;
mod cli;
mod config;
mod features;
mod hooks;
mod lifecycle;
mod linux;
mod process;

pub enum Verdict {
    Fail(String),
    Skip(String),
}

impl From<anyhow::Error> for Verdict {
    fn from(e: anyhow::Error) -> Verdict {
        Verdict::Fail(format!("{e:#}"))
    }
}

pub type Res = Result<(), Verdict>;

pub struct Case {
    /// `area/what` — stable, used by --filter and in RESULTS.md.
    pub name: &'static str,
    /// The spec file and section, e.g. `runtime.md#create`.
    pub spec: &'static str,
    /// The sentence checked, quoted from the spec (or the runc CLI contract).
    pub quote: &'static str,
    pub run: fn(&mut Ctx) -> Res,
}

/// Fails the case with a message unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::cases::Verdict::Fail(format!($($arg)+)));
        }
    };
}

pub fn skip(why: impl Into<String>) -> Res {
    Err(Verdict::Skip(why.into()))
}

pub fn fail(why: impl Into<String>) -> Res {
    Err(Verdict::Fail(why.into()))
}

pub fn all() -> Vec<&'static Case> {
    [
        lifecycle::CASES,
        hooks::CASES,
        config::CASES,
        process::CASES,
        linux::CASES,
        cgroups::CASES,
        features::CASES,
        cli::CASES,
    ]
    .iter()
    .flat_map(|c| c.iter())
    .collect()
}
