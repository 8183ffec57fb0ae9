//! `__saasql_mrr_ledger_moves(mrr) OVER (PARTITION BY customer ORDER BY
//! month)`: the movement columns of `mrr_ledger`, an internal window
//! function of its query (registered with every session, but not listed or
//! documented as a SQL function).
//!
//! For each of a customer's consecutive months it gives, as one struct:
//! `previous_mrr` (the row before's MRR, 0 for the first row), `movement`
//! (what `mrr_movement` says: 'new', 'expansion', 'contraction', 'churn',
//! 'reactivation', 'retained', or NULL for an unpaid month after an unpaid
//! month) and `paid_yet` (whether the customer has paid in this month or an
//! earlier one: the ledger starts at the first paid month).
//!
//! One function instead of three windows (`lag`, a running `max` and the
//! classification), so that [`crate::series_window`] can compute it in one
//! streaming pass over the sorted customer-months. DataFusion's operators
//! (a cluster's executors) run it too: row by row in its bounded window
//! operator ([`PartitionEvaluator::evaluate`]), or a whole customer at a
//! time.

use std::ops::Range;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Builder, StringBuilder, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl,
};

use super::mrr_movement::classify;
use crate::util::numbers::fmt_num;

/// The function's name in SQL.
pub const NAME: &str = "__saasql_mrr_ledger_moves";

/// The struct's fields.
fn fields() -> Fields {
    static FIELDS: LazyLock<Fields> = LazyLock::new(|| {
        Fields::from(vec![
            Field::new("previous_mrr", DataType::Float64, false),
            Field::new("movement", DataType::Utf8, true),
            Field::new("paid_yet", DataType::Boolean, false),
        ])
    });
    FIELDS.clone()
}

/// One customer's months so far.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Moves {
    previous: f64,
    paid_before: bool,
}

/// One month's movement columns.
pub(crate) struct Move {
    pub(crate) previous_mrr: f64,
    pub(crate) movement: Option<&'static str>,
    pub(crate) paid_yet: bool,
}

impl Moves {
    /// The next month of the customer, whose MRR is `mrr` (NULL is 0).
    pub(crate) fn step(&mut self, mrr: Option<f64>) -> Result<Move> {
        let cur = mrr.unwrap_or(0.0);
        if !(cur >= 0.0 && cur.is_finite()) {
            return exec_err!(
                "mrr_ledger: a month's MRR {} is not a finite number of 0 or more",
                fmt_num(cur)
            );
        }
        let previous = (self.previous > 0.0).then_some(self.previous);
        let movement = classify(previous, cur, self.paid_before);
        let out = Move {
            previous_mrr: self.previous,
            movement,
            paid_yet: self.paid_before || cur > 0.0,
        };
        self.paid_before = out.paid_yet;
        self.previous = cur;
        Ok(out)
    }
}

/// The output column being built.
pub(crate) struct MovesBuilder {
    previous_mrr: Float64Builder,
    movement: StringBuilder,
    paid_yet: BooleanBuilder,
}

impl MovesBuilder {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self {
            previous_mrr: Float64Builder::with_capacity(rows),
            movement: StringBuilder::with_capacity(rows, rows * 8),
            paid_yet: BooleanBuilder::with_capacity(rows),
        }
    }

    fn push(&mut self, m: Move) {
        self.previous_mrr.append_value(m.previous_mrr);
        self.movement.append_option(m.movement);
        self.paid_yet.append_value(m.paid_yet);
    }

    /// The struct column of the rows so far (and an empty builder).
    pub(crate) fn finish(&mut self) -> Result<ArrayRef> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.previous_mrr.finish()),
            Arc::new(self.movement.finish()),
            Arc::new(self.paid_yet.finish()),
        ];
        Ok(Arc::new(StructArray::try_new(fields(), columns, None)?))
    }
}

