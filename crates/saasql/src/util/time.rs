//! Points in time: timestamps of any unit as UTC microseconds, days, times
//! in error messages, and the one civil calendar (proleptic Gregorian, UTC)
//! that `date_trunc` ([`crate::builtins`]), `--param` dates and the `saasql
//! gen` generator share: days ↔ year/month/day, month lengths, calendar-month
//! steps, weekdays, and `YYYY-MM-DD` text.

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::buffer::ScalarBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{Result, exec_err};

/// Microseconds in one minute.
pub const MICROS_PER_MINUTE: i64 = 60_000_000;
/// Microseconds in one UTC day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Timestamps (any unit, any time zone) as UTC microseconds since the epoch
/// (zero-copy for microsecond timestamps). Dates and strings are expected to
/// be coerced to timestamps by the signature; dates are also accepted here.
/// Second and millisecond values beyond ±292,000 years saturate.
pub fn time_micros(function: &str, argument: &str, arr: &ArrayRef) -> Result<ScalarBuffer<i64>> {
    Ok(match arr.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => arr
            .as_primitive::<TimestampSecondType>()
            .values()
            .iter()
            .map(|v| v.saturating_mul(1_000_000))
            .collect(),
        DataType::Timestamp(TimeUnit::Millisecond, _) => arr
            .as_primitive::<TimestampMillisecondType>()
            .values()
            .iter()
            .map(|v| v.saturating_mul(1_000))
            .collect(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => arr
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .clone(),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => arr
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .iter()
            .map(|v| v.div_euclid(1_000))
            .collect(),
        DataType::Date32 | DataType::Date64 | DataType::Null => {
            let c = cast(arr, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            return time_micros(function, argument, &c);
        }
        other => {
            return exec_err!("{function}: {argument} must be a DATE or TIMESTAMP, got {other}");
        }
    })
}

/// UTC day number (days since 1970-01-01) of a microsecond timestamp.
#[inline]
pub fn utc_day(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

/// Renders a UTC microsecond timestamp for error messages.
pub fn fmt_time(micros: i64) -> String {
    match datafusion::arrow::temporal_conversions::timestamp_us_to_datetime(micros) {
        Some(t) => t.to_string().replacen(' ', "T", 1),
        None => format!("{micros} µs after 1970-01-01"),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`). `month` is 1–12; `day` may exceed the month's length
/// (the result then runs into the next month).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Year, month (1–12) and day of month of `days` since 1970-01-01 (proleptic
/// Gregorian; Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days in `month` (1–12) of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The first day of the month `months` after (or before) the month of
/// `year`-`month` (1–12), in days since 1970-01-01.
pub fn month_start(year: i64, month: u32, months: i64) -> i64 {
    let total = year * 12 + i64::from(month) - 1 + months;
    days_from_civil(total.div_euclid(12), (total.rem_euclid(12) + 1) as u32, 1)
}

/// A UTC microsecond timestamp moved by whole calendar months, keeping the
/// time of day; the day of month is clamped to the target month's length
/// (Jan 31 + 1 month = Feb 28).
pub fn add_months(micros: i64, months: i64) -> i64 {
    let day = micros.div_euclid(MICROS_PER_DAY);
    let time = micros.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(day);
    let total = y * 12 + i64::from(m) - 1 + months;
    let (ny, nm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    let nd = d.min(days_in_month(ny, nm));
    days_from_civil(ny, nm, nd) * MICROS_PER_DAY + time
}

/// Day of the week of `days` since 1970-01-01: Monday = 0 … Sunday = 6.
pub fn weekday(days: i64) -> i64 {
    // 1970-01-01 was a Thursday.
    (days + 3).rem_euclid(7)
}

/// Parses `YYYY-MM-DD` (surrounding spaces allowed) into days since
/// 1970-01-01, the DATE value; `None` unless it is a real date that fits.
pub fn parse_date(s: &str) -> Option<i32> {
    let mut parts = s.trim().splitn(3, '-');
    let mut next = |len: usize| -> Option<i64> {
        let p = parts.next()?;
        if p.len() != len || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<i64>().ok()
    };
    let (y, m, d) = (next(4)?, next(2)?, next(2)?);
    if !(1..=12).contains(&m) || d < 1 || d > i64::from(days_in_month(y, m as u32)) {
        return None;
    }
    i32::try_from(days_from_civil(y, m as u32, d as u32)).ok()
}

/// Formats days since 1970-01-01 as `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn time_micros_normalises_units_and_days() {
        let arr: ArrayRef = Arc::new(
            datafusion::arrow::array::TimestampSecondArray::from(vec![86_400])
                .with_timezone("+05:00"),
        );
        let v = time_micros("f", "t", &arr).unwrap();
        assert_eq!(v.to_vec(), vec![86_400_000_000]);
        assert_eq!(utc_day(v[0]), 1);
        assert_eq!(utc_day(-1), -1);
    }

    #[test]
    fn calendar() {
        assert_eq!(parse_date("2025-01-01"), Some(20_089));
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(format_date(20_089), "2025-01-01");
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "2025-1-01",
            "25-01-01",
            "2025-01-01x",
            "",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        for day in -800_000..800_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            assert_eq!(month_start(y, m, 0), day - i64::from(d - 1));
        }
        assert_eq!(
            month_start(2024, 12, 1),
            i64::from(parse_date("2025-01-01").unwrap())
        );
        assert_eq!(
            month_start(2025, 1, -13),
            i64::from(parse_date("2023-12-01").unwrap())
        );
        // 2025-01-01 was a Wednesday.
        assert_eq!(weekday(20_089), 2);
        let at = |s: &str| i64::from(parse_date(s).unwrap()) * MICROS_PER_DAY + 3 * 3_600_000_000;
        assert_eq!(add_months(at("2025-01-31"), 1), at("2025-02-28"));
        assert_eq!(add_months(at("2024-01-31"), 1), at("2024-02-29"));
        assert_eq!(add_months(at("2025-01-31"), 2), at("2025-03-31"));
        assert_eq!(add_months(at("2024-11-15"), 3), at("2025-02-15"));
        assert_eq!(add_months(at("2025-03-10"), -12), at("2024-03-10"));
    }
}
