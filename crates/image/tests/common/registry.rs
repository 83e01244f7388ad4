//! A real registry for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1,
//! with a private root and port, killed by pid when dropped; optionally with htpasswd
//! auth over TLS, or token auth against a token server run by the test. Images get there
//! with skopeo. And a one-request-per-connection TCP proxy that can cut or stall a blob
//! download.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "docker-registry exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("docker-registry did not listen on {port}");
}

pub enum Auth {
    None,
    /// htpasswd users, served over TLS with a self-signed certificate.
    Htpasswd(Vec<(&'static str, &'static str)>),
    /// Token auth: the registry trusts tokens signed by this test's key.
    Token(Arc<TokenServer>),
}

pub struct Registry {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
    pub tls: bool,
}

impl Registry {
    pub fn start(auth: Auth) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test\n",
            dir.path().join("data").display()
        );
        let mut tls = false;
        match &auth {
            Auth::None => {}
            Auth::Htpasswd(users) => {
                let htpasswd = dir.path().join("htpasswd");
                for (i, (u, p)) in users.iter().enumerate() {
                    let mut cmd = Command::new("htpasswd");
                    cmd.arg(if i == 0 { "-Bbc" } else { "-Bb" });
                    sh(cmd.arg(&htpasswd).args([u, p]));
                }
                test_ca(dir.path());
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    dir.path().join("server.crt").display(),
                    dir.path().join("server.key").display(),
                    htpasswd.display()
                ));
                tls = true;
            }
            Auth::Token(server) => {
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                    server.port,
                    server.dir.path().join("certs/ca.crt").display()
                ));
            }
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("registry.log");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("registry.err")).unwrap())
            .spawn()
            .expect("docker-registry is installed");
        wait_for_port(port, &mut child, &log);
        Registry {
            port,
            dir,
            child,
            tls,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn cert_dir(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    /// `skopeo copy` from a layout into the registry, blobs as they are (skopeo would
    /// compress an uncompressed layer) unless `extra` converts the format.
    pub fn push(&self, src: &str, repo_tag: &str, extra: &[&str]) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "-q", "--dest-tls-verify=false"]);
        if !extra.contains(&"--format") {
            cmd.arg("--preserve-digests");
        }
        cmd.args(extra);
        cmd.arg(src)
            .arg(format!("docker://{}/{repo_tag}", self.host()));
        sh(&mut cmd);
    }

    /// A blob's file in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is it installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A self-signed certificate: `DIR/certs/ca.crt` and `DIR/key.pem` (what the token
