//! `metric_anomaly(value, bucket_time, training, sensitivity [, seasonality])
//! OVER (ORDER BY bucket_time)`: whether a metric's latest value is an
//! anomaly against its own history (a z-score test, as Elementary's).

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Builder, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, Signature, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::Function;
use crate::util::numbers::fmt_num;
use crate::util::time::{civil_from_days, fmt_time, time_micros, utc_day};

const NAME: &str = "metric_anomaly";

/// Which earlier buckets a bucket is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seasonality {
    /// Every earlier bucket.
    None,
    /// Earlier buckets on the same weekday (UTC).
    DayOfWeek,
    /// Earlier buckets on the same day of the month.
    DayOfMonth,
    /// Earlier buckets in the same hour of the day.
    HourOfDay,
}

impl Seasonality {
    fn parse(text: &str) -> Result<Self> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "none" | "" => Seasonality::None,
            "day_of_week" => Seasonality::DayOfWeek,
            "day_of_month" => Seasonality::DayOfMonth,
            "hour_of_day" => Seasonality::HourOfDay,
            other => {
                return plan_err!(
                    "{NAME}: seasonality '{other}' is not one of 'none', 'day_of_week', 'day_of_month', 'hour_of_day'"
                );
            }
        })
    }

    /// The season of a bucket starting at `micros` (UTC).
    fn season(self, micros: i64) -> i64 {
        let day = utc_day(micros);
        match self {
            Seasonality::None => 0,
            // 1970-01-01 was a Thursday.
            Seasonality::DayOfWeek => (day + 3).rem_euclid(7),
            Seasonality::DayOfMonth => i64::from(civil_from_days(day).2),
            Seasonality::HourOfDay => micros.rem_euclid(86_400_000_000) / 3_600_000_000,
        }
    }
}

/// The verdict on one value given its season's earlier values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Mean of the training values.
    pub expected: f64,
    /// Their sample standard deviation.
    pub stddev: f64,
    /// `(value − expected) / stddev`; `None` for a NULL value, or a value
    /// off a zero stddev.
    pub zscore: Option<f64>,
    /// `expected − sensitivity × stddev`.
    pub lower: f64,
    /// `expected + sensitivity × stddev`.
    pub upper: f64,
    /// `|zscore| > sensitivity` (with a zero stddev: any value but the
    /// expected one); `None` for a NULL value.
    pub anomalous: Option<bool>,
}

