//! A client for the registry HTTP API v2 (the OCI distribution spec): the ping that says
//! how to authenticate, manifests by tag or digest, blobs by digest.
//!
//! HTTP is blocking ureq on rustls: one small, well-kept crate with no async runtime,
//! whose response bodies are plain `io::Read`s that go straight into the layer pipeline
//! (decompression, digests, the applier) on the threads that unpack. Crypto is ring; the
//! CA roots are the system's (rustls-native-certs reads the same bundle as OpenSSL,
//! honouring `SSL_CERT_FILE`/`SSL_CERT_DIR`), plus `*.crt` files from `--cert-dir` or, by
//! default, `/etc/containers/certs.d/HOST/` and `/etc/docker/certs.d/HOST/` as podman and
//! docker read them.

pub mod auth;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::http::{Response, StatusCode};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};
use ureq::Body;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::{media, MAX_JSON_BLOB};
use crate::reference::RegistryRef;
use crate::source::BlobReader;

pub use auth::Credentials;

/// How to reach a registry, from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// Plain HTTP allowed and TLS certificates not verified (loopback hosts get plain
    /// HTTP without it, as docker treats them).
    pub insecure: bool,
    /// Extra CA certificates (`*.crt`), instead of the per-host certs.d directories.
    pub cert_dir: Option<PathBuf>,
    /// Credentials given on the command line; otherwise the auth files are searched.
    pub creds: Option<Credentials>,
    /// An auth.json to read instead of podman's default one.
    pub auth_file: Option<PathBuf>,
    /// Longest wait for a TCP connection (and TLS handshake) to a registry.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of an answer: a registry that goes quiet this long
    /// mid-answer counts as a broken connection (retried, or resumed for a blob).
    pub read_timeout: Duration,
    /// How often a request that failed in a way worth repeating is tried again: a
    /// broken or stalled connection, a 429 or a 5xx answer to a GET (GETs change
    /// nothing); and how often a blob download resumes after one (a Range request from
    /// the first byte not yet read, so the digest still covers every byte once).
    pub retries: u32,
}

/// Registries answer in well under a second; a minute of silence mid-blob is a dead
/// connection, not a slow one (a slow link still delivers bytes, and only silence
/// counts). The connect timeout matches curl's and skopeo's order of magnitude.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_RETRIES: u32 = 3;

impl Default for Options {
    fn default() -> Self {
        Options {
            insecure: false,
            cert_dir: None,
            creds: None,
            auth_file: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            retries: DEFAULT_RETRIES,
        }
    }
}

/// First pause before a retry; it doubles each time, up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

fn backoff(failures: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << failures.saturating_sub(1).min(8))
        .min(MAX_BACKOFF)
}

/// Largest error body we read to explain a failure.
const MAX_ERROR_BODY: u64 = 16 << 10;

pub struct Client {
    agent: ureq::Agent,
    /// As written in the reference (`docker.io` for Docker Hub): what messages name.
    host: String,
    /// `https://host` or `http://host`, as the ping found it.
    base: String,
    repo: String,
    creds: Option<Credentials>,
    allow_plain: bool,
    read_timeout: Duration,
    retries: u32,
    /// The `Authorization` header the registry accepted last.
    authorization: Mutex<Option<String>>,
}

/// The manifest or index a tag or digest names, verified against the digest that names it.
pub struct Manifest {
    pub digest: Digest,
    pub media_type: Option<String>,
    pub data: Vec<u8>,
}

