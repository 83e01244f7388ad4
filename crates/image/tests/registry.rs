//! `docker://` against a real registry on 127.0.0.1 (Debian's docker-registry, started per
//! test with a private root and port): anonymous pulls, basic auth over TLS with the
//! credential files podman and docker write, the token flow, a multi-platform index,
//! Docker media types, a corrupt blob, interrupted and resumed downloads, pull/ls/inspect.
//! Needs root, docker-registry, skopeo, htpasswd and openssl (hack/lanes/image.sh
//! installs them).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::registry::{Auth, Fault, Proxy, Registry, Silent, TokenServer};
use common::*;
use serde_json::{json, Value};

/// hull-image with no credentials or CA settings from the environment of the test run:
/// each test says what it gives.
fn hull(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(hull_image());
    cmd.args(args)
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "hull-image failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &Output) -> String {
    assert!(!out.status.success(), "hull-image should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct TestImage {
    layout: PathBuf,
    /// (blob digest, DiffID) of the big layer.
    big: (String, String),
}

/// Three layers: busybox, a 2 MB file, and changes with a whiteout (zstd).
fn test_image(at: &Path) -> TestImage {
    let mut img = Layout::new(at);
    img.run_config = json!({"Cmd": ["/bin/sh", "-c", "cat /etc/motd"], "Env": ["A=1"]});
    let mut base = busybox_entries();
    base.extend([
        file("etc/motd", b"from the registry\n"),
        file("etc/gone", b"x"),
        dir("srv").mode(0o2750).owner(1000, 50),
        file("srv/data", b"d").owner(1000, 50).xattr("user.k", b"v"),
        hardlink("srv/link", "srv/data"),
    ]);
    img.layer(&base, Compression::Gzip);
    // Uncompressed: a flipped byte still makes a well-formed tar, which only the digest
    // can tell from the real one.
    let big_entries = [file("big/blob", &noise(2 << 20))];
    let big = img.layer(&big_entries, Compression::None);
    let big_diff = sha256(&layer_tar(&big_entries));
    img.layer(
        &[file("etc/.wh.gone", b""), file("etc/added", b"a")],
        Compression::Zstd,
    );
    img.finish("v1");
    TestImage {
        layout: at.to_path_buf(),
        big: (big, big_diff),
    }
}

fn layer_dirs(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(store.join("layers/sha256"))
        .map(|d| {
            d.flatten()
                .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn no_leftovers(bundle: &Path) {
    assert!(!bundle.exists(), "{} exists", bundle.display());
    let parent = bundle.parent().unwrap();
    let name = bundle.file_name().unwrap().to_string_lossy();
    for e in fs::read_dir(parent).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        assert!(!n.contains(&*name), "left behind: {n}");
    }
}

struct Umount(Vec<PathBuf>);
impl Drop for Umount {
    fn drop(&mut self) {
        for b in &self.0 {
            let _ = Command::new(hull_image()).arg("umount").arg(b).output();
        }
    }
}

#[test]
fn anonymous_pull_unpack_overlay_ls_inspect() {
    let tmp = tempfile::tempdir().unwrap();
    let t = test_image(&tmp.path().join("img"));
    let reg = Registry::start(Auth::None);
    reg.push(
        &format!("oci:{}:v1", t.layout.display()),
        "team/app:v1",
        &[],
    );
    let image = format!("docker://{}/team/app:v1", reg.host());

    // Flattened from the registry: the same tree as from the layout.
    let from_registry = tmp.path().join("reg");
    let from_layout = tmp.path().join("lay");
    ok(&hull(
        &["unpack", &image, from_registry.to_str().unwrap()],
        &[],
    ));
    ok(&hull(
        &[
            "unpack",
            &format!("oci:{}:v1", t.layout.display()),
            from_layout.to_str().unwrap(),
        ],
        &[],
    ));
    let a = snapshot(&from_registry.join("rootfs"));
    assert!(a.contains_key("big/blob") && a.contains_key("etc/added"));
    assert!(!a.contains_key("etc/gone"));
    assert_eq!(a, snapshot(&from_layout.join("rootfs")));
    let (okay, stdout, stderr) = runc_run(&from_registry, &unique("reg"));
    assert!(okay, "{stderr}");
    assert_eq!(stdout, "from the registry\n");

    // Overlay: layers into the store; a pull of the same image fetches no blob (the proxy
    // counts blob requests).
    let store = tmp.path().join("store");
    let s = store.to_str().unwrap();
    let ovl = tmp.path().join("ovl");
    let _umount = Umount(vec![ovl.clone()]);
    ok(&hull(
        &[
            "unpack",
            "--overlay",
            "--store",
            s,
            &image,
            ovl.to_str().unwrap(),
        ],
        &[],
    ));
    assert_eq!(snapshot(&ovl.join("rootfs")), a);
    assert_eq!(layer_dirs(&store).len(), 3);
    let proxy = Proxy::start(reg.port);
    let via_proxy = format!("docker://127.0.0.1:{}/team/app:v1", proxy.port);
    let out = hull(&["pull", "--store", s, &via_proxy], &[]);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 layers extracted, 3 already"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inspected: Value =
        serde_json::from_str(&ok(&hull(&["inspect", "--json", &image], &[]))).unwrap();
    let targets = proxy.targets.lock().unwrap().clone();
    assert!(
        targets.iter().any(|t| t.contains("/manifests/v1")),
        "{targets:?}"
    );
    for l in inspected["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap();
        assert!(
            !targets.iter().any(|t| t.contains(d)),
            "{d} fetched again: {targets:?}"
        );
    }

    // ls: the pulled image, its layers used by it and by the bundle.
    let ls: Value = serde_json::from_str(&ok(&hull(&["ls", "--store", s, "--json"], &[]))).unwrap();
    assert_eq!(ls["images"][0]["name"], json!(via_proxy));
    assert_eq!(ls["images"][0]["layers"].as_array().unwrap().len(), 3);
    let bundles = ls["bundles"].as_array().unwrap();
    assert_eq!(bundles.len(), 1);
    assert_eq!(bundles[0]["mounted"], json!(true));
    assert_eq!(bundles[0]["image"], json!(image));
    for l in ls["layers"].as_array().unwrap() {
        let users = l["usedBy"].as_array().unwrap();
        assert_eq!(users.len(), 2, "{l}");
        assert!(l["size"].as_u64().unwrap() > 0);
    }
    let text = ok(&hull(&["ls", "--store", s], &[]));
    assert!(
        text.contains(&via_proxy) && text.contains("mounted"),
        "{text}"
    );

    // inspect: manifest, config and layers as the registry has them.
    let v: Value = serde_json::from_str(&ok(&hull(&["inspect", "--json", &image], &[]))).unwrap();
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    assert_eq!(layers[1]["digest"], json!(t.big.0));
    assert_eq!(layers[1]["diffID"], json!(t.big.1));
    assert!(layers[1]["size"].as_u64().unwrap() > 2 << 20);
    assert_eq!(
        v["config"]["config"]["Cmd"],
        json!(["/bin/sh", "-c", "cat /etc/motd"])
    );
    assert_eq!(v["manifest"]["layers"][1]["digest"], json!(t.big.0));
    let text = ok(&hull(&["inspect", &image], &[]));
    assert!(
        text.contains(&t.big.0) && text.contains("Layers:        3"),
        "{text}"
    );

    // rmi, umount, gc: nothing is left in use, so every layer goes.
    ok(&hull(&["rmi", "--store", s, &via_proxy], &[]));
    ok(&hull(&["umount", ovl.to_str().unwrap()], &[]));
    ok(&hull(&["gc", "--store", s], &[]));
    assert!(layer_dirs(&store).is_empty());
}

/// A layout with one image per platform under an OCI index.
fn multi_platform(dir: &Path) -> Layout {
    let mut img = Layout::new(dir);
    let mut descs = vec![];
    for arch in ["amd64", "arm64", "s390x"] {
        let mut one = Layout::new(dir);
        one.layer(&[file("arch", arch.as_bytes())], Compression::Gzip);
        let mut d = one.manifest(arch);
        d["platform"] = json!({"os": "linux", "architecture": arch});
        descs.push(d);
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs});
    let (digest, size) = img.blob(&serde_json::to_vec(&index).unwrap());
    img.tag(
        json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size}),
        "multi",
    );
    img
}