/// The verdict on `value` against `training` values (`None` with fewer
/// than 3: no verdict).
pub fn verdict(value: Option<f64>, training: &[f64], sensitivity: f64) -> Option<Verdict> {
    let n = training.len();
    if n < 3 {
        return None;
    }
    let mean = training.iter().sum::<f64>() / n as f64;
    let var = training
        .iter()
        .map(|x| (x - mean) * (x - mean))
        .sum::<f64>()
        / (n - 1) as f64;
    let stddev = var.sqrt();
    let (zscore, anomalous) = match value {
        None => (None, None),
        Some(v) if stddev > 0.0 => {
            let z = (v - mean) / stddev;
            (Some(z), Some(z.abs() > sensitivity))
        }
        // No spread: the expected value is no anomaly, any other one is.
        Some(v) => ((v == mean).then_some(0.0), Some(v != mean)),
    };
    Some(Verdict {
        expected: mean,
        stddev,
        zscore,
        lower: mean - sensitivity * stddev,
        upper: mean + sensitivity * stddev,
        anomalous,
    })
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Whether each bucket's value of a metric series is an anomaly against the same \
         series' earlier buckets (a window function: OVER (ORDER BY bucket_time), one row \
         per bucket, PARTITION BY for several series). Returns a struct {expected, stddev, \
         zscore, lower, upper, anomalous}: expected and stddev are the mean and sample \
         standard deviation of the `training` latest earlier non-NULL values of the same \
         season (seasonality 'none', the default: every earlier bucket; 'day_of_week', \
         'day_of_month', 'hour_of_day': only earlier buckets on the same UTC weekday, day \
         of month or hour); the current row is never in its own training set. zscore = \
         (value − expected) / stddev; lower and upper = expected ∓ sensitivity × stddev; \
         anomalous = |zscore| > sensitivity. With fewer than 3 training values every field \
         is NULL (no verdict, never a false alarm). With a zero stddev (a constant \
         history) the expected value has zscore 0 and is not anomalous, any other value \
         is anomalous with a NULL zscore (it is infinitely far). A NULL value gets \
         expected, stddev, lower and upper, and NULL zscore and anomalous. This is \
         Elementary's volume and column anomaly test (its defaults: sensitivity 3, a \
         training period of 14 buckets, seasonality day_of_week for daily data), with \
         the training window counted in buckets of the same season rather than in days. \
         training (at least 3) and sensitivity (> 0) are constant numbers, seasonality a \
         constant string; rows out of bucket_time order, two rows of one bucket, a \
         non-finite value or a NULL bucket_time are errors.",
        "metric_anomaly(value, bucket_time, training, sensitivity [, seasonality]) OVER (ORDER BY bucket_time)",
    )
    .with_argument("value", "The metric's value in the bucket (any numeric type).")
    .with_argument("bucket_time", "The bucket's start, a DATE or TIMESTAMP (UTC).")
    .with_argument("training", "How many earlier values of the same season to learn from (constant, ≥ 3; Elementary: 14).")
    .with_argument("sensitivity", "How many standard deviations away is anomalous (constant, > 0; Elementary: 3).")
    .with_argument("seasonality", "'none' (default), 'day_of_week', 'day_of_month' or 'hour_of_day'.")
    .with_sql_example(
        "SELECT day, signups,\n       metric_anomaly(signups, day, 14, 3, 'day_of_week') OVER (ORDER BY day) AS a\nFROM daily_signups;",
    )
    .build()
});

/// The `metric_anomaly` window function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MetricAnomaly {
    params: Params,
}

impl Default for MetricAnomaly {
    fn default() -> Self {
        const PARAMS: [Param; 5] = [
            Param::number("value"),
            Param::time("bucket_time"),
            Param::number("training"),
            Param::number("sensitivity"),
            Param::text("seasonality"),
        ];
        Self {
            params: Params::new(NAME, &PARAMS, &[4, 5]),
        }
    }
}

/// The struct's fields.
fn fields() -> Fields {
    Fields::from(vec![
        Field::new("expected", DataType::Float64, true),
        Field::new("stddev", DataType::Float64, true),
        Field::new("zscore", DataType::Float64, true),
        Field::new("lower", DataType::Float64, true),
        Field::new("upper", DataType::Float64, true),
        Field::new("anomalous", DataType::Boolean, true),
    ])
}

/// A constant argument's value.
fn constant(args: &[Arc<dyn PhysicalExpr>], i: usize, name: &str) -> Result<Option<ScalarValue>> {
    let Some(expr) = args.get(i) else {
        return Ok(None);
    };
    match expr.downcast_ref::<Literal>() {
        Some(l) => Ok(Some(l.value().clone())),
        None => plan_err!("{NAME}: {name} must be a constant, not a column or expression"),
    }
}

fn number(value: Option<ScalarValue>, name: &str) -> Result<f64> {
    let Some(value) = value else {
        return plan_err!("{NAME}: {name} is missing");
    };
    match value.cast_to(&DataType::Float64) {
        Ok(ScalarValue::Float64(Some(v))) if v.is_finite() => Ok(v),
        _ => plan_err!("{NAME}: {name} must be a finite number, got {value}"),
    }
}

impl WindowUDFImpl for MetricAnomaly {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        self.params.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.params.coerce(arg_types)
    }
    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(AnomalyEvaluator {
            settings: Settings::of(args.input_exprs())?,
        }))
    }
    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = field_args
            .input_fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        self.params.check(&types)?;
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Struct(fields()),
            true,
        )))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// The constant arguments: how to judge a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Settings {
    training: usize,
    sensitivity: f64,
    seasonality: Seasonality,
}