fn is_loopback(host: &str) -> bool {
    // Strip the port: "[::1]:5000", "127.0.0.1:5000", "localhost".
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Connects to the registry of `image`: finds whether it speaks HTTPS (or, where
    /// allowed, plain HTTP) and authenticates for pulling its repository.
    pub fn connect(image: &RegistryRef, opts: &Options) -> Result<Self> {
        let api_host = match image.host.as_str() {
            "docker.io" => "registry-1.docker.io",
            other => other,
        };
        let allow_plain = opts.insecure || is_loopback(api_host);
        let creds = match &opts.creds {
            Some(c) => Some(c.clone()),
            None => auth::lookup(
                &auth::auth_files(opts.auth_file.as_deref()),
                &image.host,
                &image.repo,
            )?,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("hull-image/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls_config(&image.host, opts)?)
            .timeout_connect(Some(opts.connect_timeout))
            // Silence, not slowness: each read of headers or body gets the full timeout,
            // so a big blob on a slow link is fine and a stalled one is not.
            .timeout_per_read(Some(opts.read_timeout))
            .max_idle_connections_per_host(8)
            .build();
        let mut client = Client {
            agent: config.new_agent(),
            host: image.host.clone(),
            base: format!("https://{api_host}"),
            repo: image.repo.clone(),
            creds,
            allow_plain,
            read_timeout: opts.read_timeout,
            retries: opts.retries,
            authorization: Mutex::new(None),
        };
        client.ping()?;
        Ok(client)
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn fail(&self, reason: impl Into<String>) -> Error {
        Error::Registry {
            registry: self.host.clone(),
            reason: reason.into(),
        }
    }

    /// `GET /v2/`: which scheme works, and which authentication the registry wants.
    fn ping(&mut self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let (resp, tls_error) = match self.agent.get(&url).call() {
            Ok(r) => (r, None),
            Err(e) if self.allow_plain && is_transport(&e) => {
                self.base = self.base.replacen("https://", "http://", 1);
                let plain = format!("{}/v2/", self.base);
                let r = self.agent.get(&plain).call().map_err(|e2| {
                    self.fail(format!(
                        "GET {url}: {}; and over plain HTTP: {}",
                        self.explain(&e),
                        self.explain(&e2)
                    ))
                })?;
                (r, Some(e))
            }
            Err(e) if is_transport(&e) => {
                return Err(self.fail(format!(
                "GET {url}: {} (plain HTTP is only tried for loopback hosts or with --insecure)",
                self.explain(&e)
            )))
            }
            Err(e) => return Err(self.fail(format!("GET {url}: {}", self.explain(&e)))),
        };
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => self.authenticate(&resp),
            status => Err(match tls_error {
                // An HTTPS server that refused our TLS: its error is the one that matters.
                Some(e) => self.fail(format!(
                    "GET {url}: {}; and over plain HTTP: {status}",
                    self.explain(&e)
                )),
                None => self.status_error(&url, resp),
            }),
        }
    }

    /// Answers a 401's challenge: Basic with the credentials, or Bearer with a token from
    /// the realm (anonymous unless there are credentials).
    fn authenticate(&self, resp: &Response<Body>) -> Result<()> {
        let headers: Vec<&str> = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let challenge = headers
            .iter()
            .filter_map(|h| auth::parse_challenge(h))
            // Bearer first: a registry offering both prefers it.
            .min_by_key(|c| matches!(c, auth::Challenge::Basic))
            .ok_or_else(|| {
                self.fail(format!(
                    "401 without a Basic or Bearer challenge (WWW-Authenticate: {headers:?})"
                ))
            })?;
        let header = match challenge {
            auth::Challenge::Basic => match &self.creds {
                Some(c) => c.basic_header(),
                None => return Err(self.no_credentials()),
            },
            auth::Challenge::Bearer { realm, service, .. } => {
                format!("Bearer {}", self.token(&realm, service.as_deref())?)
            }
        };
        *self.authorization.lock().expect("not poisoned") = Some(header);
        Ok(())
    }

    fn no_credentials(&self) -> Error {
        self.fail(format!(
            "{} asks for a user name and password: give --creds USER:PASSWORD, or log in \
             with `podman login` or `docker login`",
            self.host
        ))
    }

    /// The token flow of the distribution spec's token authentication.
    fn token(&self, realm: &str, service: Option<&str>) -> Result<String> {
        let plain_realm = realm.starts_with("http://");
        if !realm.starts_with("https://") && !plain_realm {
            return Err(self.fail(format!("token realm {realm:?} is not an http(s) URL")));
        }
        if plain_realm && self.creds.is_some() && !self.allow_plain {
            let realm_host = realm["http://".len()..].split('/').next().unwrap_or("");
            if !is_loopback(realm_host) {
                return Err(self.fail(format!(
                    "token realm {realm} is plain HTTP: credentials are not sent there without --insecure"
                )));
            }
        }
        let mut url = format!("{realm}{}", if realm.contains('?') { '&' } else { '?' });
        if let Some(s) = service {
            url.push_str(&format!("service={}&", query_escape(s)));
        }
        url.push_str(&format!(
            "scope={}",
            query_escape(&format!("repository:{}:pull", self.repo))
        ));
        let mut req = self.agent.get(&url);
        if let Some(c) = &self.creds {
            req = req.header("Authorization", c.basic_header());
        }
        let mut resp = req
            .call()
            .map_err(|e| self.fail(format!("token from {realm}: {e}")))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(if self.creds.is_some() {
                self.fail(format!("token from {realm}: the credentials were refused"))
            } else {
                self.no_credentials()
            });
        }
        if !resp.status().is_success() {
            return Err(self.status_error(&url, resp));
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_JSON_BLOB)
            .read_to_vec()
            .map_err(|e| self.fail(format!("token from {realm}: {e}")))?;
        let token: auth::TokenResponse =
            crate::image::parse_json(&body, || format!("token from {realm}"))?;
        token
            .into_token()
            .ok_or_else(|| self.fail(format!("token from {realm}: the answer has no token")))
    }

    /// A GET with the current authorization. A 401 (an expired token) re-authenticates
    /// once; a broken or stalled connection, a 429 or a 5xx is retried after a pause
    /// (`retries` times): a GET changes nothing, so repeating it is safe.
    fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Response<Body>> {
        let mut reauthenticated = false;
        let mut failures = 0;
        loop {
            let mut req = self.agent.get(url);
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            let authorization = self.authorization.lock().expect("not poisoned").clone();
            if let Some(a) = authorization {
                req = req.header("Authorization", a);
            }
            match req.call() {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !reauthenticated => {
                    reauthenticated = true;
                    self.authenticate(&resp)?;
                }
                Ok(resp) if is_retryable_status(resp.status()) && failures < self.retries => {
                    failures += 1;
                    std::thread::sleep(backoff(failures));
                }
                Ok(resp) => return Ok(resp),
                Err(e) if is_retryable(&e) && failures < self.retries => {
                    failures += 1;
                    std::thread::sleep(backoff(failures));
                }
                Err(e) => {
                    return Err(self.fail(format!(
                        "GET {url}: {}{}",
                        self.explain(&e),
                        tries(failures)
                    )))
                }
            }
        }
    }

    /// ureq's error, with what a timeout means and which option sets it.
    fn explain(&self, e: &ureq::Error) -> String {
        match e {
            ureq::Error::Timeout(ureq::Timeout::PerRead) => format!(
                "no data for {} s (--read-timeout)",
                self.read_timeout.as_secs_f64()
            ),
            ureq::Error::Timeout(ureq::Timeout::Connect) => {
                format!("{e} (--connect-timeout)")
            }
            _ => e.to_string(),
        }
    }

    fn status_error(&self, url: &str, mut resp: Response<Body>) -> Error {
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_ERROR_BODY)
            .read_to_vec()
            .unwrap_or_default();
        // {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}
        let detail = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                let errors = v.get("errors")?.as_array()?.clone();
                Some(
                    errors
                        .iter()
                        .map(|e| {
                            format!(
                                "{}: {}",
                                e.get("code").and_then(|c| c.as_str()).unwrap_or("?"),
                                e.get("message").and_then(|c| c.as_str()).unwrap_or("")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })
            .unwrap_or_default();
        let reason = format!("GET {url}: {status} {detail}")
            .trim_end()
            .to_string();
        match status {
            StatusCode::NOT_FOUND => Error::NotFound(format!("{}: {reason}", self.host)),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if self.creds.is_none() => {
                Error::Registry {
                    registry: self.host.clone(),
                    reason: format!("{reason} (no credentials were found for it)"),
                }
            }
            _ => self.fail(reason),
        }
    }

    /// A manifest or index by tag or digest. A digest reference is checked against the
    /// content; a tag against the `Docker-Content-Digest` the registry sends, if any.
    pub fn manifest(&self, reference: &str) -> Result<Manifest> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repo);
        let accept = [
            media::OCI_INDEX,
            media::OCI_MANIFEST,
            media::DOCKER_LIST,
            media::DOCKER_MANIFEST,
        ]
        .join(", ");
        let mut resp = self.get(&url, &[("Accept", accept)])?;
        if !resp.status().is_success() {
            return Err(self.status_error(&url, resp));
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        };
        let media_type = header("content-type")
            .map(|t| t.split(';').next().unwrap_or_default().trim().to_string());
        let announced = header("docker-content-digest");
        let data = resp
            .body_mut()
            .with_config()
            .limit(MAX_JSON_BLOB)
            .read_to_vec()
            .map_err(|e| self.fail(format!("GET {url}: {e}")))?;
        let expected = match Digest::parse(reference) {
            Ok(d) => Some(d),
            Err(_) => match announced {
                Some(a) => Some(Digest::parse(&a)?),
                None => None,
            },
        };
        let algorithm = expected
            .as_ref()
            .map_or(crate::digest::Algorithm::Sha256, Digest::algorithm);
        let actual = Digest::of(algorithm, &data);
        if let Some(expected) = expected {
            if actual != expected {
                return Err(Error::Verify {
                    blob: format!("manifest {}/{}:{reference}", self.host, self.repo),
                    reason: format!("digest is {actual}, expected {expected}"),
                });
            }
        }
        Ok(Manifest {
            digest: actual,
            media_type,
            data,
        })
    }

    fn blob_url(&self, digest: &Digest) -> String {
        format!("{}/v2/{}/blobs/{digest}", self.base, self.repo)
    }

    /// A blob's bytes as they arrive. The caller verifies them (size and digest); a broken
    /// connection is resumed where it stopped.
    pub fn blob(&self, digest: &Digest) -> Result<BlobReader<'_>> {
        let url = self.blob_url(digest);
        let resp = self.get(&url, &[])?;
        if !resp.status().is_success() {
            return Err(self.status_error(&url, resp));
        }
        Ok(Box::new(BlobStream {
            client: self,
            digest: digest.clone(),
            url,
            body: resp.into_body().into_reader(),
            offset: 0,
            resumes: 0,
        }))
    }
}

