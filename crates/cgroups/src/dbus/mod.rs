//! A small blocking D-Bus client: enough to talk to systemd's manager on the system or user
//! bus without an async runtime or libdbus. `wire` is the marshalling, `message` the message
//! framing, `conn` the socket, authentication and call/reply matching.

mod conn;
mod message;
#[cfg(test)]
pub mod testbus;
mod wire;

pub use conn::{system_address, user_address, Connection};
#[cfg(test)]
pub use message::{Kind, Message};
pub use wire::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Connecting, reading or writing the socket.
    Io(String),
    /// The bus refused our credentials.
    Auth(String),
    /// Bytes that are not a valid message.
    Wire(wire::WireError),
    /// The peer answered in an unexpected shape.
    Protocol(String),
    /// An error reply: its D-Bus error name and message.
    Remote {
        name: String,
        message: String,
    },
    Timeout(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(m) | Error::Protocol(m) | Error::Timeout(m) => f.write_str(m),
            Error::Auth(m) => write!(f, "D-Bus authentication: {m}"),
            Error::Wire(e) => write!(f, "D-Bus message: {e}"),
            Error::Remote { name, message } => write!(f, "{message} ({name})"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// Whether this is the error reply `name`.
    pub fn is(&self, name: &str) -> bool {
        matches!(self, Error::Remote { name: n, .. } if n == name)
    }
}
