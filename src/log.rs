//! Logging as runc does it: `--log FILE` (stderr by default), `--log-format text|json`,
//! `--debug` for debug lines. Engines read these lines: containerd takes the last error line
//! of the JSON log as the failure message, podman reads the file, and users debugging a
//! failing container ask for `--debug`.
//!
//! The lines are logrus's, as runc writes them: text
//! `time="2024-01-02T03:04:05Z" level=debug msg="..." pid=42` and JSON objects with sorted
//! keys (`{"level":"debug","msg":"...","pid":42,"time":"..."}`), the time in seconds.
//!
//! The container's init is a fork of the runtime, so it logs through the same destination:
//! with `--debug` and no `--log`, a close-on-exec copy of the runtime's stderr, taken at
//! startup (init's own stderr becomes the container's, or its terminal), until it closes the
//! runtime's fds ([`detach`]).

use std::fmt::Display;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    /// The log file, or the copy of stderr debug lines go to; `None`: stderr itself.
    dest: Option<Mutex<File>>,
    to_file: bool,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Set in init and exec'd processes once they close the runtime's fds (the log among them):
/// from then on they log nothing (a number once the log's may be another file's).
static DETACHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stops logging in this process: call before its fds are closed behind the logger's back.
pub fn detach() {
    DETACHED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Sets the destination once, at startup.
pub fn init(file: Option<File>, format: Format, debug: bool) {
    let to_file = file.is_some();
    let dest = file.or_else(|| {
        debug
            .then(|| std::io::stderr().as_fd().try_clone_to_owned().ok())
            .flatten()
            .map(File::from)
    });
    let _ = LOGGER.set(Logger {
        dest: dest.map(Mutex::new),
        to_file,
        format,
        debug,
    });
}

/// True when log lines go to a file rather than stderr.
pub fn to_file() -> bool {
    LOGGER.get().is_some_and(|l| l.to_file)
}

/// Whether `--debug` was given.
pub fn debugging() -> bool {
    LOGGER.get().is_some_and(|l| l.debug)
}

pub fn error(msg: &str) {
    write("error", msg, &[]);
}

pub fn warn(msg: &str) {
    write("warning", msg, &[]);
}

pub fn debug(msg: &str) {
    debug_with(msg, &[]);
}

/// A debug line with fields (`pid=42`), as logrus's WithFields gives.
pub fn debug_with(msg: &str, fields: &[(&str, &dyn Display)]) {
    if debugging() {
        write("debug", msg, fields);
    }
}

/// One line in `format`.
fn line(
    format: Format,
    time: &str,
    level: &str,
    msg: &str,
    fields: &[(&str, &dyn Display)],
) -> String {
    match format {
        Format::Json => {
            let mut obj = std::collections::BTreeMap::new();
            obj.insert("level", serde_json::Value::from(level));
            obj.insert("msg", msg.into());
            obj.insert("time", time.into());
            for (k, v) in fields {
                let v = v.to_string();
                // Numbers stay numbers, as logrus writes an int field.
                let v = match v.parse::<i64>() {
                    Ok(n) => serde_json::Value::from(n),
                    Err(_) => v.into(),
                };
                obj.insert(k, v);
            }
            serde_json::to_string(&obj).unwrap_or_default() + "\n"
        }
        Format::Text => {
            let mut s = format!("time=\"{time}\" level={level} msg={}", quoted(msg));
            for (k, v) in fields {
                s.push_str(&format!(" {k}={}", text_value(&v.to_string())));
            }
            s.push('\n');
            s
        }
    }
}

/// A message in double quotes, escaped as Go's %q escapes it.
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A field value bare when logrus leaves it bare (letters, digits, `-._/@^+`), quoted
/// otherwise.
fn text_value(s: &str) -> String {
    let bare = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if bare {
        s.to_string()
    } else {
        quoted(s)
    }
}

fn write(level: &str, msg: &str, fields: &[(&str, &dyn Display)]) {
    if DETACHED.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let (format, dest) = match LOGGER.get() {
        Some(l) => (l.format, l.dest.as_ref()),
        None => (Format::Text, None),
    };
    let time = crate::clock::now_rfc3339_seconds();
    let text = line(format, &time, level, msg, fields);
    match dest {
        Some(f) => {
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(text.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-01-02T03:04:05Z";

    #[test]
    fn text_lines_are_logrus_lines() {
        assert_eq!(
            line(
                Format::Text,
                T,
                "debug",
                "process exited",
                &[("pid", &42), ("status", &0)]
            ),
            "time=\"2026-01-02T03:04:05Z\" level=debug msg=\"process exited\" pid=42 status=0\n"
        );
        assert_eq!(
            line(Format::Text, T, "debug", "x", &[("path", &"/a b")]),
            "time=\"2026-01-02T03:04:05Z\" level=debug msg=\"x\" path=\"/a b\"\n"
        );
    }

    #[test]
    fn json_lines_have_sorted_keys_and_numbers() {
        assert_eq!(
            line(Format::Json, T, "debug", "process exited", &[("pid", &42), ("status", &0)]),
            "{\"level\":\"debug\",\"msg\":\"process exited\",\"pid\":42,\"status\":0,\"time\":\"2026-01-02T03:04:05Z\"}\n"
        );
    }
}
