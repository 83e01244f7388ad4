//! Unpacks and pulls stopped in the middle of a layer. One layer's blob in the test's
//! layout is a FIFO that the test feeds, so hull-image is held at a known point of the
//! extraction: half the layer read. Killed there (SIGKILL: no cleanup code runs), nothing
//! it leaves is taken for complete, and the next run cleans it up; a run that is still
//! going is not taken for a leftover. Also: flattening a local image uses one prefetch
//! thread, whatever `--jobs` says. Needs root (the layer store).

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

struct Image {
    layout: PathBuf,
    big_blob: PathBuf,
    big_data: Vec<u8>,
    big_diff: String,
}

impl Image {
    /// Four layers; the second (1 MiB of noise, gzip) is the one that gets held. The
    /// last two are bigger than a prefetch queue: threads that decompress them ahead
    /// block, alive, until the held layer is through.
    fn new(at: &Path) -> Image {
        let mut img = Layout::new(at);
        img.layer(&[file("a", b"first")], Compression::Gzip);
        let big_entries = [file("big", &noise(1 << 20))];
        let big = img.layer(&big_entries, Compression::Gzip);
        img.layer(&[file("c", &noise(768 << 10))], Compression::Gzip);
        img.layer(&[file("d", &noise(768 << 10))], Compression::Gzip);
        img.finish("t");
        let big_blob = img.blob_path(&big);
        Image {
            layout: at.to_path_buf(),
            big_data: fs::read(&big_blob).unwrap(),
            big_blob,
            big_diff: sha256(&layer_tar(&big_entries)),
        }
    }

    fn reference(&self) -> String {
        format!("oci:{}:t", self.layout.display())
    }

    /// Makes the big blob a FIFO and feeds it: the first half now, the rest when told.
    fn hold(&self) -> Feeder {
        let _ = fs::remove_file(&self.big_blob);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &self.big_blob,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let (half_tx, half_rx) = mpsc::channel();
        let (rest_tx, rest_rx) = mpsc::channel::<bool>();
        let path = self.big_blob.clone();
        let data = self.big_data.clone();
        std::thread::spawn(move || {
            // Non-blocking open: ENXIO until a reader has it open; a reader that never
            // comes must not hang the test.
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut fifo = loop {
                match fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                    .open(&path)
                {
                    Ok(f) => break f,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => panic!("nobody opened {}: {e}", path.display()),
                }
            };
            rustix::fs::fcntl_setfl(&fifo, rustix::fs::OFlags::empty()).unwrap();
            let half = data.len() / 2;
            // Returns once the reader took all but a pipe's worth: mid-layer.
            if fifo.write_all(&data[..half]).is_err() {
                return;
            }
            let _ = half_tx.send(());
            if rest_rx.recv() == Ok(true) {
                let _ = fifo.write_all(&data[half..]);
            }
        });
        Feeder {
            half: half_rx,
            rest: rest_tx,
        }
    }

    /// The big blob as a plain file again.
    fn restore(&self) {
        let _ = fs::remove_file(&self.big_blob);
        fs::write(&self.big_blob, &self.big_data).unwrap();
    }
}

struct Feeder {
    half: mpsc::Receiver<()>,
    rest: mpsc::Sender<bool>,
}

impl Feeder {
    /// Waits until `child` has read half the big layer.
    fn wait_half(&self, child: &mut Child) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if self.half.recv_timeout(Duration::from_millis(50)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("hull-image ended before it read half the layer: {status}: {err}");
            }
            assert!(Instant::now() < deadline, "hull-image never read the layer");
        }
    }

    fn finish(self) {
        let _ = self.rest.send(true);
    }
}

