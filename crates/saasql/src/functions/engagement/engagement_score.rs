//! `engagement_score(event_name [, weights [, default_weight]])`: Σ of event weights.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::builder::make_view;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArrayType, StringViewArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, internal_err, plan_err};
use datafusion::logical_expr::{AggregateUDF, Documentation, Expr};

use crate::aggregate::{SUM_SCALE, SUM_UNSCALE, SumsAggregate, SumsKernel, for_each_row};
use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::{Function, Hooks};
use crate::settings::{Setting, SettingValues, finite_number};
use crate::util::literals::{constant_arg, scalar_f64, scalar_str};

/// `saasql.engagement_weights`: the weights of `engagement_score(event_name)`.
pub static WEIGHTS: Setting = Setting {
    key: "engagement_weights",
    description: "Weights used by engagement_score(event_name) when no weights argument is given, as 'event:weight, event:weight'.",
    // The SPEC's example model.
    default: "login:1, report_created:5, teammate_invited:10, ticket_opened:-2",
    parse: |owner, value| {
        parse_weights(owner, value)?;
        Ok(ScalarValue::from(value))
    },
};

/// `saasql.engagement_default_weight`: the weight of unlisted events.
pub static DEFAULT_WEIGHT: Setting = Setting {
    key: "engagement_default_weight",
    description: "Weight of events not listed in the weights string (default 0).",
    default: "0",
    parse: |owner, value| Ok(ScalarValue::from(finite_number(owner, value)?)),
};

/// `engagement_score` reads two settings, checks its constant weights while
/// SQL is planned, and gets its weights string as a one-value dictionary.
const HOOKS: Hooks = Hooks {
    settings: &[&WEIGHTS, &DEFAULT_WEIGHT],
    extra_args: Some(settings_args),
    check_constants: Some(check_constants),
    string_constants: &[1],
};

/// `engagement_score(e)` gets both settings, `engagement_score(e, w)` the
/// default weight.
fn settings_args(n: usize, settings: &SettingValues) -> Option<Vec<Expr>> {
    match n {
        1 => Some(vec![settings.lit(&WEIGHTS), settings.lit(&DEFAULT_WEIGHT)]),
        2 => Some(vec![settings.lit(&DEFAULT_WEIGHT)]),
        _ => None,
    }
}

fn check_constants(_name: &str, literals: &[Option<ScalarValue>]) -> Result<()> {
    EngagementScore::default().configure(literals)?;
    Ok(())
}

/// Parses a weights string such as `'login:1, report_created:5, ticket_opened:-2'`.
///
/// Entries are separated by commas; each is `event:weight` (split at the last
/// colon, so event names may contain colons). Whitespace around names and
/// numbers is ignored; an empty string lists no events. `owner` names the
/// function or setting in error messages.
pub fn parse_weights(owner: &str, text: &str) -> Result<Vec<(String, f64)>> {
    let mut out: Vec<(String, f64)> = vec![];
    for entry in text.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            if text.trim().is_empty() {
                continue;
            }
            return plan_err!(
                "{owner}: weights '{text}' has an empty entry; expected 'event:weight, event:weight'"
            );
        }
        let Some((name, weight)) = entry.rsplit_once(':') else {
            return plan_err!(
                "{owner}: weights entry '{entry}' is not 'event:weight' (e.g. 'login:1, report_created:5')"
            );
        };
        let name = name.trim();
        if name.is_empty() {
            return plan_err!("{owner}: weights entry '{entry}' has no event name");
        }
        let weight = match weight.trim().parse::<f64>() {
            Ok(w) if w.is_finite() => w,
            _ => {
                return plan_err!(
                    "{owner}: weight '{}' for event '{name}' is not a finite number",
                    weight.trim()
                );
            }
        };
        if out.iter().any(|(n, _)| n == name) {
            return plan_err!("{owner}: event '{name}' is listed twice in the weights");
        }
        out.push((name.to_string(), weight));
    }
    Ok(out)
}

/// A resolved weights model: event → weight, plus the default weight.
#[derive(Debug, Clone)]
pub struct Weights {
    source: String,
    default: f64,
    /// Listed events by byte length, for lookups straight from string views.
    by_len: Vec<Vec<ViewKey>>,
    /// Every weight and the default are whole numbers of at most 2^31 in
    /// magnitude, so a run's sum is exact in `i64`, and exact again as the
    /// `f64` added to the group for runs of up to 2^22 rows (batches are far
    /// shorter).
    integral: bool,
}

