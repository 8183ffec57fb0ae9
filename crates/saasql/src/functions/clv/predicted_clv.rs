//! `predicted_clv(bgnbd_model, gg_model, frequency, recency, t, monetary,
//! months, monthly_discount_rate [, unit])`: a customer's discounted
//! expected value over the next months.

use std::sync::{Arc, LazyLock};

use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{Documentation, ScalarUDF};

use super::model::{
    BgNbdParams, GammaGammaParams, PERIODS_PER_MONTH_WEEKS, predicted_clv as model_predicted_clv,
};
use super::support::{BGNBD_FIELDS, GAMMA_GAMMA_FIELDS, ModelScalar, clv_error};
use crate::args::Param;
use crate::docs;
use crate::hooks::Function;
use crate::util::numbers::fmt_num;

const NAME: &str = "predicted_clv";

/// The longest horizon, in months (a century).
const MAX_MONTHS: f64 = 1200.0;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "A customer's predicted lifetime value over the next `months` months: expected \
         purchases from a BG/NBD model times expected spend from a Gamma-Gamma model, \
         discounted monthly, as the `lifetimes` package's customer_lifetime_value computes \
         it: CLV = Σ_{i=1..months} E[M] · (E[Y(i·f)] − E[Y((i−1)·f)]) ÷ (1 + d)^i, with \
         E[M] = gamma_gamma_expected_spend, E[Y(h)] = bgnbd_expected_purchases, \
         d = monthly_discount_rate and f the time units per month: 4.345 for 'week' (the \
         default, the unit rfm reports by default), 30 for 'day', 1 for 'month' \
         (lifetimes' factors). Each month's purchases are discounted at the month's end. \
         unit must be the time unit of recency and t (the unit the BG/NBD model was \
         fitted in). NULL arguments, or a model with NULL estimates, give NULL. months \
         must be a whole number in 0..1200 and monthly_discount_rate > −1; the errors of \
         the two models' functions apply.",
        "predicted_clv(bgnbd_model, gg_model, frequency, recency, t, monetary, months, monthly_discount_rate [, unit])",
    )
    .with_argument("bgnbd_model", "A fitted BG/NBD model: the struct bgnbd_fit returns.")
    .with_argument("gg_model", "A fitted Gamma-Gamma model: the struct gamma_gamma_fit returns.")
    .with_argument("frequency", "The customer's repeat purchases (rfm's frequency).")
    .with_argument("recency", "Time of the customer's last purchase after the first (rfm's recency).")
    .with_argument("t", "Time from the customer's first purchase to the observation end (rfm's t).")
    .with_argument("monetary", "Mean value of the customer's repeat purchases (rfm's monetary).")
    .with_argument("months", "Horizon in months (whole number, 0..1200).")
    .with_argument("monthly_discount_rate", "Discount rate per month (0.01 = 1 %).")
    .with_argument("unit", "Optional constant time unit of recency and t: 'week' (default), 'day' or 'month'.")
    .with_sql_example(
        "SELECT customer_id, predicted_clv(m.bg, m.gg, s.frequency, s.recency, s.t, s.monetary, 12, 0.01) AS clv_12m\nFROM summaries s CROSS JOIN (SELECT bgnbd_fit(frequency, recency, t) AS bg, gamma_gamma_fit(frequency, monetary) AS gg FROM summaries WHERE t > 0) m;",
    )
    .with_related_udf("bgnbd_expected_purchases")
    .with_related_udf("gamma_gamma_expected_spend")
    .build()
});

/// One row: `[r, alpha, a, b, p, q, v, frequency, recency, t, monetary,
/// months, rate]`, then the units per month when a unit is given.
pub fn clv_row(row: &[f64]) -> Result<Option<f64>> {
    let bg = BgNbdParams {
        r: row[0],
        alpha: row[1],
        a: row[2],
        b: row[3],
    };
    let gg = GammaGammaParams {
        p: row[4],
        q: row[5],
        v: row[6],
    };
    let months = row[11];
    if !(0.0..=MAX_MONTHS).contains(&months) || months.fract() != 0.0 {
        return exec_err!(
            "{NAME}: months {} is not a whole number in 0..1200",
            fmt_num(months)
        );
    }
    let per_month = row.get(13).copied().unwrap_or(PERIODS_PER_MONTH_WEEKS);
    model_predicted_clv(
        &bg,
        &gg,
        row[7],
        row[8],
        row[9],
        row[10],
        months as u32,
        row[12],
        per_month,
    )
    .map(Some)
    .map_err(|e| clv_error(NAME, e))
}

/// The `predicted_clv` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
        const PARAMS: [Param; 9] = [
            Param::structure("bgnbd_model", BGNBD_FIELDS),
            Param::structure("gg_model", GAMMA_GAMMA_FIELDS),
            Param::number("frequency"),
            Param::number("recency"),
            Param::number("t"),
            Param::number("monetary"),
            Param::number("months"),
            Param::number("monthly_discount_rate"),
            Param::text("unit"),
        ];
        Arc::new(ScalarUDF::from(ModelScalar::new(
            NAME,
            &PARAMS,
            &[8, 9],
            &DOC,
            clv_row,
        )))
    });
    Arc::clone(&UDF)
}

/// The `predicted_clv` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(predicted_clv(bgnbd_model, gg_model, frequency, recency, t, monetary, months, monthly_discount_rate); optional);

#[cfg(test)]
mod tests {
    use super::*;

    const BG: [f64; 4] = [
        0.24259292827982182,
        4.413532265271819,
        0.7928859664406882,
        2.42575238262586,
    ];
    const GG: [f64; 3] = [6.248802496075312, 3.744588460923114, 15.44774806492914];

    fn row(x: f64, tx: f64, t: f64, m: f64, months: f64, rate: f64) -> Vec<f64> {
        BG.iter()
            .chain(&GG)
            .copied()
            .chain([x, tx, t, m, months, rate])
            .collect()
    }

    #[test]
    fn matches_lifetimes() {
        // lifetimes 0.11.3 on CDNOW customer 1516: 12 months at 1 %, weeks.
        let got = clv_row(&row(26.0, 30.86, 31.0, 39.97, 12.0, 0.01))
            .unwrap()
            .unwrap();
        assert!((got / 972.1255634233548 - 1.0).abs() < 1e-9, "{got}");
        // the same with the unit given
        let mut r = row(26.0, 30.86, 31.0, 39.97, 12.0, 0.01);
        r.push(4.345);
        assert_eq!(clv_row(&r).unwrap(), Some(got));
        assert_eq!(
            clv_row(&row(1.0, 1.0, 2.0, 10.0, 0.0, 0.01)).unwrap(),
            Some(0.0)
        );
    }

    #[test]
    fn bad_months_and_rates_are_errors() {
        assert_eq!(
            clv_row(&row(1.0, 1.0, 2.0, 10.0, 1.5, 0.01))
                .unwrap_err()
                .strip_backtrace(),
            "Execution error: predicted_clv: months 1.5 is not a whole number in 0..1200"
        );
        assert_eq!(
            clv_row(&row(1.0, 1.0, 2.0, 10.0, 12.0, -1.0))
                .unwrap_err()
                .strip_backtrace(),
            "Execution error: predicted_clv: discount rate must be finite and > -1, got -1"
        );
    }
}
