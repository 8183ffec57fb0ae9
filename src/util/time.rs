//! Points in time: timestamps of any unit as UTC microseconds, days, and
//! times in error messages.

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
}