/// One listed event as a string view would show it.
#[derive(Debug, Clone)]
struct ViewKey {
    /// The whole view for events of at most 12 bytes (stored inline), else
    /// its low 64 bits (length and 4-byte prefix).
    view: u128,
    bytes: Box<[u8]>,
    weight: f64,
}

/// Views of strings longer than this keep their bytes in a data buffer.
const INLINE_LEN: usize = 12;
const LOW_64: u128 = u64::MAX as u128;

impl PartialEq for Weights {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.default.to_bits() == other.default.to_bits()
    }
}
impl Eq for Weights {}
impl Hash for Weights {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.source.hash(state);
        self.default.to_bits().hash(state);
    }
}

impl Weights {
    /// Parses `source` with `default` for unlisted events.
    pub fn new(source: &str, default: f64) -> Result<Self> {
        let parsed = parse_weights("engagement_score", source)?;
        let mut by_len: Vec<Vec<ViewKey>> = vec![];
        for (name, weight) in &parsed {
            let bytes = name.as_bytes();
            if by_len.len() <= bytes.len() {
                by_len.resize(bytes.len() + 1, vec![]);
            }
            let view = make_view(bytes, 0, 0);
            by_len[bytes.len()].push(ViewKey {
                view: if bytes.len() <= INLINE_LEN {
                    view
                } else {
                    view & LOW_64
                },
                bytes: bytes.into(),
                weight: *weight,
            });
        }
        let whole = |w: f64| w.fract() == 0.0 && w.abs() <= f64::from(1u32 << 31);
        Ok(Self {
            source: source.to_string(),
            default,
            integral: whole(default) && parsed.iter().all(|(_, w)| whole(*w)),
            by_len,
        })
    }

    /// Weight of one event (matched exactly, case-sensitive): candidates of
    /// the same length compared byte by byte; no hashing.
    #[inline]
    pub fn weight(&self, event: &str) -> f64 {
        let bytes = event.as_bytes();
        if let Some(candidates) = self.by_len.get(bytes.len()) {
            for k in candidates {
                if *k.bytes == *bytes {
                    return k.weight;
                }
            }
        }
        self.default
    }

    /// Weight of row `i` of a string-view array, resolved from its 16-byte
    /// view: short strings compare as one integer and long ones by length and
    /// prefix before their bytes are read, with no hashing.
    #[inline]
    fn view_weight(&self, arr: &StringViewArray, i: usize) -> f64 {
        let view = arr.views()[i];
        let len = view as u32 as usize;
        let Some(candidates) = self.by_len.get(len) else {
            return self.default;
        };
        if len <= INLINE_LEN {
            for k in candidates {
                if k.view == view {
                    return k.weight;
                }
            }
        } else {
            for k in candidates {
                if k.view == view & LOW_64 && arr.value(i).as_bytes() == &*k.bytes {
                    return k.weight;
                }
            }
        }
        self.default
    }
}

/// Weights of the distinct string views of one batch, in an open-addressing
/// table keyed by the whole 16-byte view. Equal views are equal strings (the
/// same inline bytes, or the same buffer and offset: Parquet dictionary pages
/// decode every occurrence of an event name to the same view), so a hit costs
/// one comparison and no byte reads; the first occurrence of a view is
/// resolved by [`Weights::view_weight`]. Entries are never evicted, so names
/// that share a slot do not push each other out; past [`VIEW_TABLE_MAX`]
/// distinct views new views are resolved directly (long names from sources
/// that do not share views, such as CSV or plain-encoded Parquet, get a view
/// per row and end up there: slower, never wrong). Batches shorter than
/// `VIEW_TABLE_MAX` (window frames) skip the table and its set-up.
#[derive(Debug)]
struct ViewTable {
    views: [u128; VIEW_SLOTS],
    weights: [f64; VIEW_SLOTS],
    used: [bool; VIEW_SLOTS],
    len: usize,
}

const VIEW_SLOTS: usize = 1024;
const VIEW_TABLE_MAX: usize = VIEW_SLOTS / 4;
const _: () = assert!(VIEW_SLOTS.is_power_of_two());

impl Default for ViewTable {
    fn default() -> Self {
        Self {
            views: [0; VIEW_SLOTS],
            weights: [0.0; VIEW_SLOTS],
            used: [false; VIEW_SLOTS],
            len: 0,
        }
    }
}

