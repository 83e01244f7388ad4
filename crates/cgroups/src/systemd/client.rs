//! systemd's manager over D-Bus: the calls the driver makes, and waiting for their jobs.

use std::time::{Duration, Instant};

use super::props::Property;
use crate::dbus::{self, Connection, Value};
use crate::{Error, Result};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// How long systemd may take to start or stop a unit (runc waits 30 s too).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Systemd {
    conn: Connection,
    watching_jobs: bool,
}

fn failed(what: &str, e: dbus::Error) -> Error {
    Error::Systemd(format!("{what}: {e}"))
}

impl Systemd {
    /// Connects to the system manager, or with `user` to the calling user's.
    pub fn connect(user: bool) -> Result<Systemd> {
        let (bus, address) = if user {
            ("user", dbus::user_address())
        } else {
            ("system", dbus::system_address())
        };
        let conn = Connection::open(&address).map_err(|e| {
            Error::Systemd(format!(
                "--systemd-cgroup needs systemd on the {bus} D-Bus, which is not reachable: {e}"
            ))
        })?;
        Ok(Systemd {
            conn,
            watching_jobs: false,
        })
    }

    #[cfg(test)]
    fn with_connection(conn: Connection) -> Systemd {
        Systemd {
            conn,
            watching_jobs: false,
        }
    }

    fn manager(
        &mut self,
        member: &str,
        body: Vec<Value>,
    ) -> std::result::Result<Vec<Value>, dbus::Error> {
        self.conn.call(DEST, PATH, MANAGER, member, body)
    }

    /// Routes JobRemoved here, before any job is queued so that none is missed.
    fn watch_jobs(&mut self) -> Result<()> {
        if !self.watching_jobs {
            self.conn
                .add_match(&format!(
                    "type='signal',sender='{DEST}',path='{PATH}',interface='{MANAGER}',member='JobRemoved'"
                ))
                .map_err(|e| failed("subscribe to systemd's job signals", e))?;
            self.watching_jobs = true;
        }
        Ok(())
    }

