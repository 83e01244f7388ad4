//! Logging as runc does it: `--log FILE` (stderr by default), `--log-format text|json`.
//! Engines read these lines: containerd takes the last error line of the JSON log as the
//! failure message, podman reads the file.

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<Mutex<File>>,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets the destination once, at startup.
pub fn init(file: Option<File>, format: Format, debug: bool) {
    let _ = LOGGER.set(Logger {
        file: file.map(Mutex::new),
        format,
        debug,
    });
}

/// True when log lines go to a file rather than stderr.
pub fn to_file() -> bool {
    LOGGER.get().is_some_and(|l| l.file.is_some())
}

pub fn error(msg: &str) {
    write("error", msg);
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn debug(msg: &str) {
    if LOGGER.get().is_some_and(|l| l.debug) {
        write("debug", msg);
    }
}

fn write(level: &str, msg: &str) {
    let (format, file) = match LOGGER.get() {
        Some(l) => (l.format, l.file.as_ref()),
        None => (Format::Text, None),
    };
    let time = crate::container::state::now_rfc3339();
    let line = match format {
        Format::Json => {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string() + "\n"
        }
        Format::Text => format!(
            "time={:?} level={level} msg={}\n",
            time,
            serde_json::Value::String(msg.to_string())
        ),
    };
    match file {
        Some(f) => {
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(line.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}
