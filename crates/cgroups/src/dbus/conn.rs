//! A blocking D-Bus connection over a Unix socket: address lookup, SASL EXTERNAL, Hello,
//! method calls with their replies, and signals kept until asked for.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::time::{Duration, Instant};

use super::message::{Kind, Message};
use super::wire::Value;
use super::Error;

/// The system bus's socket when `DBUS_SYSTEM_BUS_ADDRESS` does not say otherwise.
pub const SYSTEM_BUS: &str = "unix:path=/run/dbus/system_bus_socket";

/// How long one method call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(25);

const BUS_NAME: &str = "org.freedesktop.DBus";
const BUS_PATH: &str = "/org/freedesktop/DBus";

pub struct Connection {
    sock: UnixStream,
    /// Where it connected, for error messages.
    address: String,
    serial: u32,
    unique_name: String,
    /// Bytes read but not yet a whole message.
    inbox: Vec<u8>,
    /// Signals that arrived while waiting for a reply.
    signals: VecDeque<Message>,
}

/// The system bus's address.
pub fn system_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| SYSTEM_BUS.to_string())
}

/// The calling user's bus: `DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`, else
/// /run/user/UID/bus.
pub fn user_address() -> String {
    if let Some(a) = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
    {
        return a;
    }
    let dir = std::env::var("XDG_RUNTIME_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| format!("/run/user/{}", rustix::process::geteuid().as_raw()));
    format!("unix:path={dir}/bus")
}

/// Undoes the address syntax's %XX escapes.
fn unescape(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The Unix socket addresses in a D-Bus address list ("unix:path=...;unix:abstract=...").
fn socket_addrs(address: &str) -> Vec<(String, std::io::Result<SocketAddr>)> {
    let mut out = Vec::new();
    for entry in address.split(';').filter(|e| !e.is_empty()) {
        let Some(params) = entry.strip_prefix("unix:") else {
            continue;
        };
        for kv in params.split(',') {
            match kv.split_once('=') {
                Some(("path", p)) => {
                    let p = unescape(p);
                    out.push((p.clone(), SocketAddr::from_pathname(&p)));
                }
                Some(("abstract", a)) => {
                    let a = unescape(a);
                    out.push((
                        format!("@{a}"),
                        SocketAddr::from_abstract_name(a.as_bytes()),
                    ));
                }
                _ => {}
            }
        }
    }
    out
}

fn io_err(address: &str, what: &str, e: std::io::Error) -> Error {
    Error::Io(format!("{what} {address}: {e}"))
}

impl Connection {
    /// Connects to the first usable address in `address`, authenticates as the effective
    /// uid and says Hello.
    pub fn open(address: &str) -> Result<Connection, Error> {
        let mut last = None;
        for (shown, addr) in socket_addrs(address) {
            let sock = match addr.and_then(|a| UnixStream::connect_addr(&a)) {
                Ok(s) => s,
                Err(e) => {
                    last = Some(io_err(&shown, "connect to", e));
                    continue;
                }
            };
            let mut c = Connection {
                sock,
                address: shown,
                serial: 0,
                unique_name: String::new(),
                inbox: Vec::new(),
                signals: VecDeque::new(),
            };
            c.authenticate()?;
            let reply = c.call(BUS_NAME, BUS_PATH, BUS_NAME, "Hello", vec![])?;
            c.unique_name = reply
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| Error::Protocol("Hello returned no name".into()))?
                .to_string();
            return Ok(c);
        }
        Err(last.unwrap_or_else(|| {
            Error::Io(format!(
                "no unix:path or unix:abstract address in {address:?}"
            ))
        }))
    }

    /// The name the bus gave this connection (":1.42").
    #[cfg(test)]
    pub fn unique_name(&self) -> &str {
        &self.unique_name
    }

    /// SASL EXTERNAL: the server checks the claimed uid against the socket's peer credentials.
    fn authenticate(&mut self) -> Result<(), Error> {
        let uid = rustix::process::geteuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let hello = format!("\0AUTH EXTERNAL {hex}\r\n");
        self.sock
            .set_read_timeout(Some(CALL_TIMEOUT))
            .and_then(|()| self.sock.write_all(hello.as_bytes()))
            .map_err(|e| io_err(&self.address, "authenticate on", e))?;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        // The server says nothing more until BEGIN, so reading to CRLF reads exactly its answer.
        while !line.ends_with(b"\r\n") {
            match self.sock.read(&mut byte) {
                Ok(0) => return Err(Error::Auth("the bus closed the connection".into())),
                Ok(_) => line.push(byte[0]),
                Err(e) => return Err(io_err(&self.address, "authenticate on", e)),
            }
            if line.len() > 512 {
                return Err(Error::Auth("overlong answer".into()));
            }
        }
        let answer = String::from_utf8_lossy(&line).trim_end().to_string();
        if !answer.starts_with("OK ") {
            return Err(Error::Auth(format!(
                "{}: EXTERNAL as uid {uid} refused ({answer})",
                self.address
            )));
        }
        self.sock
            .write_all(b"BEGIN\r\n")
            .map_err(|e| io_err(&self.address, "authenticate on", e))
    }

    fn send(&mut self, m: &Message) -> Result<u32, Error> {
        self.serial = self.serial.wrapping_add(1).max(1);
        let bytes = m.encode(self.serial);
        self.sock
            .write_all(&bytes)
            .map_err(|e| io_err(&self.address, "write to", e))?;
        Ok(self.serial)
    }

    /// Reads the next message, waiting until `deadline`.
    fn receive(&mut self, deadline: Instant) -> Result<Message, Error> {
        loop {
            if let Some(len) = Message::wire_len(&self.inbox).map_err(Error::Wire)? {
                if self.inbox.len() >= len {
                    let m = Message::decode(&self.inbox[..len]).map_err(Error::Wire);
                    self.inbox.drain(..len);
                    return m;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout(format!("no message from {}", self.address)));
            }
            self.sock
                .set_read_timeout(Some(left))
                .map_err(|e| io_err(&self.address, "read from", e))?;
            let mut chunk = [0u8; 4096];
            match self.sock.read(&mut chunk) {
                Ok(0) => {
                    return Err(Error::Io(format!(
                        "{}: the bus closed the connection",
                        self.address
                    )))
                }
                Ok(n) => self.inbox.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(io_err(&self.address, "read from", e)),
            }
        }
    }

    /// Sends a message as is (a test's fake service answers and signals with this).
    #[cfg(test)]
    pub fn send_message(&mut self, m: &Message) -> Result<u32, Error> {
        self.send(m)
    }

    /// The next message of any kind (a test's fake service reads calls with this).
    #[cfg(test)]
    pub fn next_message(&mut self, deadline: Instant) -> Result<Message, Error> {
        self.receive(deadline)
    }

    /// Calls a method and returns its reply's body; an error reply is [`Error::Remote`].
    pub fn call(
        &mut self,
        dest: &str,
        path: &str,
        iface: &str,
        member: &str,
        body: Vec<Value>,
    ) -> Result<Vec<Value>, Error> {
        let serial = self.send(&Message::method_call(dest, path, iface, member, body))?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let m = self.receive(deadline).map_err(|e| match e {
                Error::Timeout(_) => Error::Timeout(format!("{iface}.{member}: no reply")),
                other => other,
            })?;
            match m.kind {
                Kind::Signal => self.signals.push_back(m),
                Kind::MethodReturn | Kind::Error if m.reply_serial == Some(serial) => {
                    if m.kind == Kind::Error {
                        return Err(Error::Remote {
                            name: m.error_name.unwrap_or_default(),
                            message: m
                                .body
                                .first()
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                        });
                    }
                    return Ok(m.body);
                }
                // Replies to calls that were given up on, and calls to us: not ours to handle.
                _ => {}
            }
        }
    }

    /// Asks the bus to route signals matching `rule` here.
    pub fn add_match(&mut self, rule: &str) -> Result<(), Error> {
        self.call(
            BUS_NAME,
            BUS_PATH,
            BUS_NAME,
            "AddMatch",
            vec![Value::str(rule)],
        )
        .map(drop)
    }

    /// The first signal (already received or still to come) that `want` accepts, waiting
    /// until `deadline`. Signals it does not accept are dropped.
    pub fn wait_signal(
        &mut self,
        deadline: Instant,
        mut want: impl FnMut(&Message) -> bool,
    ) -> Result<Message, Error> {
        while let Some(m) = self.signals.pop_front() {
            if want(&m) {
                return Ok(m);
            }
        }
        loop {
            let m = self.receive(deadline)?;
            if m.kind == Kind::Signal && want(&m) {
                return Ok(m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = socket_addrs("unix:abstract=/tmp/dbus-x,guid=12;unix:path=/run/a%20b/bus");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].0, "@/tmp/dbus-x");
        assert_eq!(a[1].0, "/run/a b/bus");
        assert!(socket_addrs("tcp:host=localhost,port=1").is_empty());
        assert_eq!(unescape("a%2fb%"), "a/b%");
    }

    #[test]
    fn talks_to_a_real_bus_daemon() {
        let daemon = crate::dbus::testbus::Daemon::start();
        assert!(
            daemon.address.starts_with("unix:path="),
            "{}",
            daemon.address
        );
        let mut c = Connection::open(&daemon.address).unwrap();
        assert!(c.unique_name().starts_with(":1."), "{}", c.unique_name());

        let owner = c
            .call(
                BUS_NAME,
                BUS_PATH,
                BUS_NAME,
                "GetNameOwner",
                vec![Value::str(BUS_NAME)],
            )
            .unwrap();
        assert_eq!(owner, [Value::str(BUS_NAME)]);

        let names = c
            .call(BUS_NAME, BUS_PATH, BUS_NAME, "ListNames", vec![])
            .unwrap();
        let Some(Value::Array(elem, names)) = names.first() else {
            panic!("ListNames returned {names:?}");
        };
        assert_eq!(elem, "s");
        let me = Value::str(c.unique_name());
        assert!(names.contains(&me), "{names:?} lacks {me:?}");

        let err = c
            .call(
                BUS_NAME,
                BUS_PATH,
                BUS_NAME,
                "GetNameOwner",
                vec![Value::str("org.hull.None")],
            )
            .unwrap_err();
        assert!(
            err.is("org.freedesktop.DBus.Error.NameHasNoOwner"),
            "{err:?}"
        );
        let err = c
            .call(BUS_NAME, BUS_PATH, BUS_NAME, "NoSuchMethod", vec![])
            .unwrap_err();
        assert!(
            err.is("org.freedesktop.DBus.Error.UnknownMethod"),
            "{err:?}"
        );

        // Signals: taking a name makes the bus announce it (NameOwnerChanged, "sss").
        c.add_match("type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged'")
            .unwrap();
        let got = c
            .call(
                BUS_NAME,
                BUS_PATH,
                BUS_NAME,
                "RequestName",
                vec![Value::str("org.hull.Test"), Value::U32(0)],
            )
            .unwrap();
        assert_eq!(got, [Value::U32(1)]); // DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        let deadline = Instant::now() + Duration::from_secs(5);
        let sig = c
            .wait_signal(deadline, |m| {
                m.member.as_deref() == Some("NameOwnerChanged")
                    && m.body.first() == Some(&Value::str("org.hull.Test"))
            })
            .unwrap();
        assert_eq!(sig.body[2], Value::str(c.unique_name()));

        // A second client sees the name and its owner.
        let mut other = Connection::open(&daemon.address).unwrap();
        assert_ne!(other.unique_name(), c.unique_name());
        let owner = other
            .call(
                BUS_NAME,
                BUS_PATH,
                BUS_NAME,
                "GetNameOwner",
                vec![Value::str("org.hull.Test")],
            )
            .unwrap();
        assert_eq!(owner, [Value::str(c.unique_name())]);

        // The bus greets each client with NameAcquired; no other signal comes, so waiting
        // for one ends at the deadline.
        let soon = Instant::now() + Duration::from_millis(100);
        assert!(matches!(
            other.wait_signal(soon, |m| m.member.as_deref() != Some("NameAcquired")),
            Err(Error::Timeout(_))
        ));
    }

    #[test]
    fn missing_bus_is_a_clear_error() {
        let err = Connection::open("unix:path=/nonexistent/bus")
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/bus"), "{err}");
    }
}
