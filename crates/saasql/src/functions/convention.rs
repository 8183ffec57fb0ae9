//! The vendor convention argument of `churn_rate`, `mrr_churn_rate` and
//! `ltv` (and their breakdowns): which billing-analytics vendor's published
//! formula a call follows. Each function documents what the convention
//! changes for it, and cites the vendor's document.

use datafusion::common::{Result, ScalarValue, plan_err};

use crate::util::literals::{constant_arg, scalar_str};

/// A vendor's published formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Convention {
    /// ChartMogul (the default of `churn_rate` and `ltv`; `mrr_churn_rate`
    /// without a convention keeps its original definition).
    #[default]
    ChartMogul,
    /// Stripe Billing.
    Stripe,
    /// Baremetrics.
    Baremetrics,
    /// ProfitWell (Paddle).
    ProfitWell,
}

/// The accepted values, as error messages list them.
pub const NAMES: &str = "'chartmogul', 'stripe', 'baremetrics' or 'profitwell'";

impl Convention {
    /// Every convention, in the order of [`NAMES`].
    pub const ALL: [Convention; 4] = [
        Convention::ChartMogul,
        Convention::Stripe,
        Convention::Baremetrics,
        Convention::ProfitWell,
    ];

    /// The SQL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Convention::ChartMogul => "chartmogul",
            Convention::Stripe => "stripe",
            Convention::Baremetrics => "baremetrics",
            Convention::ProfitWell => "profitwell",
        }
    }

    /// The convention spelled `text` (exactly, lower case).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// A constant convention value: a planning error naming `function`,
    /// the argument, the value and the accepted values when it is not one.
    pub fn from_literal(function: &str, value: &ScalarValue) -> Result<Self> {
        let value = match value {
            ScalarValue::Dictionary(_, inner) => inner.as_ref(),
            v => v,
        };
        match scalar_str(function, "convention", value)? {
            None => plan_err!("{function}: convention must not be NULL; use one of {NAMES}"),
            Some(text) => match Self::parse(text) {
                Some(c) => Ok(c),
                None => {
                    plan_err!("{function}: convention '{text}' is not one of {NAMES}")
                }
            },
        }
    }

    /// The optional constant convention at argument `index` of a call
    /// (`literals[i]` is argument `i` when it is a constant): ChartMogul
    /// when the call has no such argument, a planning error when it is not
    /// a constant or not a convention.
    pub fn from_literals(
        function: &str,
        literals: &[Option<ScalarValue>],
        index: usize,
    ) -> Result<Self> {
        match constant_arg(function, "convention", literals, index)? {
            None => Ok(Self::default()),
            Some(v) => Self::from_literal(function, v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_errors() {
        for c in Convention::ALL {
            assert_eq!(Convention::parse(c.as_str()), Some(c));
        }
        let lit = |s: &str| Some(ScalarValue::Utf8(Some(s.into())));
        assert_eq!(
            Convention::from_literals("f", &[None, lit("stripe")], 1).unwrap(),
            Convention::Stripe
        );
        assert_eq!(
            Convention::from_literals("f", &[None], 1).unwrap(),
            Convention::ChartMogul
        );
        assert_eq!(
            Convention::from_literals("churn_rate", &[lit("Stripe")], 0)
                .unwrap_err()
                .strip_backtrace(),
            "Error during planning: churn_rate: convention 'Stripe' is not one of 'chartmogul', 'stripe', 'baremetrics' or 'profitwell'"
        );
        assert_eq!(
            Convention::from_literals("f", &[None, None], 1)
                .unwrap_err()
                .strip_backtrace(),
            "Error during planning: f: convention must be a constant, not a column or expression"
        );
        assert_eq!(
            Convention::from_literals("f", &[Some(ScalarValue::Utf8(None))], 0)
                .unwrap_err()
                .strip_backtrace(),
            "Error during planning: f: convention must not be NULL; use one of 'chartmogul', 'stripe', 'baremetrics' or 'profitwell'"
        );
    }
}