impl ViewTable {
    /// The weight of row `i` of `arr`, whose view is `view`.
    #[inline]
    fn weight(&mut self, view: u128, w: &Weights, arr: &StringViewArray, i: usize) -> f64 {
        let mixed = (view as u64 ^ (view >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut slot = (mixed >> (64 - VIEW_SLOTS.trailing_zeros())) as usize;
        // Terminates: at most a quarter of the slots are ever used.
        loop {
            if !self.used[slot] {
                return self.insert(slot, view, w, arr, i);
            }
            if self.views[slot] == view {
                return self.weights[slot];
            }
            slot = (slot + 1) & (VIEW_SLOTS - 1);
        }
    }

    #[cold]
    #[inline(never)]
    fn insert(
        &mut self,
        slot: usize,
        view: u128,
        w: &Weights,
        arr: &StringViewArray,
        i: usize,
    ) -> f64 {
        let weight = w.view_weight(arr, i);
        if self.len < VIEW_TABLE_MAX {
            self.views[slot] = view;
            self.weights[slot] = weight;
            self.used[slot] = true;
            self.len += 1;
        }
        weight
    }
}

/// Calls `f(row, weight)` for every counted row of `arr` (the rows in `mask`).
fn for_each_weight(
    arr: &ArrayRef,
    w: &Weights,
    mask: Option<&BooleanBuffer>,
    mut f: impl FnMut(usize, f64),
) -> Result<()> {
    fn strings<'a, S: StringArrayType<'a>>(
        arr: S,
        w: &Weights,
        mask: Option<&BooleanBuffer>,
        mut f: impl FnMut(usize, f64),
    ) -> Result<()> {
        for_each_row(arr.len(), mask, |i| {
            f(i, w.weight(arr.value(i)));
            Ok(())
        })
    }
    match arr.data_type() {
        DataType::Utf8 => strings(arr.as_string::<i32>(), w, mask, f),
        DataType::LargeUtf8 => strings(arr.as_string::<i64>(), w, mask, f),
        DataType::Utf8View => {
            // Only counted rows are looked up: views under NULLs may hold anything.
            let arr = arr.as_string_view();
            if arr.len() < VIEW_TABLE_MAX {
                return for_each_row(arr.len(), mask, |i| {
                    f(i, w.view_weight(arr, i));
                    Ok(())
                });
            }
            let views = arr.views();
            let mut table = ViewTable::default();
            for_each_row(arr.len(), mask, |i| {
                f(i, table.weight(views[i], w, arr, i));
                Ok(())
            })
        }
        DataType::Dictionary(_, _) => {
            // Weigh each distinct value once, then look rows up by key. Rows
            // whose value is NULL are outside the mask (logical nulls).
            let dict = arr.as_any_dictionary();
            if dict.values().is_empty() {
                // Every row is NULL (and normalized_keys needs a value).
                return Ok(());
            }
            let values = datafusion::arrow::compute::cast(dict.values(), &DataType::Utf8)?;
            let values = values.as_string::<i32>();
            let by_key: Vec<f64> = (0..values.len())
                .map(|k| w.weight(values.value(k)))
                .collect();
            let keys = dict.normalized_keys();
            for_each_row(keys.len(), mask, |i| {
                f(i, by_key[keys[i]]);
                Ok(())
            })
        }
        other => exec_err!("engagement_score: event_name must be a string, got {other}"),
    }
}

/// Adds `(rows, Σ weight)` of each run of equal group indices to that
/// group's sums, scaled by [`SUM_SCALE`]: one store per run instead of a
/// chain of read-modify-writes through memory per row. `S` is the sum type:
/// `i64` for whole weights (exact, one-cycle adds), else `f64` of weights
/// already scaled (so that a run of huge weights cannot overflow);
/// `to_f64` turns a run's sum into the scaled `f64` to add.
fn add_runs<S: Copy + Default + std::ops::AddAssign>(
    groups: &[usize],
    rows: impl Iterator<Item = (u64, S)>,
    to_f64: impl Fn(S) -> f64,
    sums: &mut [[f64; 2]],
) {
    let Some(&first) = groups.first() else {
        return;
    };
    let (mut group, mut n, mut sum) = (first, 0u64, S::default());
    for (&g, (count, weight)) in groups.iter().zip(rows) {
        if g != group {
            sums[group][0] += n as f64 * SUM_SCALE;
            sums[group][1] += to_f64(sum);
            (group, n, sum) = (g, 0, S::default());
        }
        n += count;
        sum += weight;
    }
    sums[group][0] += n as f64 * SUM_SCALE;
    sums[group][1] += to_f64(sum);
}

/// Adds rows of `weights` (one per row; rows outside `mask` do not count) to
/// their groups, summing in `i64` when every weight is whole.
fn add_weighted(
    groups: &[usize],
    weights: impl Iterator<Item = f64>,
    mask: Option<&BooleanBuffer>,
    integral: bool,
    sums: &mut [[f64; 2]],
) {
    let int = |s: i64| s as f64 * SUM_SCALE;
    let float = |s: f64| s;
    match (mask, integral) {
        (None, true) => add_runs(groups, weights.map(|x| (1, x as i64)), int, sums),
        (None, false) => add_runs(groups, weights.map(|x| (1, x * SUM_SCALE)), float, sums),
        (Some(m), true) => {
            let rows = weights
                .zip(m.iter())
                .map(|(x, on)| (u64::from(on), if on { x as i64 } else { 0 }));
            add_runs(groups, rows, int, sums)
        }
        (Some(m), false) => {
            let rows = weights
                .zip(m.iter())
                .map(|(x, on)| (u64::from(on), if on { x * SUM_SCALE } else { 0.0 }));
            add_runs(groups, rows, float, sums)
        }
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Engagement score: the sum over the group's events of weight(event_name), that is \
         Σ impact × frequency. Weights come from the `weights` argument, else from the \
         `saasql.engagement_weights` setting (default \
         'login:1, report_created:5, teammate_invited:10, ticket_opened:-2'); events not \
         listed weigh `default_weight`, else `saasql.engagement_default_weight` (default 0). \
         Unbounded on purpose: negative means churn risk, above 100 a power user. \
         Event names match exactly (case-sensitive, data values are not trimmed); names \
         in the weights string are trimmed and cannot contain commas. Rows with a NULL \
         event are skipped; no rows gives NULL. A malformed weights string, or a NULL \
         weights or default_weight constant, is a planning error. A score beyond the \
         DOUBLE range (±1.8e308; only with huge weights) is an execution error. DISTINCT \
         is not supported (it would count each event name once).",
        "engagement_score(event_name [, weights [, default_weight]])",
    )
    .with_argument("event_name", "Event name column (string or dictionary-encoded string).")
    .with_argument(
        "weights",
        "Optional constant string 'event:weight, event:weight, …'; weights may be negative.",
    )
    .with_argument("default_weight", "Optional constant weight of unlisted events.")
    .with_sql_example(
        "SELECT customer_id,\n       engagement_score(event_name, 'login:1, report_created:5, teammate_invited:10, ticket_opened:-2') AS score\nFROM events\nGROUP BY customer_id;",
    )
    .with_related_udf("engagement_tier")
    .build()
});

/// The `engagement_score` kernel; `weights` is set per call by `configure`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EngagementScore {
    params: Params,
    weights: Option<Arc<Weights>>,
}

