//! `<rate>_breakdown`: the arithmetic behind a rate aggregate, as a struct.
//!
//! A rate aggregate whose [`SumsKernel`] also implements [`Explain`] gets a
//! companion `<name>_breakdown` by wrapping the same kernel (built with the
//! companion's name and documentation) in [`Breakdown`]. The wrapper keeps
//! the kernel's sums plus one, the rows skipped for a NULL required
//! argument, and returns `{<name>, numerator, denominator, …parts,
//! excluded_null}`. The value comes from the kernel's own `finish`, so it
//! equals the plain function's on the same rows; the parts are linear in the
//! sums, so they are read from the scaled sums and unscaled exactly (counts)
//! or checked to stay within the DOUBLE range (amounts).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StructArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Documentation;

use crate::aggregate::{SUM_UNSCALE, SumsKernel, for_each_row, row_mask};
use crate::args::Params;
use crate::util::numbers::finite_result;

/// What a part of a breakdown holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// A number of rows (BIGINT).
    Count,
    /// A sum of amounts, such as MRR (DOUBLE).
    Amount,
}

/// One field of a breakdown after the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// The field name.
    pub name: &'static str,
    /// BIGINT count or DOUBLE amount.
    pub kind: PartKind,
}

impl Part {
    /// A count field.
    pub const fn count(name: &'static str) -> Self {
        Self {
            name,
            kind: PartKind::Count,
        }
    }
    /// An amount field.
    pub const fn amount(name: &'static str) -> Self {
        Self {
            name,
            kind: PartKind::Amount,
        }
    }
}

/// A sums kernel whose result can be explained: the numerator, the
/// denominator and the counts behind it.
pub trait Explain<const K: usize>: SumsKernel<K> {
    /// The fields after the value: `numerator`, `denominator`, then the
    /// kernel's own counts and amounts (excluded rows named by reason).
    fn parts(&self) -> &'static [Part];
    /// Part `index` of one group's sums. Parts are linear in the sums, so
    /// scaled sums give the scaled part.
    fn part(&self, index: usize, sums: &[f64; K]) -> f64;
}

/// The field every breakdown ends with: rows that passed FILTER but had a
/// NULL in an argument the function needs.
pub const EXCLUDED_NULL: &str = "excluded_null";

/// The `<name>_breakdown` of an [`Explain`] kernel `T` with `K` sums; its
/// own sums are `M = K + 1` (the last counts [`EXCLUDED_NULL`] rows).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Breakdown<T, const K: usize>(pub T);

impl<T: Explain<K>, const K: usize> Breakdown<T, K> {
    /// The plain function's name: the value field.
    fn value_name(&self) -> &'static str {
        let name = self.0.name();
        name.strip_suffix("_breakdown").unwrap_or(name)
    }

    /// The fields of the result struct.
    pub fn fields(&self) -> Fields {
        let mut fields = vec![Field::new(self.value_name(), DataType::Float64, true)];
        for p in self.0.parts() {
            let t = match p.kind {
                PartKind::Count => DataType::Int64,
                PartKind::Amount => DataType::Float64,
            };
            fields.push(Field::new(p.name, t, false));
        }
        fields.push(Field::new(EXCLUDED_NULL, DataType::Int64, false));
        Fields::from(fields)
    }
}

fn inner<const K: usize, const M: usize>(s: &[f64; M]) -> [f64; K] {
    std::array::from_fn(|k| s[k])
}

