//! Wall-clock times as text, without a date library: UTC, ISO 8601.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `2026-11-24T18-30-05Z` (safe in file names).
pub fn stamp_now() -> String {
    let (date, (h, m, s)) = civil(now_secs());
    format!("{date}T{h:02}-{m:02}-{s:02}Z")
}

/// Now, as `2026-11-24T18:30:05Z`.
pub fn iso_now() -> String {
    iso(now_secs())
}

pub fn iso(secs: u64) -> String {
    let (date, (h, m, s)) = civil(secs);
    format!("{date}T{h:02}:{m:02}:{s:02}Z")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil(secs: u64) -> (String, (u64, u64, u64)) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        (rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_795_478_400), "2026-11-24T00:00:00Z");
        assert_eq!(iso(951_782_400 + 3_661), "2000-02-29T01:01:01Z");
    }
}