impl Default for EngagementScore {
    fn default() -> Self {
        // Strings stay dictionary-encoded: event columns are read by key, and
        // the weights constant travels as a one-value dictionary.
        const PARAMS: [Param; 3] = [
            Param::dict_text("event_name"),
            Param::dict_text("weights"),
            Param::number("default_weight"),
        ];
        Self {
            params: Params::new("engagement_score", &PARAMS, &[1, 2, 3]),
            weights: None,
        }
    }
}

impl EngagementScore {
    fn weights(&self) -> Result<&Weights> {
        match self.weights.as_deref() {
            Some(w) => Ok(w),
            None => internal_err!("engagement_score: weights were not configured"),
        }
    }
}

impl SumsKernel<2> for EngagementScore {
    fn name(&self) -> &'static str {
        "engagement_score"
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn documentation(&self) -> &'static Documentation {
        &DOC
    }
    fn state_names(&self) -> [&'static str; 2] {
        ["events", "score"]
    }
    fn required_args(&self) -> &'static [usize] {
        &[0]
    }
    fn configure(&self, literals: &[Option<ScalarValue>]) -> Result<Self> {
        let name = "engagement_score";
        let source = match constant_arg(name, "weights", literals, 1)? {
            Some(v) => match scalar_str(name, "weights", v)? {
                Some(s) => s.to_string(),
                None => return plan_err!("{name}: weights must not be NULL"),
            },
            None => WEIGHTS.default.to_string(),
        };
        let default = match constant_arg(name, "default_weight", literals, 2)? {
            Some(v) => match scalar_f64(name, "default_weight", v)? {
                Some(d) => d,
                None => return plan_err!("{name}: default_weight must not be NULL"),
            },
            None => 0.0,
        };
        Ok(Self {
            params: self.params.clone(),
            weights: Some(Arc::new(Weights::new(&source, default)?)),
        })
    }
    fn contributions<F: FnMut(usize, [f64; 2])>(
        &self,
        args: &[ArrayRef],
        mask: Option<&BooleanBuffer>,
        mut emit: F,
    ) -> Result<()> {
        for_each_weight(&args[0], self.weights()?, mask, |i, x| emit(i, [1.0, x]))
    }
    fn add_grouped(
        &self,
        args: &[ArrayRef],
        mask: Option<&BooleanBuffer>,
        group_indices: &[usize],
        sums: &mut [[f64; 2]],
    ) -> Result<bool> {
        let w = self.weights()?;
        let arr = &args[0];
        if mask.is_none() && *arr.data_type() == DataType::Utf8View && arr.len() >= VIEW_TABLE_MAX {
            // One pass: weigh each view as its row is added to its group.
            let arr = arr.as_string_view();
            let mut table = ViewTable::default();
            let weights = arr
                .views()
                .iter()
                .enumerate()
                .map(move |(i, v)| table.weight(*v, w, arr, i));
            add_weighted(group_indices, weights, None, w.integral, sums);
        } else {
            // Rows outside the mask keep 0 and do not count.
            let mut weights = vec![0.0; arr.len()];
            for_each_weight(arr, w, mask, |i, x| weights[i] = x)?;
            add_weighted(group_indices, weights.into_iter(), mask, w.integral, sums);
        }
        Ok(true)
    }
    fn finish(&self, s: &[f64; 2]) -> Option<f64> {
        // ±∞ when the sum of weights is beyond the DOUBLE range: an error.
        (s[0] > 0.0).then_some(s[1] * SUM_UNSCALE)
    }
}