impl Settings {
    /// The settings from the call's arguments (the physical expressions
    /// of `value, bucket_time, training, sensitivity [, seasonality]`).
    pub(crate) fn of(args: &[Arc<dyn PhysicalExpr>]) -> Result<Self> {
        let training = number(constant(args, 2, "training")?, "training")?;
        if training < 3.0 || training.fract() != 0.0 || training > 1e6 {
            return plan_err!(
                "{NAME}: training {} must be a whole number of buckets from 3 to 1000000",
                fmt_num(training)
            );
        }
        let sensitivity = number(constant(args, 3, "sensitivity")?, "sensitivity")?;
        if sensitivity <= 0.0 {
            return plan_err!(
                "{NAME}: sensitivity {} must be above 0",
                fmt_num(sensitivity)
            );
        }
        let seasonality = match constant(args, 4, "seasonality")? {
            None => Seasonality::None,
            Some(v) => match v.cast_to(&DataType::Utf8) {
                Ok(ScalarValue::Utf8(Some(s))) => Seasonality::parse(&s)?,
                _ => return plan_err!("{NAME}: seasonality must be a string, got {v}"),
            },
        };
        Ok(Self {
            training: training as usize,
            sensitivity,
            seasonality,
        })
    }
}

/// One series' history so far: the latest `training` values of each
/// season, and the previous row's bucket. Rows arrive in bucket order, a
/// chunk at a time ([`Series::judge`]); [`Series::reset`] starts the next
/// series (PARTITION BY) and keeps the allocations.
#[derive(Debug, Default)]
pub(crate) struct Series {
    /// By season (at most 32 of them: day of month 1–31).
    history: Vec<VecDeque<f64>>,
    previous: Option<i64>,
}

/// The output columns being built.
pub(crate) struct Verdicts {
    numbers: [Float64Builder; 5],
    anomalous: BooleanBuilder,
}

impl Verdicts {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self {
            numbers: std::array::from_fn(|_| Float64Builder::with_capacity(rows)),
            anomalous: BooleanBuilder::with_capacity(rows),
        }
    }

    /// The struct column of the verdicts so far.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef> {
        let mut columns: Vec<ArrayRef> = self
            .numbers
            .iter_mut()
            .map(|builder| Arc::new(builder.finish()) as ArrayRef)
            .collect();
        columns.push(Arc::new(self.anomalous.finish()));
        Ok(Arc::new(StructArray::try_new(fields(), columns, None)?))
    }
}

/// A chunk's `value` and `bucket_time` arguments, read once.
pub(crate) struct Chunk {
    value: ArrayRef,
    times: Vec<i64>,
    time_nulls: Option<datafusion::arrow::buffer::NullBuffer>,
}

impl Chunk {
    pub(crate) fn new(value: &ArrayRef, bucket_time: &ArrayRef) -> Result<Self> {
        Ok(Self {
            value: cast(value, &DataType::Float64)?,
            times: time_micros(NAME, "bucket_time", bucket_time)?.to_vec(),
            time_nulls: bucket_time.logical_nulls(),
        })
    }
}

impl Series {
    pub(crate) fn reset(&mut self) {
        self.history.iter_mut().for_each(VecDeque::clear);
        self.previous = None;
    }

