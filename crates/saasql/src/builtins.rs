//! Faster drop-in versions of DataFusion built-ins that saasql reports lean on.
//!
//! `date_trunc` on a timestamp with time zone `UTC` (what Parquet writers emit
//! for instants: `isAdjustedToUTC = true`) takes DataFusion 55's per-value
//! time-zone path (chrono date-time per row), several times slower than its
//! integer-arithmetic path for timestamps without a zone. In UTC local time
//! equals the stored instant, so saasql's `date_trunc` drops the zone, lets
//! DataFusion's own implementation truncate, and puts the zone back: same
//! results, same types, same errors. Every other input goes to DataFusion's
//! implementation unchanged. Week, month, quarter and year truncation of UTC
//! or zone-less arrays goes further: a value inside the previous value's
//! period reuses its start, so clustered event times skip the calendar
//! arithmetic altogether (checked against DataFusion's results in the tests).
//!
//! One deliberate difference: DataFusion 55 converts every value to
//! nanoseconds first, so it rejects second/milli/microsecond timestamps
//! outside 1677-09-21..2262-04-11 ("out of range"). Arrays of such values are
//! truncated correctly here instead (scalars still go to DataFusion).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, make_array};
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampSecondType,
};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{ExprSchema, Result, ScalarValue};
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::preimage::PreimageResult;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExpressionPlacement, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, StructFieldMapping,
};

use crate::util::time::{civil_from_days, month_start, weekday};

/// Whether `tz` names UTC itself (not merely a zone at offset 0 today), as
/// DataFusion's zone parser spells it.
fn is_utc(tz: &str) -> bool {
    matches!(tz, "UTC" | "Etc/UTC" | "+00:00")
}

/// `value` with its time zone replaced by `tz` (no values change).
fn with_zone(value: ColumnarValue, tz: Option<Arc<str>>) -> Result<ColumnarValue> {
    Ok(match value {
        ColumnarValue::Array(a) => match a.data_type() {
            // Same layout, new type: the buffers are shared, not copied.
            DataType::Timestamp(unit, _) => {
                let data = a
                    .to_data()
                    .into_builder()
                    .data_type(DataType::Timestamp(*unit, tz))
                    .build()?;
                ColumnarValue::Array(make_array(data))
            }
            _ => ColumnarValue::Array(a),
        },
        ColumnarValue::Scalar(s) => ColumnarValue::Scalar(match s {
            ScalarValue::TimestampSecond(v, _) => ScalarValue::TimestampSecond(v, tz),
            ScalarValue::TimestampMillisecond(v, _) => ScalarValue::TimestampMillisecond(v, tz),
            ScalarValue::TimestampMicrosecond(v, _) => ScalarValue::TimestampMicrosecond(v, tz),
            ScalarValue::TimestampNanosecond(v, _) => ScalarValue::TimestampNanosecond(v, tz),
            other => other,
        }),
    })
}

fn field_with_zone(field: &FieldRef, tz: Option<Arc<str>>) -> FieldRef {
    match field.data_type() {
        DataType::Timestamp(unit, _) => Arc::new(
            Field::new(
                field.name(),
                DataType::Timestamp(*unit, tz),
                field.is_nullable(),
            )
            .with_metadata(field.metadata().clone()),
        ),
        _ => Arc::clone(field),
    }
}

/// The calendar granularities truncated by [`truncate_calendar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Calendar {
    Week,
    Month,
    Quarter,
    Year,
}

impl Calendar {
    fn of(granularity: &ColumnarValue) -> Option<Self> {
        let ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(g))
            | ScalarValue::Utf8View(Some(g))
            | ScalarValue::LargeUtf8(Some(g)),
        ) = granularity
        else {
            return None;
        };
        Some(match g.to_ascii_lowercase().as_str() {
            "week" => Self::Week,
            "month" => Self::Month,
            "quarter" => Self::Quarter,
            "year" => Self::Year,
            _ => return None,
        })
    }

    /// The first day of the period holding `day` and the first day of the
    /// next period (days since 1970-01-01; weeks start on Monday).
    fn period(self, day: i64) -> (i64, i64) {
        let (year, month, dom) = civil_from_days(day);
        match self {
            Self::Week => {
                let start = day - weekday(day);
                (start, start + 7)
            }
            Self::Month => (day - i64::from(dom - 1), month_start(year, month, 1)),
            Self::Quarter => {
                let q = 1 + 3 * ((month - 1) / 3);
                (month_start(year, q, 0), month_start(year, q, 3))
            }
            Self::Year => (month_start(year, 1, 0), month_start(year, 1, 12)),
        }
    }
}