/// The `engagement_score` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(
            SumsAggregate(EngagementScore::default()),
        ))
    });
    Arc::clone(&UDAF)
}

/// The `engagement_score` entry of the function list, with its hooks.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(engagement_score(event_name); optional);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use datafusion::arrow::array::{DictionaryArray, StringArray, StringViewArray};
    use datafusion::arrow::datatypes::Int32Type;
    use datafusion::common::ScalarValue;

    fn w(s: &str) -> Vec<ScalarValue> {
        vec![ScalarValue::from(s), ScalarValue::Float64(Some(0.5))]
    }

    #[test]
    fn parses_weights_and_rejects_malformed_ones() {
        let p = parse_weights("f", " login:1, a:b:-2.5 ,x : 3").unwrap();
        assert_eq!(
            p,
            vec![
                ("login".into(), 1.0),
                ("a:b".into(), -2.5),
                ("x".into(), 3.0)
            ]
        );
        assert!(parse_weights("f", "").unwrap().is_empty());
        let e = |s: &str| parse_weights("f", s).unwrap_err().strip_backtrace();
        assert_eq!(
            e("login"),
            "Error during planning: f: weights entry 'login' is not 'event:weight' (e.g. 'login:1, report_created:5')"
        );
        assert_eq!(
            e("login:x"),
            "Error during planning: f: weight 'x' for event 'login' is not a finite number"
        );
        assert_eq!(
            e("a:1, a:2"),
            "Error during planning: f: event 'a' is listed twice in the weights"
        );
        assert!(e("a:1,,b:2").contains("empty entry"));
        assert!(e("a:inf").contains("not a finite number"));
    }

    #[test]
    fn hand_computed_scores_for_every_string_encoding() {
        // login 1 + login 1 + report 5 + unlisted 0.5 + ticket -2 = 5.5; NULL skipped
        let rows = vec![
            Some("login"),
            Some("login"),
            None,
            Some("report_created"),
            Some("other"),
            Some("ticket_opened"),
        ];
        let lits = w("login:1, report_created:5, ticket_opened:-2");
        let utf8: ArrayRef = Arc::new(StringArray::from(rows.clone()));
        let view: ArrayRef = Arc::new(StringViewArray::from(rows.clone()));
        let dict: ArrayRef = Arc::new(rows.iter().copied().collect::<DictionaryArray<Int32Type>>());
        for a in [utf8, view, dict] {
            let out = check_agree(&udaf(), &[a], &lits, 1);
            assert_eq!(out, vec![ScalarValue::Float64(Some(5.5))]);
        }
    }

    #[test]
    fn huge_weights_sum_exactly_or_fail_when_the_score_does() {
        use crate::aggregate::testing::with_args;
        // 1e308 + 1e308 − 1.5e308 passes 2e308 on the way; the score fits
        let lits = w("big:1e308, minus:-1.5e308");
        let rows = |v: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(v)) };
        assert_eq!(
            check_agree(&udaf(), &[rows(vec!["big", "big", "minus"])], &lits, 1),
            // = 2 × (1e308 − 0.75e308), rounded as the sum without overflow
            vec![ScalarValue::Float64(Some((1e308 - 0.75e308) * 2.0))]
        );
        // 2e308 does not fit: an error, not ∞ or NULL (plain and grouped)
        let data = [rows(vec!["big", "big"])];
        let (plain, grouped) = with_args(&data, &lits, DataType::Float64, |args| {
            let mut acc = udaf().accumulator(args.clone()).unwrap();
            acc.update_batch(&data).unwrap();
            let mut ga = udaf().create_groups_accumulator(args).unwrap();
            ga.update_batch(&data, &[0, 0], None, 1).unwrap();
            (
                acc.evaluate().unwrap_err().strip_backtrace(),
                ga.evaluate(datafusion::logical_expr::EmitTo::All)
                    .unwrap_err()
                    .strip_backtrace(),
            )
        });
        let want =
            "Execution error: engagement_score: the result is beyond the DOUBLE range (±1.8e308)";
        assert_eq!(plain, want);
        assert_eq!(grouped, want);
    }

    #[test]
    fn all_null_dictionary_with_no_values_gives_null() {
        // An outer join pads with NULL dictionary arrays that have no values.
        let nulls = datafusion::arrow::array::new_null_array(
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            300,
        );
        let out = check_agree(&udaf(), &[nulls], &w("login:1"), 3);
        assert_eq!(out, vec![ScalarValue::Float64(None); 3]);
    }

    #[test]
    fn view_lookup_matches_the_map_for_short_long_and_unlisted_events() {
        let w = Weights::new(
            "a:1, twelve_bytes:2, thirteen_byte:3, teammate_invited:10, twelve_bytez:4",
            -1.0,
        )
        .unwrap();
        let events = [
            "a",
            "b",
            "",
            "twelve_bytes",
            "twelve_bytez",
            "twelve_bytex",
            "thirteen_byte",
            "thirteen_bytx",
            "teammate_invited",
            "teammate_invitee",
            "a much longer event name than any listed",
        ];
        let arr = StringViewArray::from(events.to_vec());
        for (i, e) in events.iter().enumerate() {
            assert_eq!(w.view_weight(&arr, i), w.weight(e), "{e}");
        }
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        let names = ["login", "report_created", "ticket_opened", "page_view"];
        check_sizes(
            &udaf(),
            &w("login:1, report_created:5, ticket_opened:-2"),
            |n| {
                let v: Vec<Option<&str>> = (0..n)
                    .map(|i| (i % 17 != 0).then_some(names[i * 5 % 4]))
                    .collect();
                vec![Arc::new(StringArray::from(v)) as ArrayRef]
            },
        );
    }

    #[test]
    fn view_table_tells_apart_long_names_with_one_prefix() {
        // Long names sharing length and 4-byte prefix, repeated so most rows hit
        // the per-batch view table; it must never hand one name's weight to
        // another.
        let w = Weights::new("teammate_invited:10, teammate_invitex:3, login:1", 0.0).unwrap();
        let names = [
            "teammate_invited",
            "teammate_invitex",
            "login",
            "logout",
            "teammate_invitey",
        ];
        let rows: Vec<&str> = (0..1000)
            .map(|i| names[(i * 7 + i / 5) % names.len()])
            .collect();
        let plain: ArrayRef = Arc::new(StringViewArray::from(rows.clone()));
        // As from a Parquet dictionary page: equal names share one view.
        let dict: DictionaryArray<Int32Type> = rows.iter().copied().collect();
        let shared = datafusion::arrow::compute::cast(&dict, &DataType::Utf8View).unwrap();
        let k = EngagementScore {
            weights: Some(Arc::new(w.clone())),
            ..Default::default()
        };
        let want: Vec<(usize, f64)> = rows
            .iter()
            .enumerate()
            .map(|(i, e)| (i, w.weight(e)))
            .collect();
        for arr in [plain, shared] {
            let mut got = vec![];
            k.contributions(&[arr], None, |i, c| got.push((i, c[1])))
                .unwrap();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn grouped_runs_match_row_by_row_sums_on_every_path() {
        use crate::aggregate::testing::with_args;
        use datafusion::arrow::array::BooleanArray;
        use datafusion::logical_expr::EmitTo;

        // 600 distinct names (past the per-batch view table's 256), short and
        // long, in runs of 1–9 rows per group as in a customer-sorted export,
        // with NULL events and a FILTER.
        let names: Vec<String> = (0..600)
            .map(|i| match i % 3 {
                0 => format!("e{i}"),
                _ => format!("a longer event name number {i}"),
            })
            .collect();
        let n = 6000;
        let mut groups = vec![];
        for run in 0.. {
            if groups.len() >= n {
                break;
            }
            groups.extend(std::iter::repeat_n(run % 50, 1 + run * 7 % 9));
        }
        groups.truncate(n);
        // Without NULLs or a FILTER, string views take a one-pass path.
        for with_nulls in [true, false] {
            let rows: Vec<Option<&str>> = (0..n)
                .map(|i| {
                    (i % 13 != 0 || !with_nulls).then(|| names[(i / 3 * 31 + i % 3) % 600].as_str())
                })
                .collect();
            let filter = BooleanArray::from((0..n).map(|i| i % 7 != 0).collect::<Vec<_>>());
            let listed =
                "e0:2, e3:-1, a longer event name number 1:5, a longer event name number 2:7";
            let encodings: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(rows.clone())),
                Arc::new(StringViewArray::from(rows.clone())),
                Arc::new(rows.iter().copied().collect::<DictionaryArray<Int32Type>>()),
            ];
            // Whole weights take the i64 path, a fractional default the f64 one.
            for default in [1.0, 0.25] {
                let w = Weights::new(listed, default).unwrap();
                assert_eq!(w.integral, default == 1.0);
                for use_filter in [false, true] {
                    let mut want = vec![(0.0, 0.0); 50];
                    for i in 0..n {
                        if let Some(e) = rows[i]
                            && (!use_filter || filter.value(i))
                        {
                            want[groups[i]].0 += 1.0;
                            want[groups[i]].1 += w.weight(e);
                        }
                    }
                    let want: Vec<ScalarValue> = want
                        .iter()
                        .map(|&(c, s)| ScalarValue::Float64((c > 0.0).then_some(s)))
                        .collect();
                    for arr in &encodings {
                        let lits = [
                            ScalarValue::from(listed),
                            ScalarValue::Float64(Some(default)),
                        ];
                        let data = [Arc::clone(arr)];
                        let got = with_args(&data, &lits, DataType::Float64, |args| {
                            let mut ga = udaf().create_groups_accumulator(args).unwrap();
                            // Two batches, so runs also continue across a batch.
                            for (lo, hi) in [(0, n / 2 + 5), (n / 2 + 5, n)] {
                                let f = use_filter.then(|| filter.slice(lo, hi - lo));
                                ga.update_batch(
                                    &[arr.slice(lo, hi - lo)],
                                    &groups[lo..hi],
                                    f.as_ref(),
                                    50,
                                )
                                .unwrap();
                            }
                            ga.evaluate(EmitTo::All).unwrap()
                        });
                        let got: Vec<ScalarValue> = (0..50)
                            .map(|g| ScalarValue::try_from_array(&got, g).unwrap())
                            .collect();
                        for (g, (a, b)) in got.iter().zip(&want).enumerate() {
                            match (a, b) {
                                (ScalarValue::Float64(Some(x)), ScalarValue::Float64(Some(y))) => {
                                    assert!(
                                        (x - y).abs() < 1e-9,
                                        "{} group {g}: {x} vs {y}",
                                        arr.data_type()
                                    )
                                }
                                _ => assert_eq!(a, b, "{} group {g}", arr.data_type()),
                            }
                        }
                    }
                }
            }
        }
    }
}