impl Moves {
    /// Starts the next customer.
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }

    /// Computes `rows` of `mrr` (a Float64 column: the next months of this
    /// customer, in order) into `out`.
    pub(crate) fn run(
        &mut self,
        mrr: &ArrayRef,
        rows: Range<usize>,
        out: &mut MovesBuilder,
    ) -> Result<()> {
        let mrr = mrr.as_primitive::<Float64Type>();
        for i in rows {
            let m = self.step((!mrr.is_null(i)).then(|| mrr.value(i)))?;
            out.push(m);
        }
        Ok(())
    }
}

/// See the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LedgerMoves {
    signature: Signature,
}

impl Default for LedgerMoves {
    fn default() -> Self {
        Self {
            signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

impl WindowUDFImpl for LedgerMoves {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(MovesEvaluator::default()))
    }
    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Struct(fields()),
            false,
        )))
    }
}

/// DataFusion's evaluator: a row at a time in its bounded window operator
/// (the rows of a partition arrive in order), or a whole partition.
#[derive(Debug, Default)]
struct MovesEvaluator {
    moves: Moves,
}

impl PartitionEvaluator for MovesEvaluator {
    fn supports_bounded_execution(&self) -> bool {
        true
    }

    fn is_causal(&self) -> bool {
        true
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        let mrr = values[0].as_primitive::<Float64Type>();
        let i = range.start;
        let m = self.moves.step((!mrr.is_null(i)).then(|| mrr.value(i)))?;
        let mut out = MovesBuilder::with_capacity(1);
        out.push(m);
        ScalarValue::try_from_array(&out.finish()?, 0)
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let mrr = cast(&values[0], &DataType::Float64)?;
        let mut out = MovesBuilder::with_capacity(num_rows);
        self.moves.run(&mrr, 0..num_rows, &mut out)?;
        out.finish()
    }
}

/// The internal window function, registered with every session.
pub fn udwf() -> Arc<WindowUDF> {
    static UDWF: LazyLock<Arc<WindowUDF>> =
        LazyLock::new(|| Arc::new(WindowUDF::from(LedgerMoves::default())));
    Arc::clone(&UDWF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;

    fn rows(mrr: &[Option<f64>]) -> Vec<(f64, Option<String>, bool)> {
        let n = mrr.len();
        let values: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(mrr.to_vec()))];
        let all = MovesEvaluator::default().evaluate_all(&values, n).unwrap();
        // Row by row (the bounded operator) gives the same.
        let mut one = MovesEvaluator::default();
        for i in 0..n {
            let s = one.evaluate(&values, &(i..i + 1)).unwrap();
            assert_eq!(s, ScalarValue::try_from_array(&all, i).unwrap(), "row {i}");
        }
        let all = all.as_struct();
        (0..n)
            .map(|i| {
                (
                    all.column(0).as_primitive::<Float64Type>().value(i),
                    all.column(1)
                        .as_string::<i32>()
                        .is_valid(i)
                        .then(|| all.column(1).as_string::<i32>().value(i).to_string()),
                    all.column(2).as_boolean().value(i),
                )
            })
            .collect()
    }

    #[test]
    fn every_movement() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            rows(&[
                Some(0.0),
                Some(10.0),
                Some(20.0),
                Some(20.0),
                Some(5.0),
                None,
                Some(0.0),
                Some(7.0)
            ]),
            vec![
                (0.0, None, false),
                (0.0, s("new"), true),
                (10.0, s("expansion"), true),
                (20.0, s("retained"), true),
                (20.0, s("contraction"), true),
                (5.0, s("churn"), true),
                (0.0, None, true),
                (0.0, s("reactivation"), true),
            ]
        );
    }

    #[test]
    fn negative_mrr_is_an_error() {
        let values: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(vec![1.0, -2.0]))];
        let e = MovesEvaluator::default()
            .evaluate_all(&values, 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mrr_ledger: a month's MRR -2 is not a finite number of 0 or more"),
            "{e}"
        );
    }
}