#[test]
fn multi_platform_index_docker_types_and_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(Auth::None);
    let img = multi_platform(&tmp.path().join("multi"));
    reg.push(
        &format!("oci:{}:multi", img.dir.display()),
        "multi:latest",
        &["--all"],
    );
    let host = hull_image::image::Platform::host().architecture;
    let b = tmp.path().join("host");
    // No tag: latest.
    ok(&hull(
        &[
            "unpack",
            &format!("docker://{}/multi", reg.host()),
            b.to_str().unwrap(),
        ],
        &[],
    ));
    assert_eq!(fs::read_to_string(b.join("rootfs/arch")).unwrap(), host);
    for arch in ["arm64", "s390x"] {
        let b = tmp.path().join(arch);
        ok(&hull(
            &[
                "unpack",
                "--platform",
                &format!("linux/{arch}"),
                &format!("docker://{}/multi:latest", reg.host()),
                b.to_str().unwrap(),
            ],
            &[],
        ));
        assert_eq!(fs::read_to_string(b.join("rootfs/arch")).unwrap(), arch);
    }
    let e = err(&hull(
        &[
            "unpack",
            "--platform",
            "linux/riscv64",
            &format!("docker://{}/multi", reg.host()),
            tmp.path().join("none").to_str().unwrap(),
        ],
        &[],
    ));
    assert!(
        e.contains("platform linux/riscv64") && e.contains("s390x"),
        "{e}"
    );
    no_leftovers(&tmp.path().join("none"));

    // Docker's media types (skopeo converts to schema 2), pinned by digest.
    let mut docker = Layout::new(&tmp.path().join("docker"));
    docker.layer(&[file("kind", b"docker")], Compression::Gzip);
    docker.finish("d");
    reg.push(
        &format!("oci:{}:d", docker.dir.display()),
        "dock:d",
        &["--format", "v2s2"],
    );
    let v: Value = serde_json::from_str(&ok(&hull(
        &[
            "inspect",
            "--json",
            &format!("docker://{}/dock:d", reg.host()),
        ],
        &[],
    )))
    .unwrap();
    assert_eq!(
        v["manifest"]["mediaType"],
        json!("application/vnd.docker.distribution.manifest.v2+json")
    );
    assert_eq!(
        v["layers"][0]["mediaType"],
        json!("application/vnd.docker.image.rootfs.diff.tar.gzip")
    );
    let skopeo: Value = serde_json::from_str(&common::registry::sh(
        Command::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{}/dock:d", reg.host())),
    ))
    .unwrap();
    let manifest = skopeo["Digest"].as_str().unwrap().to_string();
    assert_eq!(v["manifestDigest"], json!(manifest));
    let b = tmp.path().join("docker-bundle");
    ok(&hull(
        &[
            "unpack",
            &format!("docker://{}/dock@{manifest}", reg.host()),
            b.to_str().unwrap(),
        ],
        &[],
    ));
    assert_eq!(fs::read_to_string(b.join("rootfs/kind")).unwrap(), "docker");
    // A digest the registry does not have.
    let missing = format!("sha256:{}", "0".repeat(64));
    let e = err(&hull(
        &[
            "unpack",
            &format!("docker://{}/dock@{missing}", reg.host()),
            tmp.path().join("missing").to_str().unwrap(),
        ],
        &[],
    ));
    assert!(
        e.contains("not found") && e.contains("MANIFEST_UNKNOWN"),
        "{e}"
    );
}

