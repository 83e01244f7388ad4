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
        match self.wait_job(&job, &what)?.as_str() {
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
}
