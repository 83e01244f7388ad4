//! The wall clock as runc writes it: RFC 3339 in UTC, for `created` in state.json and the time
//! of log lines. A leaf: it uses nothing of the crate, so anything may use it. The formatter
//! is the workspace's one, in hull-cgroups (hull-image writes its dates with it too).

use hull_cgroups::rfc3339;

fn since_epoch() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// RFC 3339 with nanoseconds in UTC, as runc writes `created`.
pub fn now_rfc3339() -> String {
    let now = since_epoch();
    rfc3339::format(now.as_secs() as i64, Some(now.subsec_nanos()))
}

/// RFC 3339 to the second in UTC, as runc's log lines carry the time.
pub fn now_rfc3339_seconds() -> String {
    rfc3339::format(since_epoch().as_secs() as i64, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_shapes() {
        let s = now_rfc3339_seconds();
        assert!(
            s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T',
            "{s}"
        );
        let s = now_rfc3339();
        assert!(
            s.len() == 30 && s.ends_with('Z') && s.as_bytes()[19] == b'.',
            "{s}"
        );
    }
}
