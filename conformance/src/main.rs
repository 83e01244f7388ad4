//! hull-conformance: an OCI runtime-spec conformance suite that drives any runtime through
//! runc's command-line contract and checks the results, from inside containers with a static
//! probe and from the host.
//!
//! `hull-conformance --runtime PATH [--filter REGEX] [--probe PATH] [--oci-version V]
//! [--jobs N] [--list]`

mod bundle;
mod cases;
mod console;
mod ctx;
mod host;
mod tap;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{bail, Context, Result};

use cases::Verdict;
use ctx::{Ctx, Target};

struct Options {
    runtime: PathBuf,
    filter: Option<regex::Regex>,
    probe: Option<PathBuf>,
    oci_version: String,
    jobs: usize,
    list: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: hull-conformance --runtime PATH [--filter REGEX] [--probe PATH] \
         [--oci-version V] [--jobs N] [--list]"
    );
    std::process::exit(2)
}

fn parse_args() -> Result<Options> {
    let mut o = Options {
        runtime: PathBuf::new(),
        filter: None,
        probe: std::env::var_os("HULL_PROBE").map(PathBuf::from),
        // crun 1.8 wants 1.0.x; runc and hull accept it too.
        oci_version: "1.0.2".into(),
        jobs: 2,
        list: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--runtime" => o.runtime = PathBuf::from(value()),
            "--filter" => o.filter = Some(regex::Regex::new(&value()).context("--filter")?),
            "--probe" => o.probe = Some(PathBuf::from(value())),
            "--oci-version" => o.oci_version = value(),
            "--jobs" => o.jobs = value().parse().context("--jobs")?,
            "--list" => o.list = true,
            _ => usage(),
        }
    }
    if o.runtime.as_os_str().is_empty() && !o.list {
        usage();
    }
    Ok(o)
}

/// The probe: --probe, $HULL_PROBE, or where hack/test.sh builds it (target/probe).
fn find_probe(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/hull-conformance → target/probe/debug/hull-probe
    if let Some(target) = exe.parent().and_then(|p| p.parent()) {
        let p = target.join("probe/debug/hull-probe");
        if p.exists() {
            return Ok(p);
        }
    }
    bail!("no probe: build it (hack/test.sh's build lane) or pass --probe")
}

fn main() -> Result<()> {
    let o = parse_args()?;
    let selected: Vec<_> = cases::all()
        .into_iter()
        .filter(|c| o.filter.as_ref().is_none_or(|f| f.is_match(c.name)))
        .collect();
    if o.list {
        for c in &selected {
            println!("{}\t{}\t{}", c.name, c.spec, c.quote);
        }
        return Ok(());
    }
    let runtime = std::fs::canonicalize(&o.runtime)
        .with_context(|| format!("runtime {}", o.runtime.display()))?;
    let base = std::env::temp_dir().join(format!("hull-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    let target = Target {
        bin: runtime,
        probe: find_probe(o.probe)?,
        oci_version: o.oci_version,
        base: base.clone(),
    };

    println!("TAP version 13");
    println!("# runtime: {}", target.bin.display());
    println!("1..{}", selected.len());
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let mut tally = tap::Tally::default();
    std::thread::scope(|s| {
        for _ in 0..o.jobs.max(1) {
            let tx = tx.clone();
            let (next, selected, target) = (&next, &selected, &target);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = selected.get(i) else { break };
                let result = run_case(target, i + 1, case);
                if tx.send((i, result)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Print in order as results arrive, so the output is the same at any --jobs.
        let mut pending = std::collections::BTreeMap::new();
        let mut printed = 0;
        for (i, result) in rx {
            pending.insert(i, result);
            while let Some(r) = pending.remove(&printed) {
                let c = selected[printed];
                tally.report(printed + 1, c, &r);
                printed += 1;
            }
        }
    });
    let _ = std::fs::remove_dir(&base);
    println!("{}", tally.summary());
    if tally.failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn run_case(target: &Target, n: usize, case: &cases::Case) -> Result<(), Verdict> {
    let mut ctx = Ctx::new(target, n).map_err(Verdict::from)?;
    // A panicking case is a failing case, and its cleanup (Ctx's drop) still runs.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.run)(&mut ctx)))
        .unwrap_or_else(|_| Err(Verdict::Fail("the case panicked".into())))
}