fn spawn(args: &[&str]) -> Child {
    Command::new(hull_image())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Waits for `child`, killing it if it runs for more than two minutes (a hang).
fn wait(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            kill(child);
            panic!("hull-image hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "hull-image failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn has_layer(store: &Path, diff: &str) -> bool {
    store
        .join("layers/sha256")
        .join(diff.strip_prefix("sha256:").unwrap())
        .exists()
}

#[test]
fn killed_pull_leaves_no_layer_and_the_next_run_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::new(&tmp.path().join("img"));
    let store = tmp.path().join("store");
    let s = store.to_str().unwrap();
    let reference = img.reference();

    let feeder = img.hold();
    let mut child = spawn(&["pull", "--store", s, &reference]);
    feeder.wait_half(&mut child);
    kill(child);
    // Half a layer was extracted: it is in tmp/, not under layers/, and no image is
    // recorded.
    assert!(!has_layer(&store, &img.big_diff));
    assert!(
        !entries(&store.join("tmp")).is_empty(),
        "nothing was extracting"
    );
    assert!(entries(&store.join("images")).is_empty());

    // The next run, alone in the store, removes the leftover (no gc needed) and
    // completes.
    img.restore();
    ok(wait(spawn(&["pull", "--store", s, &reference])));
    assert!(has_layer(&store, &img.big_diff));
    assert_eq!(
        fs::read(
            store
                .join("layers/sha256")
                .join(img.big_diff.strip_prefix("sha256:").unwrap())
                .join("big")
        )
        .unwrap(),
        noise(1 << 20)
    );
    assert!(entries(&store.join("tmp")).is_empty(), "leftover kept");
    assert_eq!(entries(&store.join("images")).len(), 1);

    // A run that is still extracting is not taken for a leftover: another command on
    // the store meanwhile leaves its work alone, and it completes.
    let other = tmp.path().join("store2");
    let s2 = other.to_str().unwrap();
    let feeder = img.hold();
    let mut running = spawn(&["pull", "--store", s2, &reference]);
    feeder.wait_half(&mut running);
    let in_progress = entries(&other.join("tmp"));
    assert!(!in_progress.is_empty());
    ok(wait(spawn(&["ls", "--store", s2])));
    assert_eq!(entries(&other.join("tmp")), in_progress);
    feeder.finish();
    ok(wait(running));
    assert!(has_layer(&other, &img.big_diff));
    assert!(entries(&other.join("tmp")).is_empty());
    img.restore();
}

#[test]
fn killed_flatten_leaves_no_bundle_and_the_next_run_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::new(&tmp.path().join("img"));
    let reference = img.reference();
    let bundle = tmp.path().join("bundle");
    let b = bundle.to_str().unwrap();
    let partial = tmp.path().join(".bundle.hull-image-partial");

    let feeder = img.hold();
    let mut child = spawn(&["unpack", &reference, b]);
    feeder.wait_half(&mut child);
    kill(child);
    assert!(!bundle.exists(), "a killed unpack published its bundle");
    assert!(partial.exists(), "nothing was extracting");

    // While an unpack to the bundle runs, a second one refuses (it would remove the
    // first one's work) and the first completes.
    let feeder = img.hold();
    let mut first = spawn(&["unpack", &reference, b]);
    feeder.wait_half(&mut first);
    let second = wait(spawn(&["unpack", &reference, b]));
    assert!(!second.status.success());
    let e = String::from_utf8_lossy(&second.stderr);
    assert!(e.contains("another hull-image unpack is making it"), "{e}");
    feeder.finish();
    ok(wait(first));
    assert_eq!(fs::read(bundle.join("rootfs/big")).unwrap(), noise(1 << 20));
    assert!(!partial.exists());
    img.restore();

    // Killed again into a fresh bundle; the next unpack there removes the leftover.
    let bundle2 = tmp.path().join("bundle2");
    let partial2 = tmp.path().join(".bundle2.hull-image-partial");
    let feeder = img.hold();
    let mut child = spawn(&["unpack", &reference, bundle2.to_str().unwrap()]);
    feeder.wait_half(&mut child);
    kill(child);
    assert!(partial2.exists() && !bundle2.exists());
    img.restore();
    ok(wait(spawn(&[
        "unpack",
        &reference,
        bundle2.to_str().unwrap(),
    ])));
    assert!(!partial2.exists());
    assert_eq!(
        fs::read(bundle2.join("rootfs/d")).unwrap(),
        noise(768 << 10)
    );
}

/// Threads of a process, the most seen over a short while.
fn threads(pid: u32) -> usize {
    (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            entries(&PathBuf::from(format!("/proc/{pid}/task"))).len()
        })
        .max()
        .unwrap()
}

#[test]
fn local_flatten_uses_one_prefetch_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::new(&tmp.path().join("img"));
    let bundle = tmp.path().join("bundle");
    let feeder = img.hold();
    let mut child = spawn(&[
        "unpack",
        "--jobs",
        "3",
        &img.reference(),
        bundle.to_str().unwrap(),
    ]);
    feeder.wait_half(&mut child);
    // The main thread extracting, one thread decompressing ahead of it: a local image
    // has no download latency for more threads to hide, only more buffers to hold.
    assert_eq!(threads(child.id()), 2);
    feeder.finish();
    ok(wait(child));
    assert_eq!(fs::read(bundle.join("rootfs/big")).unwrap(), noise(1 << 20));
    img.restore();
}