fn auth_json(dir: &Path, key: &str, user: &str, pass: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join(if dir.ends_with("docker") {
        "config.json"
    } else {
        "auth.json"
    });
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    fs::write(&path, json!({"auths": {key: {"auth": auth}}}).to_string()).unwrap();
    path
}

#[test]
fn basic_auth_over_tls_and_credential_files() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(Auth::Htpasswd(vec![("alice", "s3cret")]));
    assert!(reg.tls);
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(&[file("secret", b"behind basic auth")], Compression::Gzip);
    img.finish("t");
    reg.push(
        &format!("oci:{}:t", img.dir.display()),
        "private/app:t",
        &["--dest-creds", "alice:s3cret"],
    );
    let image = format!("docker://{}/private/app:t", reg.host());
    let certs = reg.cert_dir();
    let certs_s = certs.to_str().unwrap();
    let n = std::cell::Cell::new(0);
    let bundle = || {
        n.set(n.get() + 1);
        tmp.path().join(format!("b{}", n.get()))
    };

    // No credentials: refused, with a hint; nothing left.
    let b = bundle();
    let e = err(&hull(
        &["unpack", "--cert-dir", certs_s, &image, b.to_str().unwrap()],
        &[],
    ));
    assert!(e.contains("--creds") && e.contains("podman login"), "{e}");
    no_leftovers(&b);
    // Wrong password.
    let b = bundle();
    let e = err(&hull(
        &[
            "unpack",
            "--cert-dir",
            certs_s,
            "--creds",
            "alice:nope",
            &image,
            b.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(e.contains("401"), "{e}");
    no_leftovers(&b);
    // The right password, but the certificate is not trusted.
    let b = bundle();
    let e = err(&hull(
        &[
            "unpack",
            "--creds",
            "alice:s3cret",
            &image,
            b.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(
        e.to_lowercase().contains("certificate") || e.contains("400"),
        "{e}"
    );
    no_leftovers(&b);

    let check = |b: &Path, out: Output| {
        ok(&out);
        assert_eq!(
            fs::read_to_string(b.join("rootfs/secret")).unwrap(),
            "behind basic auth"
        );
    };
    // --creds and --cert-dir.
    let b = bundle();
    check(
        &b,
        hull(
            &[
                "unpack",
                "--cert-dir",
                certs_s,
                "--creds",
                "alice:s3cret",
                &image,
                b.to_str().unwrap(),
            ],
            &[],
        ),
    );
    // podman's auth.json through REGISTRY_AUTH_FILE, the CA through the system roots'
    // SSL_CERT_FILE.
    let podman = auth_json(&tmp.path().join("podman"), &reg.host(), "alice", "s3cret");
    let b = bundle();
    check(
        &b,
        hull(
            &["unpack", &image, b.to_str().unwrap()],
            &[
                ("REGISTRY_AUTH_FILE", &podman),
                ("SSL_CERT_FILE", &certs.join("ca.crt")),
            ],
        ),
    );
    // docker's config.json, keyed by a URL as `docker login` writes it.
    let docker_dir = tmp.path().join("docker");
    auth_json(
        &docker_dir,
        &format!("https://{}", reg.host()),
        "alice",
        "s3cret",
    );
    let b = bundle();
    check(
        &b,
        hull(
            &["unpack", "--cert-dir", certs_s, &image, b.to_str().unwrap()],
            &[("DOCKER_CONFIG", &docker_dir)],
        ),
    );
    // podman's default auth.json under XDG_RUNTIME_DIR, keyed by repository namespace;
    // --insecure instead of the CA.
    let run = tmp.path().join("run");
    auth_json(
        &run.join("containers"),
        &format!("{}/private", reg.host()),
        "alice",
        "s3cret",
    );
    let b = bundle();
    check(
        &b,
        hull(
            &["unpack", "--insecure", &image, b.to_str().unwrap()],
            &[("XDG_RUNTIME_DIR", &run)],
        ),
    );
}

#[test]
fn token_auth_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(("bob", "pw"));
    let reg = Registry::start(Auth::Token(tokens.clone()));
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(&[file("hello", b"token")], Compression::Gzip);
    img.finish("t");
    let src = format!("oci:{}:t", img.dir.display());
    reg.push(&src, "public/app:t", &["--dest-creds", "bob:pw"]);
    reg.push(&src, "private/app:t", &["--dest-creds", "bob:pw"]);

    // The registry itself refuses a request without a token.
    let direct = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}/v2/public/app/manifests/t", reg.host()))
        .output();
    if let Ok(out) = direct {
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
        }
    }

    // Anonymous: a token for public/ (pull only), as public registries give.
    let issued = tokens.issued.load(Ordering::SeqCst);
    let b = tmp.path().join("public");
    ok(&hull(
        &[
            "unpack",
            &format!("docker://{}/public/app:t", reg.host()),
            b.to_str().unwrap(),
        ],
        &[],
    ));
    assert_eq!(fs::read_to_string(b.join("rootfs/hello")).unwrap(), "token");
    assert!(tokens.issued.load(Ordering::SeqCst) > issued);

    // private/ needs the user: refused anonymously, granted with the credentials.
    let refused = tokens.refused.load(Ordering::SeqCst);
    let b = tmp.path().join("anon-private");
    let e = err(&hull(
        &[
            "unpack",
            &format!("docker://{}/private/app:t", reg.host()),
            b.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(e.contains("--creds"), "{e}");
    assert!(tokens.refused.load(Ordering::SeqCst) > refused);
    no_leftovers(&b);
    let b = tmp.path().join("bob-private");
    let authfile = auth_json(&tmp.path().join("auth"), &reg.host(), "bob", "pw");
    ok(&hull(
        &[
            "unpack",
            "--authfile",
            authfile.to_str().unwrap(),
            &format!("docker://{}/private/app:t", reg.host()),
            b.to_str().unwrap(),
        ],
        &[],
    ));
    assert_eq!(fs::read_to_string(b.join("rootfs/hello")).unwrap(), "token");
    tokens.stop();
}

#[test]
fn corrupt_blob_is_refused_and_nothing_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let t = test_image(&tmp.path().join("img"));
    let reg = Registry::start(Auth::None);
    reg.push(&format!("oci:{}:v1", t.layout.display()), "app:v1", &[]);
    // One byte of the big layer flipped in the registry's storage: same size, other digest.
    let blob = reg.blob_file(&t.big.0);
    let mut data = fs::read(&blob).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    fs::write(&blob, data).unwrap();
    let image = format!("docker://{}/app:v1", reg.host());

    let b = tmp.path().join("flat");
    let e = err(&hull(&["unpack", &image, b.to_str().unwrap()], &[]));
    assert!(e.contains(&t.big.0) && e.contains("digest is"), "{e}");
    no_leftovers(&b);

    let store = tmp.path().join("store");
    let s = store.to_str().unwrap();
    let b = tmp.path().join("ovl");
    let _umount = Umount(vec![b.clone()]);
    let e = err(&hull(
        &[
            "unpack",
            "--overlay",
            "--store",
            s,
            &image,
            b.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(e.contains(&t.big.0), "{e}");
    no_leftovers(&b);
    let e = err(&hull(&["pull", "--store", s, &image], &[]));
    assert!(e.contains(&t.big.0), "{e}");
    assert!(
        !layer_dirs(&store).contains(&t.big.1),
        "the corrupt layer was published"
    );
    assert_eq!(fs::read_dir(store.join("tmp")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(store.join("images")).unwrap().count(), 0);
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(b.to_str().unwrap()));

    // A gzip layer with a byte flipped mid-stream: refused too (as a corrupt stream, before
    // the digest is reached), nothing kept.
    let mut img = Layout::new(&tmp.path().join("gz"));
    img.layer(&[file("data", &noise(256 << 10))], Compression::Gzip);
    let gz = img.layer(&[file("more", &noise(256 << 10))], Compression::Gzip);
    img.finish("t");
    reg.push(&format!("oci:{}:t", img.dir.display()), "gz:t", &[]);
    let blob = reg.blob_file(&gz);
    let mut data = fs::read(&blob).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    fs::write(&blob, data).unwrap();
    for overlay in [false, true] {
        let b = tmp.path().join(format!("gz-{overlay}"));
        let _umount = Umount(vec![b.clone()]);
        let mut args = vec!["unpack"];
        if overlay {
            args.extend(["--overlay", "--store", s]);
        }
        let image = format!("docker://{}/gz:t", reg.host());
        args.extend([image.as_str(), b.to_str().unwrap()]);
        let e = err(&hull(&args, &[]));
        assert!(e.contains(&gz), "{e}");
        no_leftovers(&b);
    }
    assert_eq!(fs::read_dir(store.join("tmp")).unwrap().count(), 0);
}

/// Starts hull-image, waits until the proxy holds the big blob's download, kills it.
fn kill_during_download(proxy: &Proxy, args: &[&str]) {
    let stalled = proxy.stalled.load(Ordering::SeqCst);
    let mut child = Command::new(hull_image())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.stalled.load(Ordering::SeqCst) == stalled {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("hull-image ended before the download stalled: {status}");
        }
        assert!(Instant::now() < deadline, "the download never stalled");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL: no cleanup code runs.
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The test image in a registry, served through a proxy that injects faults: the image's
/// reference goes through the proxy.
struct Proxied {
    t: TestImage,
    proxy: std::sync::Arc<Proxy>,
    /// Bound by the callers for as long as they pull: dropping it stops the registry.
    reg: Registry,
    image: String,
}

fn proxied(tmp: &Path) -> Proxied {
    let t = test_image(&tmp.join("img"));
    let reg = Registry::start(Auth::None);
    reg.push(&format!("oci:{}:v1", t.layout.display()), "app:v1", &[]);
    let proxy = Proxy::start(reg.port);
    let image = format!("docker://127.0.0.1:{}/app:v1", proxy.port);
    Proxied {
        t,
        proxy,
        reg,
        image,
    }
}

#[test]
fn interrupted_downloads_publish_nothing_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let Proxied {
        t,
        proxy,
        reg: _reg,
        image,
    } = proxied(tmp.path());
    let store = tmp.path().join("store");
    let s = store.to_str().unwrap();

    // Killed halfway through the big layer: it is not in the store, nor is the image.
    proxy.set(&t.big.0, Fault::Stall(1 << 20));
    kill_during_download(&proxy, &["pull", "--store", s, &image]);
    assert!(!layer_dirs(&store).contains(&t.big.1));
    assert_eq!(fs::read_dir(store.join("images")).unwrap().count(), 0);
    // A flattened unpack killed the same way leaves no bundle.
    let b = tmp.path().join("flat");
    kill_during_download(&proxy, &["unpack", &image, b.to_str().unwrap()]);
    assert!(!b.exists());

    // Retried with the network back: both complete, the leftovers are gone.
    proxy.set(&t.big.0, Fault::Pass);
    ok(&hull(&["pull", "--store", s, &image], &[]));
    assert!(layer_dirs(&store).contains(&t.big.1));
    ok(&hull(&["gc", "--store", s], &[]));
    assert_eq!(fs::read_dir(store.join("tmp")).unwrap().count(), 0);
    assert!(
        layer_dirs(&store).contains(&t.big.1),
        "a pulled image's layers stay"
    );
    ok(&hull(&["unpack", &image, b.to_str().unwrap()], &[]));
    assert_eq!(fs::read(b.join("rootfs/big/blob")).unwrap(), noise(2 << 20));
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A connection cut mid-blob is resumed with a Range request from where it broke.
    proxy.ranges.lock().unwrap().clear();
    proxy.set(&t.big.0, Fault::CutOnce(700 << 10));
    let b = tmp.path().join("resumed");
    ok(&hull(&["unpack", &image, b.to_str().unwrap()], &[]));
    assert_eq!(fs::read(b.join("rootfs/big/blob")).unwrap(), noise(2 << 20));
    let ranges = proxy.ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], None);
    let resumed_at: u64 = ranges[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{ranges:?}"));
    assert!(resumed_at > 0 && resumed_at < 700 << 10, "{resumed_at}");
}

/// hull-image, killed if it runs for more than two minutes: what a hang looks like here
/// (the runs below take seconds; the deadline only turns "forever" into a failure).
fn hull_no_hang(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(hull_image())
        .args(args)
        .env("HOME", home.path())
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("hull-image {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn stalled_registry_times_out_resumes_and_names_the_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let Proxied {
        t,
        proxy,
        reg: _reg,
        image,
    } = proxied(tmp.path());
    let fast = ["--read-timeout", "1", "--retries", "2"];

    // The big blob goes quiet once, mid-way: the read timeout ends that connection and
    // the download resumes from where it stopped.
    proxy.set(&t.big.0, Fault::StallOnce(700 << 10));
    let b = tmp.path().join("resumed");
    let mut args = vec!["unpack"];
    args.extend(fast);
    args.extend([image.as_str(), b.to_str().unwrap()]);
    ok(&hull_no_hang(&args));
    assert_eq!(fs::read(b.join("rootfs/big/blob")).unwrap(), noise(2 << 20));
    let ranges = proxy.ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert!(
        ranges[1]
            .as_deref()
            .is_some_and(|r| r.starts_with("bytes=")),
        "{ranges:?}"
    );

    // Quiet on every try: after --retries resumes it gives up, naming the registry, the
    // blob and the option; nothing is left behind, in a bundle or in the store.
    proxy.set(&t.big.0, Fault::Stall(256 << 10));
    let b = tmp.path().join("stalled");
    let mut args = vec!["unpack"];
    args.extend(fast);
    args.extend([image.as_str(), b.to_str().unwrap()]);
    let e = err(&hull_no_hang(&args));
    let registry = format!("registry 127.0.0.1:{}", proxy.port);
    assert!(e.contains(&registry), "{e}");
    assert!(e.contains(&format!("blob {}", t.big.0)), "{e}");
    assert!(
        e.contains("--read-timeout") && e.contains("after 2 resumes"),
        "{e}"
    );
    no_leftovers(&b);
    let store = tmp.path().join("store");
    let mut args = vec!["pull", "--store", store.to_str().unwrap()];
    args.extend(fast);
    args.push(&image);
    let e = err(&hull_no_hang(&args));
    assert!(e.contains(&registry) && e.contains(&t.big.0), "{e}");
    assert!(!layer_dirs(&store).contains(&t.big.1));
    assert_eq!(fs::read_dir(store.join("tmp")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(store.join("images")).unwrap().count(), 0);

    // A registry that accepts connections and never answers: a bounded failure that
    // names it, not a hang.
    let silent = Silent::start();
    let image = format!("docker://127.0.0.1:{}/app:v1", silent.port);
    let e = err(&hull_no_hang(&[
        "inspect",
        "--read-timeout",
        "1",
        "--retries",
        "1",
        &image,
    ]));
    assert!(e.contains(&format!("127.0.0.1:{}", silent.port)), "{e}");
    assert!(e.contains("--read-timeout"), "{e}");
}

/// A host name hull-image cannot tell is loopback without resolving it, so it gets
/// HTTPS only. It is given to hull-image in a mount namespace of its own, whose
/// /etc/hosts (a bind mount of a file in the test's temp dir) maps it to 127.0.0.1: the
/// machine's /etc/hosts is neither needed nor touched.
const ALIAS: &str = "hull-test-registry";

/// hull-image in a private mount namespace where `ALIAS` resolves to 127.0.0.1.
fn hull_with_alias(tmp: &Path, args: &[&str]) -> Output {
    let hosts = tmp.join("hosts");
    fs::write(&hosts, format!("127.0.0.1 localhost\n127.0.0.1 {ALIAS}\n")).unwrap();
    let home = tempfile::tempdir().unwrap();
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/hosts && shift && exec "$@""#)
        .arg("sh")
        .arg(&hosts)
        .arg(hull_image())
        .args(args)
        .env("HOME", home.path())
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("unshare (util-linux) is installed")
}

#[test]
fn plain_http_only_for_loopback_or_insecure() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(Auth::None);
    let mut img = Layout::new(&tmp.path().join("img"));
    img.layer(&[file("f", b"x")], Compression::Gzip);
    img.finish("t");
    reg.push(&format!("oci:{}:t", img.dir.display()), "a:t", &[]);
    // The same registry by its loopback address gets plain HTTP without asking.
    let b = tmp.path().join("direct");
    ok(&hull(
        &[
            "unpack",
            &format!("docker://127.0.0.1:{}/a:t", reg.port),
            b.to_str().unwrap(),
        ],
        &[],
    ));
    assert_eq!(fs::read_to_string(b.join("rootfs/f")).unwrap(), "x");
    // By a name: HTTPS only, unless --insecure.
    let image = format!("docker://{ALIAS}:{}/a:t", reg.port);
    let b = tmp.path().join("b");
    let e = err(&hull_with_alias(
        tmp.path(),
        &["unpack", &image, b.to_str().unwrap()],
    ));
    assert!(
        e.contains("plain HTTP is only tried for loopback hosts or with --insecure"),
        "{e}"
    );
    no_leftovers(&b);
    ok(&hull_with_alias(
        tmp.path(),
        &["unpack", "--insecure", &image, b.to_str().unwrap()],
    ));
    assert_eq!(fs::read_to_string(b.join("rootfs/f")).unwrap(), "x");
}