impl<T: Explain<K>, const K: usize, const M: usize> SumsKernel<M> for Breakdown<T, K> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn params(&self) -> &Params {
        self.0.params()
    }
    fn documentation(&self) -> &'static Documentation {
        self.0.documentation()
    }
    fn state_names(&self) -> [&'static str; M] {
        const { assert!(M == K + 1, "a breakdown keeps one more sum") };
        let names = self.0.state_names();
        std::array::from_fn(|k| if k < K { names[k] } else { EXCLUDED_NULL })
    }
    fn return_type(&self) -> DataType {
        DataType::Struct(self.fields())
    }
    /// None: rows with a NULL required argument are counted, not dropped.
    fn required_args(&self) -> &'static [usize] {
        &[]
    }
    fn configure(&self, literals: &[Option<ScalarValue>]) -> Result<Self> {
        Ok(Self(self.0.configure(literals)?))
    }
    fn contributions<F: FnMut(usize, [f64; M])>(
        &self,
        args: &[ArrayRef],
        mask: Option<&BooleanBuffer>,
        mut emit: F,
    ) -> Result<()> {
        let required = row_mask(args, self.0.required_args(), None);
        let Some(required) = required else {
            return self.0.contributions(args, mask, |i, c| {
                let mut out = [0.0; M];
                out[..K].copy_from_slice(&c);
                emit(i, out)
            });
        };
        let len = args.first().map_or(0, |a| a.len());
        let mut skipped = [0.0; M];
        skipped[K] = 1.0;
        for_each_row(len, mask, |i| {
            if !required.value(i) {
                emit(i, skipped);
            }
            Ok(())
        })?;
        let counted = match mask {
            None => required,
            Some(m) => m & &required,
        };
        self.0.contributions(args, Some(&counted), |i, c| {
            let mut out = [0.0; M];
            out[..K].copy_from_slice(&c);
            emit(i, out)
        })
    }
    fn finish(&self, s: &[f64; M]) -> Option<f64> {
        self.0.finish(&inner(s))
    }
    fn evaluate(&self, sums: &[[f64; M]]) -> Result<ArrayRef> {
        let name = self.0.name();
        let value: Float64Array = sums
            .iter()
            .map(|s| {
                self.finish(s)
                    .map(|v| finite_result(name, v, || "the result".into()))
                    .transpose()
            })
            .collect::<Result<_>>()?;
        let mut columns: Vec<ArrayRef> = vec![Arc::new(value)];
        for (index, p) in self.0.parts().iter().enumerate() {
            let scaled = sums.iter().map(|s| self.0.part(index, &inner(s)));
            columns.push(match p.kind {
                PartKind::Count => Arc::new(
                    scaled
                        .map(|v| (v * SUM_UNSCALE).round() as i64)
                        .collect::<Int64Array>(),
                ),
                PartKind::Amount => Arc::new(
                    scaled
                        .map(|v| finite_result(name, v * SUM_UNSCALE, || format!("the {}", p.name)))
                        .collect::<Result<Float64Array>>()?,
                ),
            });
        }
        columns.push(Arc::new(
            sums.iter()
                .map(|s| (s[K] * SUM_UNSCALE).round() as i64)
                .collect::<Int64Array>(),
        ));
        Ok(Arc::new(StructArray::try_new(
            self.fields(),
            columns,
            None,
        )?))
    }
}

#[cfg(test)]
pub mod testing {
    //! The check every breakdown passes: its value equals the plain
    //! function's on the same rows, on every accumulator path.
    use std::collections::BTreeMap;

    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::AggregateUDF;

    use crate::aggregate::testing::check_agree;

    /// Runs `breakdown` and `plain` over `data` (with `literals`) in
    /// `groups` groups, asserts the value field equals the plain result in
    /// every group, and returns each group's fields by name.
    pub fn check_breakdown(
        plain: &AggregateUDF,
        breakdown: &AggregateUDF,
        data: &[datafusion::arrow::array::ArrayRef],
        literals: &[ScalarValue],
        groups: usize,
    ) -> Vec<BTreeMap<String, ScalarValue>> {
        let values = check_agree(plain, data, literals, groups);
        let structs = check_agree(breakdown, data, literals, groups);
        structs
            .iter()
            .zip(values)
            .map(|(s, v)| {
                let ScalarValue::Struct(s) = s else {
                    panic!("not a struct: {s:?}")
                };
                let fields: BTreeMap<String, ScalarValue> = s
                    .fields()
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), ScalarValue::try_from_array(c, 0).unwrap()))
                    .collect();
                assert_eq!(fields[plain.name()], v, "{}: value", breakdown.name());
                fields
            })
            .collect()
    }

    /// A BIGINT field value.
    pub fn int(v: i64) -> ScalarValue {
        ScalarValue::Int64(Some(v))
    }

    /// A DOUBLE field value.
    pub fn float(v: f64) -> ScalarValue {
        ScalarValue::Float64(Some(v))
    }
}
