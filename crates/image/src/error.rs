//! The error type of hull-image: every variant says which blob, path or field it is about.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image reference or a command-line value is malformed.
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },

    /// The image does not have what was asked for (tag, platform, blob).
    #[error("not found: {0}")]
    NotFound(String),

    /// A blob did not match its descriptor.
    #[error("blob {blob}: {reason}")]
    Verify { blob: String, reason: String },

    /// A layer tried to leave the rootfs or is otherwise unacceptable.
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    Hostile {
        layer: String,
        entry: PathBuf,
        reason: String,
    },

    /// A decompressed-size or entry-count limit was hit (compression bomb guard).
    #[error("layer {layer}: {reason}")]
    Limit { layer: String, reason: String },

    /// An I/O error, with what we were doing.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },

    /// Malformed JSON in a manifest, index or config.
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    /// A registry refused a request or answered something we cannot use.
    #[error("registry {registry}: {reason}")]
    Registry { registry: String, reason: String },

    /// The user in the image config cannot be resolved in the rootfs.
    #[error("user {user:?}: {reason}")]
    User { user: String, reason: String },
}

impl Error {
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Attach "what we were doing" to an I/O error, like `hull::Context`.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: what(),
            source,
        })
    }
}

impl<T> Context<T> for rustix::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Io {
            what: what(),
            source: e.into(),
        })
    }
}

/// Errors raised while streaming (digest mismatch inside a reader) travel through
/// `io::Error`; this recovers the typed error at the boundary.
pub(crate) fn from_stream(err: io::Error, what: impl FnOnce() -> String) -> Error {
    if err.get_ref().is_some_and(|e| e.is::<Error>()) {
        let inner = err.into_inner().expect("checked above");
        return *inner.downcast::<Error>().expect("checked above");
    }
    Error::Io {
        what: what(),
        source: err,
    }
}