/// " (tried N times)" once a request was repeated.
fn tries(failures: u32) -> String {
    if failures == 0 {
        String::new()
    } else {
        format!(" (tried {} times)", failures + 1)
    }
}

/// Failures a repeated GET may not meet again: the connection, not the request.
fn is_retryable(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_) | ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed
    )
}

/// Answers that say "later": too many requests, a failing or overloaded backend.
fn is_retryable_status(s: StatusCode) -> bool {
    s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error()
}

/// Transport-level failures (no HTTP answer): where plain HTTP may be tried instead.
fn is_transport(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::Tls(_)
            | ureq::Error::Rustls(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

fn tls_config(host: &str, opts: &Options) -> Result<TlsConfig> {
    let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let dirs = match &opts.cert_dir {
        Some(d) => vec![d.clone()],
        None => vec![
            Path::new("/etc/containers/certs.d").join(host),
            Path::new("/etc/docker/certs.d").join(host),
        ],
    };
    for dir in &dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound && opts.cert_dir.is_none() => continue,
            Err(e) => {
                return Err(Error::Io {
                    what: format!("read certificate directory {}", dir.display()),
                    source: e,
                })
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "crt") {
                continue;
            }
            let pem = std::fs::read(&path).map_err(|e| Error::Io {
                what: format!("read {}", path.display()),
                source: e,
            })?;
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(PemItem::Certificate(c)) => roots.push(c.to_owned()),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(Error::invalid(
                            format!("certificate file {}", path.display()),
                            e.to_string(),
                        ))
                    }
                }
            }
        }
    }
    Ok(TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::from(roots))
        .disable_verification(opts.insecure)
        .build())
}

