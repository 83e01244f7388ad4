//! RFC 3339 in UTC from a Unix time, the one formatter of the workspace: the runtime's state
//! (`created`, nanoseconds as runc writes them) and log lines (seconds), and hull-image's
//! image configs (seconds). It lives in the lowest crate both depend on; nothing of cgroups
//! uses it.

/// `secs` (before 1970 too) as `YYYY-MM-DDTHH:MM:SSZ`, or with `nanos` as
/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (always nine digits, as runc's `created`).
pub fn format(secs: i64, nanos: Option<u32>) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm): days since 1970-01-01 to y-m-d.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    match nanos {
        Some(n) => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{n:09}Z"),
        None => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"),
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn dates() {
        assert_eq!(format(0, Some(0)), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format(951_782_400, Some(5)),
            "2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(
            format(1_795_000_000, Some(0)),
            "2026-11-18T11:06:40.000000000Z"
        );
        assert_eq!(format(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(format(1_600_000_000, None), "2020-09-13T12:26:40Z");
        assert_eq!(format(951_782_400, None), "2000-02-29T00:00:00Z");
        // Before 1970 (a SOURCE_DATE_EPOCH may be negative).
        assert_eq!(format(-1, None), "1969-12-31T23:59:59Z");
    }
}
