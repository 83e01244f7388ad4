//! Registry authentication: the credentials podman and docker store, and the
//! `WWW-Authenticate` challenges of the distribution spec (Basic, and Bearer with its token
//! endpoint).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, Result};

/// A user name and password (or token used as one), as `docker login` stores them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, <secret>)", self.username)
    }
}

impl Credentials {
    /// `USER:PASSWORD`, as `--creds` takes it (skopeo's spelling).
    pub fn parse(s: &str) -> Result<Self> {
        let (u, p) = s
            .split_once(':')
            .ok_or_else(|| Error::invalid("--creds", "expected USER:PASSWORD"))?;
        Ok(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        })
    }

    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// The `auth` field of an auth file: base64 of `user:password`.
    fn from_auth_field(field: &str, file: &Path) -> Result<Self> {
        let bad = || {
            Error::invalid(
                format!("credentials file {}", file.display()),
                "an \"auth\" entry is not base64 of USER:PASSWORD",
            )
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(field.trim())
            .map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (u, p) = raw.split_once(':').ok_or_else(bad)?;
        Ok(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        })
    }
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The credentials files, in the order podman (containers/image) reads them: its auth.json
/// (`REGISTRY_AUTH_FILE` or `--authfile` replaces the default one), then docker's
/// config.json.
pub fn auth_files(explicit: Option<&Path>) -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = env("HOME");
    let mut files = Vec::new();
    match explicit
        .map(Path::to_path_buf)
        .or_else(|| env("REGISTRY_AUTH_FILE"))
    {
        Some(f) => files.push(f),
        None => {
            if let Some(run) = env("XDG_RUNTIME_DIR") {
                files.push(run.join("containers/auth.json"));
            }
            let config =
                env("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
            if let Some(c) = config {
                files.push(c.join("containers/auth.json"));
            }
        }
    }
    if let Some(d) = env("DOCKER_CONFIG") {
        files.push(d.join("config.json"));
    } else if let Some(h) = &home {
        files.push(h.join(".docker/config.json"));
    }
    files
}

/// Keys of `auths` come as `host`, `host/namespace/repo` (podman), or docker's legacy
/// URLs (`https://index.docker.io/v1/`).
fn normalize_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let key = key.trim_end_matches('/');
    let key = key
        .strip_suffix("/v1")
        .or_else(|| key.strip_suffix("/v2"))
        .unwrap_or(key);
    match key {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        other => other.to_string(),
    }
}

/// Finds credentials for `host/repo`: in each file, the most specific key wins
/// (`host/org/repo`, then `host/org`, then `host`); the first file that has one wins.
pub fn lookup(files: &[PathBuf], host: &str, repo: &str) -> Result<Option<Credentials>> {
    let mut candidates = vec![format!("{host}/{repo}")];
    let mut r = repo;
    while let Some((parent, _)) = r.rsplit_once('/') {
        candidates.push(format!("{host}/{parent}"));
        r = parent;
    }
    candidates.push(host.to_string());
    for file in files {
        let data = match std::fs::read(file) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::Io {
                    what: format!("read credentials file {}", file.display()),
                    source: e,
                })
            }
        };
        let parsed: AuthFile =
            crate::image::parse_json(&data, || format!("credentials file {}", file.display()))?;
        let entries: BTreeMap<String, &AuthEntry> = parsed
            .auths
            .iter()
            .map(|(k, v)| (normalize_key(k), v))
            .collect();
        for c in &candidates {
            let Some(entry) = entries.get(c) else {
                continue;
            };
            if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
                return Ok(Some(Credentials::from_auth_field(auth, file)?));
            }
            if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
                return Ok(Some(Credentials {
                    username: u.clone(),
                    password: p.clone(),
                }));
            }
        }
    }
    Ok(None)
}

/// One challenge of a `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`. Unknown
/// schemes give None.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `key="value", key=value` pairs; quoted values may hold commas and escaped quotes.
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

/// The token endpoint's answer: `token` (docker) or `access_token` (OAuth2).
#[derive(Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
}

impl TokenResponse {
    pub fn into_token(self) -> Option<String> {
        self.token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(r#"bearer realm=http://x/t, scope="a,b""#),
            Some(Challenge::Bearer {
                realm: "http://x/t".into(),
                service: None,
                scope: Some("a,b".into()),
            })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn credential_files() {
        let dir = tempfile::tempdir().unwrap();
        let podman = dir.path().join("auth.json");
        let docker = dir.path().join("config.json");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &podman,
            format!(
                r#"{{"auths":{{"reg.io/team":{{"auth":"{}"}},"reg.io":{{"auth":"{}"}}}}}}"#,
                b64("team:t"),
                b64("any:a")
            ),
        )
        .unwrap();
        std::fs::write(
            &docker,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"reg.io":{{"auth":"{}"}}}},"credsStore":"x"}}"#,
                b64("hub:h:with:colons"),
                b64("docker:d")
            ),
        )
        .unwrap();
        let files = vec![podman.clone(), dir.path().join("missing.json"), docker];
        let who = |host: &str, repo: &str| {
            lookup(&files, host, repo)
                .unwrap()
                .map(|c| (c.username, c.password))
        };
        assert_eq!(who("reg.io", "team/app"), Some(("team".into(), "t".into())));
        assert_eq!(who("reg.io", "other/app"), Some(("any".into(), "a".into())));
        assert_eq!(
            who("docker.io", "library/busybox"),
            Some(("hub".into(), "h:with:colons".into()))
        );
        assert_eq!(who("elsewhere.io", "x"), None);
        std::fs::write(&podman, r#"{"auths":{"reg.io":{"auth":"!!"}}}"#).unwrap();
        assert!(lookup(&files, "reg.io", "x").is_err());
    }
}