    /// Judges `rows` of `chunk` (the next rows of this series, in order).
    pub(crate) fn judge(
        &mut self,
        settings: &Settings,
        chunk: &Chunk,
        rows: std::ops::Range<usize>,
        out: &mut Verdicts,
    ) -> Result<()> {
        let value = chunk.value.as_primitive::<Float64Type>();
        for i in rows {
            if chunk.time_nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                return exec_err!("{NAME}: bucket_time is NULL (every row needs its bucket)");
            }
            let t = chunk.times[i];
            if let Some(p) = self.previous
                && t <= p
            {
                return exec_err!(
                    "{NAME}: bucket_time {} is not after the previous row's {} (order the window BY bucket_time, one row per bucket)",
                    fmt_time(t),
                    fmt_time(p)
                );
            }
            self.previous = Some(t);
            let v = (!value.is_null(i)).then(|| value.value(i));
            if let Some(x) = v
                && !x.is_finite()
            {
                return exec_err!("{NAME}: value {} is not a finite number", fmt_num(x));
            }
            let season = settings.seasonality.season(t) as usize;
            if self.history.len() <= season {
                self.history.resize_with(season + 1, VecDeque::new);
            }
            let history = &mut self.history[season];
            match verdict(v, history.make_contiguous(), settings.sensitivity) {
                Some(verdict) => {
                    let [expected, stddev, zscore, lower, upper] = &mut out.numbers;
                    expected.append_value(verdict.expected);
                    stddev.append_value(verdict.stddev);
                    zscore.append_option(verdict.zscore);
                    lower.append_value(verdict.lower);
                    upper.append_value(verdict.upper);
                    out.anomalous.append_option(verdict.anomalous);
                }
                None => {
                    for builder in &mut out.numbers {
                        builder.append_null();
                    }
                    out.anomalous.append_null();
                }
            }
            if let Some(x) = v {
                if history.len() == settings.training {
                    history.pop_front();
                }
                history.push_back(x);
            }
        }
        Ok(())
    }
}

/// DataFusion's evaluator: the whole partition at once. Inside
/// [`crate::context`] the planner streams instead (see
/// [`crate::series_window`]).
#[derive(Debug)]
struct AnomalyEvaluator {
    settings: Settings,
}

impl PartitionEvaluator for AnomalyEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let chunk = Chunk::new(&values[0], &values[1])?;
        let mut out = Verdicts::with_capacity(num_rows);
        Series::default().judge(&self.settings, &chunk, 0..num_rows, &mut out)?;
        out.finish()
    }
}

/// The `metric_anomaly` window function.
pub fn udwf() -> Arc<WindowUDF> {
    static UDWF: LazyLock<Arc<WindowUDF>> =
        LazyLock::new(|| Arc::new(WindowUDF::from(MetricAnomaly::default())));
    Arc::clone(&UDWF)
}

/// The `metric_anomaly` entry of the function list.
pub fn function() -> Function {
    Function::window(udwf())
}

crate::define_expr_fn!(metric_anomaly(value, bucket_time, training, sensitivity); optional);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict(Some(5.0), &[1.0, 2.0], 3.0), None, "fewer than 3");
        let v = verdict(Some(10.0), &[1.0, 2.0, 3.0], 3.0).unwrap();
        assert_eq!((v.expected, v.stddev), (2.0, 1.0));
        assert_eq!(
            (v.zscore, v.lower, v.upper, v.anomalous),
            (Some(8.0), -1.0, 5.0, Some(true))
        );
        let flat = verdict(Some(4.0), &[4.0, 4.0, 4.0], 3.0).unwrap();
        assert_eq!((flat.zscore, flat.anomalous), (Some(0.0), Some(false)));
        let off = verdict(Some(5.0), &[4.0, 4.0, 4.0], 3.0).unwrap();
        assert_eq!((off.zscore, off.anomalous), (None, Some(true)));
        let missing = verdict(None, &[1.0, 2.0, 3.0], 3.0).unwrap();
        assert_eq!((missing.zscore, missing.anomalous), (None, None));
    }

    #[test]
    fn seasons() {
        // 2025-03-03 was a Monday; 1970-01-05 too.
        let monday = 4 * 86_400_000_000i64;
        assert_eq!(Seasonality::DayOfWeek.season(monday), 0);
        assert_eq!(Seasonality::DayOfWeek.season(monday + 86_400_000_000), 1);
        assert_eq!(Seasonality::DayOfMonth.season(monday), 5);
        assert_eq!(Seasonality::HourOfDay.season(monday + 3 * 3_600_000_000), 3);
    }
}