/// server signs with).
fn self_signed(dir: &Path) {
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    sh(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=hull-image-test"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("certs/ca.crt")));
}

/// A test CA (`DIR/certs/ca.crt`, what --cert-dir reads) and a server certificate it
/// signed for 127.0.0.1 and localhost (`DIR/server.crt`, `DIR/server.key`).
fn test_ca(dir: &Path) {
    self_signed(dir);
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    sh(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(dir.join("server.key"))
        .arg("-out")
        .arg(dir.join("server.csr")));
    sh(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(dir.join("server.csr"))
        .arg("-CA")
        .arg(dir.join("certs/ca.crt"))
        .arg("-CAkey")
        .arg(dir.join("key.pem"))
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(dir.join("server.crt")));
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// The token endpoint of the distribution spec's token auth: signs JWTs (RS256, the
/// certificate in the x5c header) with openssl. Anonymous callers get `pull` on
/// repositories under `public/`; `user` with `password` gets what it asks for.
pub struct TokenServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub user: (&'static str, &'static str),
    /// Tokens issued, and requests refused.
    pub issued: AtomicUsize,
    pub refused: AtomicUsize,
    stop: AtomicBool,
}

impl TokenServer {
    pub fn start(user: (&'static str, &'static str)) -> Arc<TokenServer> {
        let dir = tempfile::tempdir().unwrap();
        self_signed(dir.path());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Arc::new(TokenServer {
            port: listener.local_addr().unwrap().port(),
            dir,
            user,
            issued: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = server.clone();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !s.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        let s = s.clone();
                        std::thread::spawn(move || s.serve(conn));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        server
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn serve(&self, mut conn: TcpStream) {
        let (target, headers) = match read_head(&mut conn) {
            Some(h) => h,
            None => return,
        };
        let query: HashMap<String, String> = target
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), unescape(v)))
            .collect();
        let authorized_user = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|raw| String::from_utf8_lossy(&raw).into_owned());
        let want = format!("{}:{}", self.user.0, self.user.1);
        let (subject, mut access) = match authorized_user.as_deref() {
            Some(u) if u == want => (self.user.0.to_string(), vec![]),
            Some(_) => return self.refuse(conn),
            None => (String::new(), vec![]),
        };
        // scope=repository:NAME:ACTIONS
        if let Some(scope) = query.get("scope") {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            let mut actions: Vec<&str> = actions.split(',').collect();
            if subject.is_empty() {
                if !name.starts_with("public/") {
                    return self.refuse(conn);
                }
                actions.retain(|a| *a == "pull");
            }
            access.push(serde_json::json!({"type": kind, "name": name, "actions": actions}));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let cert_pem = std::fs::read_to_string(self.dir.path().join("certs/ca.crt")).unwrap();
        let der: String = cert_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [der]});
        let claims = serde_json::json!({
            "iss": "test-issuer", "sub": subject, "aud": query.get("service").cloned().unwrap_or_default(),
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("{now}-{}", self.issued.load(Ordering::SeqCst)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut openssl = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(self.dir.path().join("key.pem"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        openssl
            .stdin
            .take()
            .unwrap()
            .write_all(signing_input.as_bytes())
            .unwrap();
        let sig = openssl.wait_with_output().unwrap().stdout;
        let token = format!("{signing_input}.{}", b64url(&sig));
        self.issued.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    fn refuse(&self, mut conn: TcpStream) {
        self.refused.fetch_add(1, Ordering::SeqCst);
        let _ = write!(
            conn,
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads an HTTP request head: the target and the headers.
fn read_head(conn: &mut TcpStream) -> Option<(String, Vec<(String, String)>)> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split(' ').nth(1)?.to_string();
    let mut headers = vec![];
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Some((target, headers))
}

/// What the proxy does to responses of requests whose target contains `matching`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// Close the connection after this many response bytes, once.
    CutOnce(u64),
    /// Stop forwarding after this many response bytes and hold the connection.
    Stall(u64),
    /// Stall once, then pass.
    StallOnce(u64),
}

/// A TCP proxy in front of a registry, one request per connection.
pub struct Proxy {
    pub port: u16,
    pub fault: Mutex<(String, Fault)>,
    /// Requests seen whose target matched, and their Range headers.
    pub ranges: Mutex<Vec<Option<String>>>,
    /// Every request target seen.
    pub targets: Mutex<Vec<String>>,
    pub stalled: AtomicU64,
    stop: AtomicBool,
}

impl Proxy {
    pub fn start(upstream: u16) -> Arc<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Arc::new(Proxy {
            port: listener.local_addr().unwrap().port(),
            fault: Mutex::new((String::new(), Fault::Pass)),
            ranges: Mutex::new(vec![]),
            targets: Mutex::new(vec![]),
            stalled: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let p = proxy.clone();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !p.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        let p = p.clone();
                        std::thread::spawn(move || p.serve(conn, upstream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        proxy
    }

    pub fn set(&self, matching: &str, fault: Fault) {
        *self.fault.lock().unwrap() = (matching.to_string(), fault);
    }

    fn serve(&self, mut client: TcpStream, upstream: u16) {
        let Some((target, headers)) = read_head(&mut client) else {
            return;
        };
        self.targets.lock().unwrap().push(target.clone());
        let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
            return;
        };
        let mut head = format!("GET {target} HTTP/1.1\r\n");
        for (k, v) in &headers {
            if !k.eq_ignore_ascii_case("connection") {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        head.push_str("Connection: close\r\n\r\n");
        if up.write_all(head.as_bytes()).is_err() {
            return;
        }
        let (matching, fault) = self.fault.lock().unwrap().clone();
        let hit = !matching.is_empty() && target.contains(&matching);
        let fault = if hit {
            let range = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("range"))
                .map(|(_, v)| v.clone());
            self.ranges.lock().unwrap().push(range);
            if let Fault::CutOnce(_) | Fault::StallOnce(_) = fault {
                self.set(&matching, Fault::Pass);
            }
            fault
        } else {
            Fault::Pass
        };
        let limit = match fault {
            Fault::Pass => u64::MAX,
            Fault::CutOnce(n) | Fault::Stall(n) | Fault::StallOnce(n) => n,
        };
        let mut sent = 0u64;
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let want = buf.len().min((limit - sent) as usize);
            if want == 0 {
                break;
            }
            let n = match up.read(&mut buf[..want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if client.write_all(&buf[..n]).is_err() {
                return;
            }
            sent += n as u64;
        }
        if let Fault::Stall(_) | Fault::StallOnce(_) = fault {
            if sent == limit {
                self.stalled.fetch_add(1, Ordering::SeqCst);
                hold(&mut client);
            }
        }
        let _ = client.shutdown(Shutdown::Both);
    }
}

/// Holds a connection open, sending nothing, until the client closes it (or five
/// minutes pass: a client with no read timeout would wait that long).
fn hold(client: &mut TcpStream) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(1)));
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        match client.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

/// A server that accepts connections and never answers: a registry that hangs.
pub struct Silent {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => held.push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Silent { port, stop }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