    /// Waits for `job` to finish and returns its result ("done", "failed", "canceled"...).
    fn wait_job(&mut self, job: &str, what: &str) -> Result<String> {
        let deadline = Instant::now() + JOB_TIMEOUT;
        let m = self
            .conn
            .wait_signal(deadline, |m| {
                m.member.as_deref() == Some("JobRemoved")
                    && m.body.get(1).and_then(Value::as_str) == Some(job)
            })
            .map_err(|e| failed(&format!("{what}: waiting for systemd job {job}"), e))?;
        Ok(m.body
            .get(3)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    fn job_path(reply: &[Value]) -> Result<String> {
        reply
            .first()
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| Error::Systemd("systemd returned no job".into()))
    }

    /// StartTransientUnit(name, "replace", props) and waits for the job. A leftover unit of
    /// the same name (failed earlier) is reset and the start tried once more.
    pub fn start_transient(&mut self, name: &str, props: &[Property]) -> Result<()> {
        self.watch_jobs()?;
        let what = format!("start unit {name}");
        let body = || {
            vec![
                Value::str(name),
                Value::str("replace"),
                properties(props),
                Value::array("(sa(sv))", vec![]),
            ]
        };
        let reply = match self.manager("StartTransientUnit", body()) {
            Err(e) if e.is("org.freedesktop.systemd1.UnitExists") => {
                let _ = self.reset_failed(name);
                self.manager("StartTransientUnit", body())
            }
            other => other,
        }
        .map_err(|e| failed(&what, e))?;
        let job = Self::job_path(&reply)?;
        let result = match self.wait_job(&job, &what) {
            Ok(r) => r,
            Err(e) => {
                // The unit is ours but did not come up in time: take it away again.
                let _ = self.stop(name);
                return Err(e);
            }
        };
        match result.as_str() {
            "done" => Ok(()),
            result => {
                let _ = self.reset_failed(name);
                Err(Error::Systemd(format!(
                    "{what}: the job ended \"{result}\""
                )))
            }
        }
    }

    /// StopUnit and waits; a unit systemd no longer has is already stopped.
    pub fn stop(&mut self, name: &str) -> Result<()> {
        self.watch_jobs()?;
        let what = format!("stop unit {name}");
        let result = match self.manager("StopUnit", vec![Value::str(name), Value::str("replace")]) {
            Ok(reply) => {
                let job = Self::job_path(&reply)?;
                self.wait_job(&job, &what).map(drop)
            }
            Err(e) if e.is("org.freedesktop.systemd1.NoSuchUnit") => Ok(()),
            Err(e) => Err(failed(&what, e)),
        };
        let _ = self.reset_failed(name);
        result
    }

    fn reset_failed(&mut self, name: &str) -> std::result::Result<(), dbus::Error> {
        self.manager("ResetFailedUnit", vec![Value::str(name)])
            .map(drop)
    }

    /// SetUnitProperties(name, runtime=true, props).
    pub fn set_properties(&mut self, name: &str, props: &[Property]) -> Result<()> {
        self.manager(
            "SetUnitProperties",
            vec![Value::str(name), Value::Bool(true), properties(props)],
        )
        .map(drop)
        .map_err(|e| failed(&format!("set properties of unit {name}"), e))
    }

    /// A property of the manager object ("Version", "ControlGroup").
    pub fn manager_property(&mut self, name: &str) -> Result<Value> {
        let reply = self
            .conn
            .call(
                DEST,
                PATH,
                PROPERTIES,
                "Get",
                vec![Value::str(MANAGER), Value::str(name)],
            )
            .map_err(|e| failed(&format!("read systemd's {name}"), e))?;
        reply
            .into_iter()
            .next()
            .map(|v| v.inner().clone())
            .ok_or_else(|| Error::Systemd(format!("systemd's {name}: empty reply")))
    }

    /// systemd's version number ("252.19-1~deb12u1" → 252); 0 when unreadable.
    pub fn version(&mut self) -> u32 {
        self.manager_property("Version")
            .ok()
            .and_then(|v| v.as_str().map(parse_version))
            .unwrap_or(0)
    }
}

fn parse_version(s: &str) -> u32 {
    let digits: String = s
        .trim_start_matches(['"', 'v'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

/// `a(sv)` from (name, value) pairs.
fn properties(props: &[Property]) -> Value {
    Value::array(
        "(sv)",
        props
            .iter()
            .map(|(n, v)| Value::Struct(vec![Value::str(n), Value::variant(v.clone())]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("252.19-1~deb12u1"), 252);
        assert_eq!(parse_version("v245.4-1.fc32"), 245);
        assert_eq!(parse_version("\"249\""), 249);
        assert_eq!(parse_version("x"), 0);
    }

    use crate::dbus::testbus::Daemon;
    use crate::dbus::{Kind, Message};
    use std::sync::{Arc, Mutex};

    /// Answers like systemd's manager: StartTransientUnit and StopUnit queue a job whose
    /// JobRemoved follows the reply ("done", or "failed" for fails.scope); exists.scope is a
    /// leftover until reset; unknown units are NoSuchUnit. Every call is logged.
    fn fake_systemd(address: &str) -> (Arc<Mutex<Vec<Message>>>, std::thread::JoinHandle<()>) {
        let mut conn = Connection::open(address).unwrap();
        let owned = conn
            .call(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "RequestName",
                vec![Value::str(DEST), Value::U32(0)],
            )
            .unwrap();
        assert_eq!(owned, [Value::U32(1)]);
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        let handle = std::thread::spawn(move || {
            let mut units: Vec<String> = Vec::new();
            let mut leftover = true;
            let mut job = 0u32;
            loop {
                let deadline = Instant::now() + Duration::from_secs(20);
                let Ok(call) = conn.next_message(deadline) else {
                    return;
                };
                if call.kind != Kind::MethodCall {
                    continue;
                }
                seen.lock().unwrap().push(call.clone());
                let name = call
                    .body
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let reply = |body: Vec<Value>| Message {
                    kind: Kind::MethodReturn,
                    reply_serial: Some(call.serial),
                    destination: call.sender.clone(),
                    body,
                    ..Message::method_call("", "", "", "", vec![])
                };
                let error = |err: &str| Message {
                    kind: Kind::Error,
                    error_name: Some(err.to_string()),
                    path: None,
                    interface: None,
                    member: None,
                    ..reply(vec![Value::str(format!("{err} for {name}"))])
                };
                let mut queue_job = |conn: &mut Connection, result: &str| {
                    job += 1;
                    let path = format!("{PATH}/job/{job}");
                    let r = reply(vec![Value::ObjectPath(path.clone())]);
                    conn.send_message(&Message {
                        path: None,
                        interface: None,
                        member: None,
                        ..r
                    })
                    .unwrap();
                    let signal = Message {
                        kind: Kind::Signal,
                        destination: None,
                        ..Message::method_call(
                            "",
                            PATH,
                            MANAGER,
                            "JobRemoved",
                            vec![
                                Value::U32(job),
                                Value::ObjectPath(path),
                                Value::str(&name),
                                Value::str(result),
                            ],
                        )
                    };
                    conn.send_message(&signal).unwrap();
                };
                let plain = |m: Message| Message {
                    path: None,
                    interface: None,
                    member: None,
                    ..m
                };
                let answer = match call.member.as_deref().unwrap_or_default() {
                    "StartTransientUnit" if name == "exists.scope" && leftover => {
                        Some(error("org.freedesktop.systemd1.UnitExists"))
                    }
                    "StartTransientUnit" => {
                        let result = if name == "fails.scope" {
                            "failed"
                        } else {
                            "done"
                        };
                        units.push(name.clone());
                        queue_job(&mut conn, result);
                        None
                    }
                    "StopUnit" if units.contains(&name) => {
                        units.retain(|u| *u != name);
                        queue_job(&mut conn, "done");
                        None
                    }
                    "StopUnit" => Some(error("org.freedesktop.systemd1.NoSuchUnit")),
                    "ResetFailedUnit" => {
                        leftover = false;
                        Some(reply(vec![]))
                    }
                    "SetUnitProperties" => Some(reply(vec![])),
                    "Get" => Some(reply(vec![Value::variant(Value::str("252.19-1"))])),
                    "Quit" => {
                        conn.send_message(&plain(reply(vec![]))).unwrap();
                        return;
                    }
                    _ => Some(error("org.freedesktop.DBus.Error.UnknownMethod")),
                };
                if let Some(m) = answer {
                    conn.send_message(&plain(m)).unwrap();
                }
            }
        });
        (log, handle)
    }

    fn calls(log: &Mutex<Vec<Message>>, member: &str) -> Vec<Vec<Value>> {
        log.lock()
            .unwrap()
            .iter()
            .filter(|m| m.member.as_deref() == Some(member))
            .map(|m| m.body.clone())
            .collect()
    }

    #[test]
    fn drives_a_fake_systemd_over_a_real_bus() {
        let daemon = Daemon::start();
        let (log, server) = fake_systemd(&daemon.address);
        let mut sd = Systemd::with_connection(Connection::open(&daemon.address).unwrap());

        let props: Vec<Property> = vec![
            ("Slice".into(), Value::str("system.slice")),
            ("Delegate".into(), Value::Bool(true)),
            ("PIDs".into(), Value::array("u", vec![Value::U32(42)])),
            ("MemoryMax".into(), Value::U64(1 << 25)),
            (
                "AllowedCPUs".into(),
                Value::array("y", vec![Value::Byte(3)]),
            ),
            (
                "DeviceAllow".into(),
                Value::array(
                    "(ss)",
                    vec![Value::Struct(vec![
                        Value::str("/dev/char/1:3"),
                        Value::str("rwm"),
                    ])],
                ),
            ),
        ];
        sd.start_transient("hull-a.scope", &props).unwrap();
        let start = calls(&log, "StartTransientUnit");
        assert_eq!(start.len(), 1);
        assert_eq!(start[0][0], Value::str("hull-a.scope"));
        assert_eq!(start[0][1], Value::str("replace"));
        // The properties arrive as sent, through the daemon.
        assert_eq!(start[0][2], properties(&props));
        assert_eq!(start[0][3], Value::array("(sa(sv))", vec![]));

        // A leftover unit is reset, then started.
        sd.start_transient("exists.scope", &[]).unwrap();
        assert_eq!(calls(&log, "ResetFailedUnit").len(), 1);
        assert_eq!(calls(&log, "StartTransientUnit").len(), 3);

        let err = sd
            .start_transient("fails.scope", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fails.scope") && err.contains("failed"),
            "{err}"
        );

        sd.set_properties("hull-a.scope", &props[3..4]).unwrap();
        let set = calls(&log, "SetUnitProperties");
        assert_eq!(set[0][1], Value::Bool(true), "runtime");

        assert_eq!(sd.version(), 252);

        sd.stop("hull-a.scope").unwrap();
        sd.stop("never.scope").unwrap(); // NoSuchUnit: already stopped

        sd.conn.call(DEST, PATH, MANAGER, "Quit", vec![]).unwrap();
        server.join().unwrap();
    }
}