/// A blob download that picks up again after a broken connection: a Range request from
/// the first byte not yet read. Bytes are never read twice, so the verifier above sees
/// the blob exactly once.
struct BlobStream<'a> {
    client: &'a Client,
    digest: Digest,
    url: String,
    body: ureq::BodyReader<'static>,
    offset: u64,
    resumes: u32,
}

impl BlobStream<'_> {
    fn resume(&mut self) -> Result<()> {
        let range = format!("bytes={}-", self.offset);
        let resp = self.client.get(&self.url, &[("Range", range)])?;
        let start = resp
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse::<u64>().ok());
        if resp.status() != StatusCode::PARTIAL_CONTENT || start != Some(self.offset) {
            return Err(self.client.fail(format!(
                "GET {}: cannot resume at byte {}",
                self.url, self.offset
            )));
        }
        self.body = resp.into_body().into_reader();
        Ok(())
    }
}

impl Read for BlobStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.body.read(buf) {
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let e = match e.downcast::<ureq::Error>() {
                        Ok(u) => self.client.explain(&u),
                        Err(e) => e.to_string(),
                    };
                    if self.resumes >= self.client.retries {
                        return Err(self.gave_up(&e, None));
                    }
                    self.resumes += 1;
                    std::thread::sleep(backoff(self.resumes));
                    if let Err(again) = self.resume() {
                        return Err(self.gave_up(&e, Some(again)));
                    }
                }
            }
        }
    }
}

impl BlobStream<'_> {
    /// The error that ends the download: which registry and blob, where it stopped.
    fn gave_up(&self, e: &str, resuming: Option<Error>) -> io::Error {
        let mut msg = format!(
            "registry {}: blob {}: download broke at byte {}: {e}",
            self.client.host, self.digest, self.offset
        );
        if self.resumes > 0 {
            msg.push_str(&format!(" (after {} resumes)", self.resumes));
        }
        if let Some(again) = resuming {
            msg.push_str(&format!("; resuming failed: {again}"));
        }
        io::Error::new(io::ErrorKind::TimedOut, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:80",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:80",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn escapes_queries() {
        assert_eq!(
            query_escape("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }
}