/// Truncates UTC (or zone-less) timestamps to week, month, quarter or year.
/// Event data arrives clustered in time, so each value is first checked
/// against the period of the previous miss; only values outside it do the
/// calendar arithmetic. `None` (leaving the work to DataFusion) for types it
/// does not handle or periods that do not fit the timestamp range.
fn truncate_calendar(values: &ArrayRef, calendar: Calendar) -> Option<ArrayRef> {
    fn run<T: datafusion::arrow::datatypes::ArrowTimestampType>(
        values: &ArrayRef,
        calendar: Calendar,
        per_day: i64,
    ) -> Option<ArrayRef> {
        let arr = values.as_primitive::<T>();
        let (mut lo, mut hi) = (1i64, 0i64); // empty: the first value misses
        let mut out = Vec::with_capacity(arr.len());
        for &v in arr.values().iter() {
            if v < lo || v >= hi {
                let (start, end) = calendar.period(v.div_euclid(per_day));
                lo = start.checked_mul(per_day)?;
                hi = end.checked_mul(per_day).unwrap_or(i64::MAX);
            }
            out.push(lo);
        }
        let tz = match arr.data_type() {
            DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        };
        Some(Arc::new(
            datafusion::arrow::array::PrimitiveArray::<T>::new(out.into(), arr.nulls().cloned())
                .with_timezone_opt(tz),
        ))
    }
    match values.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            run::<TimestampSecondType>(values, calendar, 86_400)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            run::<TimestampMillisecondType>(values, calendar, 86_400_000)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            run::<TimestampMicrosecondType>(values, calendar, 86_400_000_000)
        }
        // Nanosecond timestamps span only 1677–2262; DataFusion's own path
        // reports truncations that leave that range.
        _ => None,
    }
}

/// `date_trunc` / `datetrunc`: DataFusion's, with UTC timestamps truncated on
/// the fast zone-less path (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateTrunc {
    inner: Arc<ScalarUDF>,
}

impl Default for DateTrunc {
    fn default() -> Self {
        Self {
            inner: datafusion::functions::datetime::date_trunc(),
        }
    }
}

impl DateTrunc {
    fn imp(&self) -> &dyn ScalarUDFImpl {
        self.inner.inner().as_ref()
    }
}

#[warn(clippy::missing_trait_methods)]
impl ScalarUDFImpl for DateTrunc {
    fn name(&self) -> &str {
        self.imp().name()
    }
    fn display_name(&self, args: &[Expr]) -> Result<String> {
        #[expect(deprecated)]
        self.imp().display_name(args)
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.imp().schema_name(args)
    }
    fn signature(&self) -> &Signature {
        self.imp().signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.imp().return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.imp().return_field_from_args(args)
    }
    fn is_nullable(&self, args: &[Expr], schema: &dyn ExprSchema) -> bool {
        #[expect(deprecated)]
        self.imp().is_nullable(args, schema)
    }
    fn is_strict(&self) -> bool {
        self.imp().is_strict()
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone = match args.args.get(1).map(|a| a.data_type()) {
            Some(DataType::Timestamp(_, Some(tz))) if is_utc(&tz) => Some(tz),
            Some(DataType::Timestamp(_, None)) => None,
            _ => return self.imp().invoke_with_args(args),
        };
        if let (Some(calendar), ColumnarValue::Array(values)) =
            (Calendar::of(&args.args[0]), &args.args[1])
            && let Some(out) = truncate_calendar(values, calendar)
        {
            return Ok(ColumnarValue::Array(out));
        }
        let Some(zone) = zone else {
            return self.imp().invoke_with_args(args);
        };
        let value = args.args.remove(1);
        args.args.insert(1, with_zone(value, None)?);
        if let Some(f) = args.arg_fields.get_mut(1) {
            *f = field_with_zone(f, None);
        }
        args.return_field = field_with_zone(&args.return_field, None);
        let out = self.imp().invoke_with_args(args)?;
        with_zone(out, Some(zone))
    }
    fn with_updated_config(&self, _config: &ConfigOptions) -> Option<ScalarUDF> {
        None
    }
    fn aliases(&self) -> &[String] {
        self.imp().aliases()
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.imp().simplify(args, info)
    }
    fn preimage(
        &self,
        args: &[Expr],
        lit_expr: &Expr,
        info: &SimplifyContext,
    ) -> Result<PreimageResult> {
        self.imp().preimage(args, lit_expr, info)
    }
    fn conditional_arguments<'a>(
        &self,
        args: &'a [Expr],
    ) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.imp().conditional_arguments(args)
    }
    fn short_circuits(&self) -> bool {
        self.imp().short_circuits()
    }
    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.imp().evaluate_bounds(input)
    }
    fn propagate_constraints(
        &self,
        interval: &Interval,
        inputs: &[&Interval],
    ) -> Result<Option<Vec<Interval>>> {
        self.imp().propagate_constraints(interval, inputs)
    }
    fn struct_field_mapping(
        &self,
        literal_args: &[Option<ScalarValue>],
    ) -> Option<StructFieldMapping> {
        self.imp().struct_field_mapping(literal_args)
    }
    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.imp().output_ordering(inputs)
    }
    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.imp().preserves_lex_ordering(inputs)
    }
    fn strictly_order_preserving(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.imp().strictly_order_preserving(inputs)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.imp().coerce_types(arg_types)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.imp().documentation()
    }
    fn placement(&self, args: &[ExpressionPlacement]) -> ExpressionPlacement {
        self.imp().placement(args)
    }
}

