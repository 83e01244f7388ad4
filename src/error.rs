//! The runtime library's error type. Every error carries what the runtime was doing
//! (which field, path, mount or syscall), because callers only ever see the message.

use std::fmt::Display;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle, config.json or the command line asks for something invalid.
    #[error("{0}")]
    Invalid(String),
    /// A system call or file operation failed; `what` names the object and the step.
    /// The io error is in the message, not in the error chain: `{:#}` would print it twice.
    #[error("{what}: {err}")]
    Os { what: String, err: std::io::Error },
    #[error("container does not exist")]
    NotExist,
    #[error("container with id exists: {0}")]
    Exists(String),
    /// An error reported by the container's init process, already formatted.
    #[error("{0}")]
    Init(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
    pub fn os(what: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Error::Os {
            what: what.into(),
            err: source.into(),
        }
    }
    /// The errno behind this error, when it came from the system.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Os { err, .. } => err.raw_os_error(),
            _ => None,
        }
    }
}

/// Attach "what was being done" to a failing system call or I/O operation.
pub trait Context<T> {
    fn ctx<D: Display>(self, what: D) -> Result<T>;
    fn with_ctx<D: Display, F: FnOnce() -> D>(self, what: F) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx<D: Display>(self, what: D) -> Result<T> {
        self.map_err(|e| Error::os(what.to_string(), e))
    }
    fn with_ctx<D: Display, F: FnOnce() -> D>(self, what: F) -> Result<T> {
        self.map_err(|e| Error::os(what().to_string(), e))
    }
}

impl<T> Context<T> for rustix::io::Result<T> {
    fn ctx<D: Display>(self, what: D) -> Result<T> {
        self.map_err(|e| Error::os(what.to_string(), std::io::Error::from(e)))
    }
    fn with_ctx<D: Display, F: FnOnce() -> D>(self, what: F) -> Result<T> {
        self.map_err(|e| Error::os(what().to_string(), std::io::Error::from(e)))
    }
}

/// pathrs errors keep their errno (callers match on ENOENT, ELOOP...); a safety violation it
/// detected (a path that would leave the root, a mount crossed in procfs) becomes EXDEV.
pub(crate) fn from_pathrs(what: String, e: pathrs::error::Error) -> Error {
    use pathrs::error::ErrorKind;
    match e.kind() {
        ErrorKind::OsError(Some(errno)) => {
            Error::os(what, std::io::Error::from_raw_os_error(errno))
        }
        ErrorKind::SafetyViolation => Error::os(
            format!("{what}: unsafe path ({e})"),
            std::io::Error::from_raw_os_error(libc::EXDEV),
        ),
        _ => Error::Other(format!("{what}: {e}")),
    }
}

impl<T> Context<T> for std::result::Result<T, pathrs::error::Error> {
    fn ctx<D: Display>(self, what: D) -> Result<T> {
        self.map_err(|e| from_pathrs(what.to_string(), e))
    }
    fn with_ctx<D: Display, F: FnOnce() -> D>(self, what: F) -> Result<T> {
        self.map_err(|e| from_pathrs(what().to_string(), e))
    }
}
