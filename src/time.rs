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

/// `2026-11-24 18:40:50` as seconds, the same calendar arithmetic as `iso` (the time zone is
/// whatever the text's is; two such times can be compared).
pub fn parse_datetime(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once(' ')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|x| x.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + s)
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
        assert_eq!(
            parse_datetime("2000-02-29 01:01:01"),
            Some(951_782_400 + 3_661)
        );
        assert_eq!(parse_datetime("2026-11-24 00:00:00"), Some(1_795_478_400));
        assert_eq!(parse_datetime("garbage"), None);
    }
}