/// The built-ins saasql replaces, registered by [`crate::register_all`] over
/// DataFusion's own.
pub fn replacements() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::from(DateTrunc::default()))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::PrimitiveArray;
    use datafusion::arrow::datatypes::{ArrowTimestampType, TimestampNanosecondType};

    fn invoke(f: &dyn ScalarUDFImpl, granularity: &str, value: ColumnarValue) -> ColumnarValue {
        let arg_fields: Vec<FieldRef> = vec![
            Arc::new(Field::new("g", DataType::Utf8, false)),
            Arc::new(Field::new("t", value.data_type(), true)),
        ];
        let number_rows = match &value {
            ColumnarValue::Array(a) => a.len(),
            ColumnarValue::Scalar(_) => 1,
        };
        f.invoke_with_args(ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(granularity.into()))),
                value,
            ],
            return_field: Arc::clone(&arg_fields[1]),
            arg_fields,
            number_rows,
            config_options: Arc::new(ConfigOptions::default()),
        })
        .unwrap()
    }

    /// Timestamps from 1900 to 2200 in `T`'s unit, with a NULL; runs of
    /// neighbouring values and jumps, so both the cached and the computed
    /// periods are exercised. An empty `tz` means no zone.
    fn spread<T: ArrowTimestampType>(per_second: i64, tz: &str) -> ArrayRef {
        let values = (0..5000i64).map(|i| {
            (i != 17).then(|| {
                let secs = -2_208_988_800 + (i / 3) * 5_680_371 + (i * i * 7919) % 86_400;
                secs * per_second + i % per_second.max(1)
            })
        });
        let tz = (!tz.is_empty()).then(|| Arc::<str>::from(tz));
        Arc::new(PrimitiveArray::<T>::from_iter(values).with_timezone_opt(tz))
    }

    #[test]
    fn utc_truncation_equals_datafusion_for_every_granularity_and_unit() {
        let ours = DateTrunc::default();
        let theirs = datafusion::functions::datetime::date_trunc();
        let arrays = [
            spread::<TimestampSecondType>(1, "UTC"),
            spread::<TimestampMillisecondType>(1_000, "UTC"),
            spread::<TimestampMicrosecondType>(1_000_000, "+00:00"),
            spread::<TimestampNanosecondType>(1_000_000_000, "UTC"),
            spread::<TimestampMicrosecondType>(1_000_000, "America/Sao_Paulo"),
            spread::<TimestampMicrosecondType>(1_000_000, ""),
            spread::<TimestampSecondType>(1, ""),
            spread::<TimestampMillisecondType>(1_000, "Etc/UTC"),
        ];
        for g in [
            "year",
            "quarter",
            "month",
            "week",
            "day",
            "hour",
            "minute",
            "second",
            "millisecond",
            "microsecond",
        ] {
            for a in &arrays {
                let ColumnarValue::Array(mine) =
                    invoke(&ours, g, ColumnarValue::Array(Arc::clone(a)))
                else {
                    panic!("array in, array out")
                };
                let ColumnarValue::Array(reference) = invoke(
                    theirs.inner().as_ref(),
                    g,
                    ColumnarValue::Array(Arc::clone(a)),
                ) else {
                    panic!("array in, array out")
                };
                assert_eq!(mine.data_type(), a.data_type(), "{g}: zone kept");
                assert_eq!(&mine, &reference, "{g} on {}", a.data_type());
                assert_eq!(mine.null_count(), 1);
            }
            let scalar =
                ScalarValue::TimestampMicrosecond(Some(1_741_000_000_123_456), Some("UTC".into()));
            let mine = invoke(&ours, g, ColumnarValue::Scalar(scalar.clone()));
            let reference = invoke(theirs.inner().as_ref(), g, ColumnarValue::Scalar(scalar));
            let (ColumnarValue::Scalar(m), ColumnarValue::Scalar(r)) = (mine, reference) else {
                panic!("scalar in, scalar out")
            };
            assert_eq!(m, r, "{g} on a scalar");
        }
    }

    /// `date_trunc('month', v)` of one UTC timestamp array value of type `T`.
    fn month_of<T: ArrowTimestampType>(v: i64) -> i64 {
        let a: ArrayRef = Arc::new(PrimitiveArray::<T>::from_iter_values([v]).with_timezone("UTC"));
        let ColumnarValue::Array(out) =
            invoke(&DateTrunc::default(), "month", ColumnarValue::Array(a))
        else {
            panic!("array in, array out")
        };
        out.as_primitive::<T>().value(0)
    }

    #[test]
    fn arrays_outside_the_nanosecond_range_are_truncated() {
        // 1600-01-15T12:00:00Z → 1600-01-01; DataFusion 55 rejects it
        // (nanosecond overflow).
        assert_eq!(
            month_of::<TimestampSecondType>(-11_674_843_200),
            -11_676_096_000
        );
    }

    #[test]
    fn month_of_a_utc_timestamp() {
        // 2025-03-03T11:06:40Z → 2025-03-01T00:00:00Z
        assert_eq!(
            month_of::<TimestampMicrosecondType>(1_741_000_000_000_000),
            1_740_787_200_000_000
        );
    }
}
