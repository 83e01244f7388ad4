//! Load: 20 workers create, start, exec into and delete containers at once, for a fixed number
//! of rounds, while `list` is read all along. Nothing may leak, hang, or show a wrong state.
//! The only time bound is a generous watchdog that fails loudly instead of hanging the suite.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use hull_integration::*;

use crate::leftovers::assert_nothing_left;

const WORKERS: usize = 20;
const ROUNDS: usize = 3;

/// One worker's rounds; the first wrong answer is returned.
fn worker(rt: &Runtime, b: &Bundle, w: usize, marker: &str) -> Result<(), String> {
    let expect = |id: &str, want: Option<&str>, when: &str| -> Result<(), String> {
        let got = rt.status(id);
        if got.as_deref() == want {
            Ok(())
        } else {
            Err(format!("{id} {when}: state {got:?}, expected {want:?}"))
        }
    };
    for round in 0..ROUNDS {
        let id = format!("{marker}-w{w}-r{round}");
        let out = rt.create(&id, b);
        if !out.status.success() {
            return Err(format!("create {id}: {}", stderr(&out)));
        }
        expect(&id, Some("created"), "after create")?;
        let out = rt.cmd(&["start", &id]);
        if !out.status.success() {
            return Err(format!("start {id}: {}", stderr(&out)));
        }
        expect(&id, Some("running"), "after start")?;
        let out = rt.cmd(&["exec", &id, "sh", "-c", "echo exec-ok"]);
        if !stdout(&out).contains("exec-ok") {
            return Err(format!("exec {id}: {}", stderr(&out)));
        }
        expect(&id, Some("running"), "after exec")?;
        let out = rt.cmd(&["delete", "--force", &id]);
        if !out.status.success() {
            return Err(format!("delete {id}: {}", stderr(&out)));
        }
        expect(&id, None, "after delete")?;
    }
    Ok(())
}

#[test]
fn twenty_way_create_start_exec_delete_churn() {
    let rt = Arc::new(Runtime::new());
    let marker = unique("churn");
    let b = Arc::new(Bundle::sh(&format!("sleep 1000; : {marker}")));
    let stop = Arc::new(AtomicBool::new(false));

    // `list` all along: every entry in a state that exists, a pid only where one can be.
    let lister = {
        let (rt, stop) = (rt.clone(), stop.clone());
        std::thread::spawn(move || -> Result<usize, String> {
            let mut reads = 0;
            let mut seen = std::collections::BTreeMap::<String, usize>::new();
            while !stop.load(Ordering::Relaxed) {
                let out = rt.cmd(&["list", "-f", "json"]);
                if !out.status.success() {
                    return Err(format!("list: {}", stderr(&out)));
                }
                let list: serde_json::Value =
                    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
                for c in list.as_array().into_iter().flatten() {
                    let (status, pid) = (c["status"].as_str(), c["pid"].as_i64());
                    let fine = match status {
                        Some("created") | Some("running") => pid.is_some_and(|p| p > 0),
                        Some("creating") | Some("stopped") => pid == Some(0),
                        _ => false,
                    };
                    if !fine {
                        return Err(format!("list showed {c}"));
                    }
                    *seen
                        .entry(status.unwrap_or_default().to_string())
                        .or_default() += 1;
                }
                reads += 1;
            }
            eprintln!("list read {reads} times; statuses seen: {seen:?}");
            Ok(reads)
        })
    };

    let (done_tx, done_rx) = mpsc::channel();
    for w in 0..WORKERS {
        let (rt, b, marker, tx) = (rt.clone(), b.clone(), marker.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let _ = tx.send((w, worker(&rt, &b, w, &marker)));
        });
    }
    drop(done_tx);
    let mut failures = Vec::new();
    for _ in 0..WORKERS {
        // Generous: a round is a few runtime calls; a slow, busy machine takes seconds each.
        match done_rx.recv_timeout(Duration::from_secs(600)) {
            Ok((_, Ok(()))) => {}
            Ok((w, Err(e))) => failures.push(format!("worker {w}: {e}")),
            Err(e) => panic!("churn hung: no worker finished for 600 s ({e}); {failures:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let reads = lister.join().unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    let reads = reads.expect("list");
    assert!(reads > 0, "list never ran");

    for w in 0..WORKERS {
        for round in 0..ROUNDS {
            let id = format!("{marker}-w{w}-r{round}");
            assert_nothing_left(&rt, &id, &id, &marker);
        }
    }
    assert!(rt.ids().is_empty(), "left: {:?}", rt.ids());
}
