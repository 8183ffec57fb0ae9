//! `mrr_ledger(table [, convention [, as_of]])`: a table function that turns
//! subscription items (the billing export) into one MRR row per customer and
//! month, with its movement, under a vendor's rules.
//!
//! The ledger is a SQL query over the named table (see [`ledger_sql`]),
//! planned in the caller's session. A local session (one with saasql's
//! physical rules: [`crate::ledger_exec::runs_in`]) runs the query up to one
//! row per item and hands those rows to [`crate::ledger_exec`], which sums
//! each customer's months in one pass. Elsewhere (a cluster's executors know
//! only DataFusion's operators) the call returns the whole query as a
//! [`ViewTable`], which DataFusion inlines into the query around it. Either
//! way the ledger runs in parallel and spills, and its plan shows in
//! `EXPLAIN`. Bad rows fail the query through `CASE … THEN
//! __saasql_mrr_ledger_error(message)`, an internal function that raises the
//! message for any row that reaches it (DataFusion evaluates a CASE branch
//! only for the rows that take it).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, new_null_array};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, TableReference, exec_err, plan_err};
use datafusion::datasource::ViewTable;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use futures::FutureExt;

use crate::config::SaasqlConfig;
use crate::docs;
use crate::ledger_exec::{self, LedgerSettings, LedgerTable};
use crate::settings::Setting;
use crate::util::time::civil_from_days;

const NAME: &str = "mrr_ledger";

/// The internal function that raises a ledger error (see the module docs).
pub const ERROR_FUNCTION: &str = "__saasql_mrr_ledger_error";

/// `saasql.reporting_currency`: the currency the ledger reports in.
pub static REPORTING_CURRENCY: Setting = Setting {
    key: "reporting_currency",
    description: "The currency mrr_ledger reports MRR in: a three-letter code. Items in \
                  another currency are converted with the fx_rates(currency, month, rate) \
                  table (rate = units of this currency per unit of the item's currency in \
                  that month).",
    default: "USD",
    parse: parse_currency,
};

fn parse_currency(owner: &str, value: &str) -> Result<ScalarValue> {
    let code = value.trim();
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(ScalarValue::Utf8(Some(code.to_ascii_uppercase())))
    } else {
        plan_err!("{owner}: '{value}' is not a three-letter currency code such as USD or EUR")
    }
}

/// When a month's MRR is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshot {
    /// At the month's last instant: what is paid for as the month ends.
    MonthEnd,
    /// At the month's first instant (the dbt mrr-playbook's spine joins
    /// periods on the first of the month).
    MonthStart,
}

/// Which discounts lower MRR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discounts {
    /// Every discount while it lasts (until `discount_end`).
    WhileActive,
    /// Only discounts without an end (Stripe: "forever" coupons; once and
    /// repeating coupons leave MRR as it is).
    ForeverOnly,
    /// None (the playbook's input is an MRR amount per period).
    Never,
}

/// One vendor's rules for the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The convention's SQL name.
    pub name: &'static str,
    /// Churn when the cancellation is requested (`canceled_at`), not when
    /// the paid period ends (`ended_at`).
    pub churn_on_cancel: bool,
    /// MRR starts when a trial ends (`trial_end`), not at `started_at`.
    pub exclude_trials: bool,
    /// Metered (usage) items count.
    pub metered: bool,
    /// Which discounts apply.
    pub discounts: Discounts,
    /// When a month is measured.
    pub snapshot: Snapshot,
}

/// The conventions, the default first.
pub const CONVENTIONS: [Rules; 5] = [
    Rules {
        name: "chartmogul",
        churn_on_cancel: false,
        exclude_trials: true,
        metered: false,
        discounts: Discounts::WhileActive,
        snapshot: Snapshot::MonthEnd,
    },
    Rules {
        name: "profitwell",
        churn_on_cancel: false,
        exclude_trials: true,
        metered: true,
        discounts: Discounts::WhileActive,
        snapshot: Snapshot::MonthEnd,
    },
    Rules {
        name: "stripe",
        churn_on_cancel: true,
        exclude_trials: true,
        metered: false,
        discounts: Discounts::ForeverOnly,
        snapshot: Snapshot::MonthEnd,
    },
    Rules {
        name: "baremetrics",
        churn_on_cancel: false,
        exclude_trials: true,
        metered: false,
        discounts: Discounts::WhileActive,
        snapshot: Snapshot::MonthEnd,
    },
    Rules {
        name: "dbt",
        churn_on_cancel: false,
        exclude_trials: false,
        metered: true,
        discounts: Discounts::Never,
        snapshot: Snapshot::MonthStart,
    },
];

const CONVENTION_NAMES: &str = "'chartmogul', 'profitwell', 'stripe', 'baremetrics' or 'dbt'";

/// How a rule's value changes a convention's rules.
type SetRule = fn(&mut Rules);

/// The rules a convention may change, their values, and how each value
/// sets it: `'chartmogul churn=cancellation'` is ChartMogul's rules with
/// Stripe's churn timing (what `sql/mrr_reconcile.sql` uses to attribute a
/// difference to one rule).
const RULES: [(&str, &[(&str, SetRule)]); 5] = [
    (
        "churn",
        &[
            ("period_end", |r| r.churn_on_cancel = false),
            ("cancellation", |r| r.churn_on_cancel = true),
        ],
    ),
    (
        "trials",
        &[
            ("excluded", |r| r.exclude_trials = true),
            ("included", |r| r.exclude_trials = false),
        ],
    ),
    (
        "metered",
        &[
            ("excluded", |r| r.metered = false),
            ("included", |r| r.metered = true),
        ],
    ),
    (
        "discounts",
        &[
            ("while_active", |r| r.discounts = Discounts::WhileActive),
            ("forever_only", |r| r.discounts = Discounts::ForeverOnly),
            ("none", |r| r.discounts = Discounts::Never),
        ],
    ),
    (
        "measure",
        &[
            ("month_end", |r| r.snapshot = Snapshot::MonthEnd),
            ("month_start", |r| r.snapshot = Snapshot::MonthStart),
        ],
    ),
];

impl Rules {
    /// The convention spelled `text` (case-insensitive): a vendor's name,
    /// optionally followed by `rule=value` changes (see [`RULES`]).
    pub fn parse(text: &str) -> Result<Self> {
        let lower = text.trim().to_ascii_lowercase();
        let mut words = lower
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty());
        let base = words.next().unwrap_or_default();
        let Some(mut rules) = CONVENTIONS.iter().find(|r| r.name == base).copied() else {
            return plan_err!("{NAME}: convention '{text}' is not one of {CONVENTION_NAMES}");
        };
        for change in words {
            let (rule, value) = change.split_once('=').unwrap_or((change, ""));
            let Some((_, values)) = RULES.iter().find(|(r, _)| *r == rule) else {
                return plan_err!(
                    "{NAME}: convention '{text}': '{change}' is not a rule; after the vendor's name, \
                     change rules as churn=…, trials=…, metered=…, discounts=… or measure=…"
                );
            };
            let Some((_, set)) = values.iter().find(|(v, _)| *v == value) else {
                let names: Vec<&str> = values.iter().map(|(v, _)| *v).collect();
                return plan_err!(
                    "{NAME}: convention '{text}': {rule} is {}, not '{value}'",
                    names.join(" or ")
                );
            };
            set(&mut rules);
        }
        Ok(rules)
    }
}

/// The canonical columns: (name, required, what it is).
pub const COLUMNS: [(&str, bool, &str); 15] = [
    (
        "customer_id",
        true,
        "The customer (any type; the ledger's rows keep it).",
    ),
    (
        "subscription_id",
        false,
        "The subscription the item belongs to (named in errors).",
    ),
    (
        "started_at",
        true,
        "When the item starts (DATE or TIMESTAMP, UTC).",
    ),
    (
        "ended_at",
        false,
        "When its paid period ends, exclusive; NULL while it runs.",
    ),
    (
        "canceled_at",
        false,
        "When cancellation was requested; NULL if never.",
    ),
    (
        "trial_end",
        false,
        "When its free trial ends; NULL if it had none.",
    ),
    (
        "amount",
        true,
        "Price per unit per billing interval, before discounts and without tax (≥ 0).",
    ),
    ("quantity", false, "Units (seats); NULL counts as 1 (≥ 0)."),
    (
        "currency",
        false,
        "Three-letter code; NULL is the reporting currency.",
    ),
    (
        "billing_interval",
        true,
        "'day', 'week', 'month', 'quarter' or 'year'.",
    ),
    (
        "interval_count",
        false,
        "Intervals per charge (every 6 months: 'month', 6); NULL is 1 (> 0).",
    ),
    (
        "discount_percent",
        false,
        "Percent off while the discount lasts, 0–100; NULL is 0.",
    ),
    (
        "discount_amount",
        false,
        "Amount off per billing interval (whole item) while the discount lasts; NULL is 0 (≥ 0).",
    ),
    (
        "discount_end",
        false,
        "When the discount ends; NULL: it lasts as long as the item (forever).",
    ),
    (
        "metered",
        false,
        "true for usage-based items; NULL is false.",
    ),
];

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The MRR ledger of a table of subscription items: one row per customer and month \
         with its MRR and movement, under a vendor's rules. A table function: SELECT * FROM \
         mrr_ledger('subscription_items'). Rows run from the customer's first month with \
         MRR above 0 to as_of, with columns customer_id, month \
         (DATE, the first of the month), mrr, previous_mrr (0 before the first month), \
         movement ('new', 'expansion', 'contraction', 'churn', 'reactivation', 'retained' or \
         NULL when both are 0, exactly as mrr_movement classifies the series), and \
         new_mrr, expansion_mrr, contraction_mrr, churn_mrr, reactivation_mrr (each ≥ 0: \
         the month's movement amount in its column, 0 in the others). An item's MRR is \
         amount × quantity normalised to a month (day × 365/12, week × 52/12, quarter ÷ 3, \
         year ÷ 12, divided by interval_count), minus discount_percent and then \
         discount_amount (normalised the same way, never below 0) while the discount \
         lasts; a month's MRR is the sum over the items paid for at the convention's \
         measuring instant, converted to saasql.reporting_currency and rounded to 6 \
         decimals. Conventions: 'chartmogul' (default) measures at the month's end, starts \
         MRR when a trial ends, churns when the paid period ends (ended_at), applies \
         discounts while they last and leaves metered items out; 'profitwell' is the same \
         but counts metered items; 'baremetrics' is the same as chartmogul; 'stripe' churns \
         on the cancellation request (canceled_at) and applies only discounts without an \
         end; 'dbt' (the dbt mrr-playbook) measures on the first of the month, has no \
         trials, discounts or metered exclusion. A currency other than the reporting one \
         needs a table fx_rates(currency, month, rate). as_of (a DATE, TIMESTAMP or \
         'YYYY-MM-DD' string; default: the month of the latest started_at or canceled_at, \
         or of the latest ended_at not after the time of the query) is the last month. Every bad row is an error naming the table, the \
         subscription, the column and the value: a NULL customer_id, started_at, amount \
         or billing_interval, a negative amount or quantity, an unknown interval, an \
         interval_count ≤ 0, ended_at before started_at, discount_percent outside 0–100, \
         a negative discount_amount, or a currency without a rate (or with two) for a \
         month. The columns, conventions and their published sources are in \
         docs/mrr-ledger.md.",
        "mrr_ledger(table_name [, convention [, as_of]]) — in FROM: SELECT * FROM mrr_ledger('subscription_items')",
    )
    .with_argument("table_name", "The subscription items: a table or model name, as a string.")
    .with_argument("convention", "'chartmogul' (default), 'profitwell', 'stripe', 'baremetrics' or 'dbt', optionally followed by rule changes: 'chartmogul churn=cancellation' (churn=period_end|cancellation, trials=excluded|included, metered=excluded|included, discounts=while_active|forever_only|none, measure=month_end|month_start).")
    .with_argument("as_of", "The last month (DATE, TIMESTAMP or 'YYYY-MM-DD'); default: the data's last month.")
    .with_sql_example(
        "SELECT month, sum(mrr) AS mrr, sum(new_mrr) AS new, sum(churn_mrr) AS churned\nFROM mrr_ledger('subscription_items')\nGROUP BY month ORDER BY month;",
    )
    .with_related_udf("mrr_movement")
    .build()
});

/// The ledger's documentation.
pub fn documentation() -> &'static Documentation {
    &DOC
}

/// The `mrr_ledger` table function.
#[derive(Debug, Default)]
pub struct MrrLedger;

impl TableFunctionImpl for MrrLedger {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.is_empty() || exprs.len() > 3 {
            return plan_err!(
                "{NAME}: takes 1 to 3 arguments (table_name [, convention [, as_of]]), got {}",
                exprs.len()
            );
        }
        let Some(state) = args.session().as_any().downcast_ref::<SessionState>() else {
            return plan_err!("{NAME}: needs a DataFusion session state to look up its table");
        };
        let table = match literal_text(&exprs[0]) {
            Some(Some(t)) => t,
            _ => {
                return plan_err!(
                    "{NAME}: table_name must be a table's name as a string, as in mrr_ledger('subscription_items')"
                );
            }
        };
        let rules = match exprs.get(1).map(literal_text) {
            None => CONVENTIONS[0],
            Some(Some(Some(c))) => Rules::parse(&c)?,
            Some(_) => {
                return plan_err!("{NAME}: convention must be a string: one of {CONVENTION_NAMES}");
            }
        };
        let as_of = match exprs.get(2) {
            None => None,
            Some(e) => Some(month_of(e)?),
        };
        let currency = match state
            .config_options()
            .extensions
            .get::<SaasqlConfig>()
            .map(|c| c.values().get(&REPORTING_CURRENCY))
        {
            Some(ScalarValue::Utf8(Some(c))) => c,
            _ => REPORTING_CURRENCY.default.to_string(),
        };
        let columns = table_columns(state, &table)?;
        let has_rates = table_columns(state, "fx_rates").is_ok();
        let query = LedgerQuery {
            table: &table,
            columns: &columns,
            rules,
            as_of: as_of.as_deref(),
            currency: &currency,
            rates: has_rates,
        };
        let sql = ledger_sql(&query)?;
        let plan = plan_sql(state, &sql, &table)?;
        if !ledger_exec::runs_in(state) {
            return Ok(Arc::new(ViewTable::new(plan, Some(sql))));
        }
        // A local session computes the months in one pass per customer
        // (crate::ledger_exec) from the same items, with the same schema.
        let spans = plan_sql(state, &ledger_sql_part(&query, Part::Spans)?, &table)?;
        let rates = match has_rates {
            true => Some(plan_sql(state, RATES_SQL, &table)?),
            false => None,
        };
        Ok(Arc::new(LedgerTable {
            schema: Arc::clone(plan.schema().inner()),
            spans,
            rates,
            settings: Arc::new(LedgerSettings {
                convention: rules.name,
                discounts: rules.discounts,
                snapshot: rules.snapshot,
                currency,
                table,
            }),
        }))
    }
}

/// Plans `sql`, a query over `table`, in `state`.
fn plan_sql(state: &SessionState, sql: &str, table: &str) -> Result<LogicalPlan> {
    // The query is written in DataFusion's own SQL, whatever dialect the
    // session parses the user's statements in.
    let statement = state.sql_to_statement(sql, &datafusion::config::Dialect::Generic)?;
    match state.statement_to_plan(statement).now_or_never() {
        Some(plan) => plan,
        None => plan_err!(
            "{NAME}: table '{table}' is in a catalog that answers asynchronously; copy it into a table first (CREATE TABLE t AS SELECT …)"
        ),
    }
}

/// A constant string argument: `None` when it is not a string literal,
/// `Some(None)` for a NULL one.
fn literal_text(expr: &Expr) -> Option<Option<String>> {
    match expr {
        Expr::Literal(v, _) => v.try_as_str().map(|s| s.map(str::to_string)),
        _ => None,
    }
}

/// The ledger query over `table` (with `columns`) for a caller that plans
/// SQL itself (the Python package): `convention` and `as_of` as
/// `mrr_ledger` takes them (`as_of` a `'YYYY-MM-DD'` string), `currency`
/// the reporting currency, `rates` whether an `fx_rates` table exists. The
/// query calls the internal function [`error_udf`], which the session must
/// have.
pub fn ledger_query(
    table: &str,
    columns: &[String],
    convention: Option<&str>,
    as_of: Option<&str>,
    currency: &str,
    rates: bool,
) -> Result<String> {
    let rules = match convention {
        Some(c) => Rules::parse(c)?,
        None => CONVENTIONS[0],
    };
    let as_of = match as_of {
        Some(text) => Some(month_of(&Expr::Literal(
            ScalarValue::Utf8(Some(text.to_string())),
            None,
        ))?),
        None => None,
    };
    let currency = match parse_currency(REPORTING_CURRENCY.key, currency)? {
        ScalarValue::Utf8(Some(c)) => c,
        other => return plan_err!("{NAME}: bad currency {other}"),
    };
    ledger_sql(&LedgerQuery {
        table,
        columns,
        rules,
        as_of: as_of.as_deref(),
        currency: &currency,
        rates,
    })
}

/// The month (`YYYY-MM-01`) of a constant DATE, TIMESTAMP or date string.
fn month_of(expr: &Expr) -> Result<String> {
    let Expr::Literal(value, _) = expr else {
        return plan_err!(
            "{NAME}: as_of must be a constant date, as in DATE '2025-06-30' or '2025-06-30'"
        );
    };
    let is_time = matches!(
        value.data_type(),
        DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _)
            | DataType::Utf8
            | DataType::Utf8View
            | DataType::LargeUtf8
    );
    let micros = match value.cast_to(&DataType::Timestamp(TimeUnit::Microsecond, None)) {
        Ok(ScalarValue::TimestampMicrosecond(Some(t), _)) if is_time => t,
        _ => {
            let shown = match literal_text(expr) {
                Some(Some(text)) => quote(&text),
                _ => value.to_string(),
            };
            return plan_err!(
                "{NAME}: as_of {shown} is not a date; use DATE '2025-06-30', a TIMESTAMP or '2025-06-30'"
            );
        }
    };
    let (y, m, _) = civil_from_days(micros.div_euclid(86_400_000_000));
    Ok(format!("{y:04}-{m:02}-01"))
}

/// The column names of table `name` in `state` (a planning error naming
/// it when there is no such table).
fn table_columns(state: &SessionState, name: &str) -> Result<Vec<String>> {
    let reference = TableReference::parse_str(name);
    let schema = state.schema_for_ref(reference.clone())?;
    let table = match schema.table(reference.table()).now_or_never() {
        Some(t) => t?,
        None => {
            return plan_err!(
                "{NAME}: table '{name}' is in a catalog that answers asynchronously; copy it into a table first"
            );
        }
    };
    match table {
        Some(t) => Ok(t
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().to_string())
            .collect()),
        None => plan_err!("{NAME}: there is no table '{name}'"),
    }
}

/// What one ledger query reads and how.
#[derive(Debug, Clone)]
pub struct LedgerQuery<'a> {
    /// The items table, as the caller named it.
    pub table: &'a str,
    /// Its column names.
    pub columns: &'a [String],
    /// The convention.
    pub rules: Rules,
    /// The last month (`YYYY-MM-01`), or the data's.
    pub as_of: Option<&'a str>,
    /// The reporting currency code.
    pub currency: &'a str,
    /// Whether `fx_rates` exists.
    pub rates: bool,
}

/// `name` as a SQL table reference with every part quoted (so that a table
/// called `table` or `order` parses), after the usual normalisation.
fn quoted_reference(name: &str) -> String {
    let reference = TableReference::parse_str(name);
    let part = |p: &str| format!("\"{}\"", p.replace('"', "\"\""));
    match &reference {
        TableReference::Bare { table } => part(table),
        TableReference::Partial { schema, table } => format!("{}.{}", part(schema), part(table)),
        TableReference::Full {
            catalog,
            schema,
            table,
        } => format!("{}.{}.{}", part(catalog), part(schema), part(table)),
    }
}

/// The tables a statement's `mrr_ledger('name' …)` calls read (each name as
/// written, and `fx_rates`): what a model using the ledger depends on.
pub fn tables_read(sql: &str) -> Vec<String> {
    let lower = sql.to_ascii_lowercase();
    let mut out = vec![];
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("mrr_ledger(") {
        rest = &rest[i + "mrr_ledger(".len()..];
        let args = rest.trim_start();
        if let Some(quoted) = args.strip_prefix('\'')
            && let Some(end) = quoted.find('\'')
        {
            out.push(quoted[..end].to_string());
            out.push("fx_rates".to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The ledger query over `q.table` (see docs/mrr-ledger.md). Each item
/// has a row for every month from its first paid month to `as_of`: its MRR
/// while it is paid, 0 after. One GROUP BY sums them per customer and
/// month, so every customer has every month after it first paid, gaps
/// included, without a calendar joined back to the MRR (the cluster's plan
/// decoder limits how deep a plan may nest) and with the items read once
/// (DataFusion computes a CTE once per reader). The movement
/// columns come from one internal window function over each customer's
/// months ([`super::mrr_ledger_moves`]), which saasql's planner streams in
/// one pass ([`crate::series_window`]) and DataFusion's operators run row
/// by row (a cluster): never a whole partition in memory.
pub fn ledger_sql(q: &LedgerQuery) -> Result<String> {
    ledger_sql_part(q, Part::Ledger)
}

/// What [`ledger_sql_part`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The whole ledger.
    Ledger,
    /// One row per item that counts (see [`crate::ledger_exec`]):
    /// `customer_id`, `currency`, `first_m`, `last_m` and `as_of` (DATEs:
    /// the first month it is paid for, the last, and the ledger's last
    /// month), `full_mrr`, `discounted_mrr` and `discount_end`.
    Spans,
}

/// The exchange rates as the ledger reads them: `currency`, `month`,
/// `rate` and `n` (how many rows the table has for that currency and
/// month).
pub(crate) const RATES_SQL: &str = "SELECT upper(trim(CAST(\"currency\" AS VARCHAR))) AS currency, \
     CAST(date_trunc('month', CAST(\"month\" AS TIMESTAMP)) AS DATE) AS month, \
     max(CAST(\"rate\" AS DOUBLE)) AS rate, count(*) AS n FROM fx_rates GROUP BY 1, 2";

/// [`ledger_sql`], or the part of it that [`crate::ledger_exec`] reads.
pub(crate) fn ledger_sql_part(q: &LedgerQuery, part: Part) -> Result<String> {
    let has = |c: &str| q.columns.iter().any(|x| x == c);
    let missing: Vec<&str> = COLUMNS
        .iter()
        .filter(|(c, required, _)| *required && !has(c))
        .map(|(c, _, _)| *c)
        .collect();
    if !missing.is_empty() {
        return plan_err!(
            "{NAME}: table '{}' has no column {}; a subscription-items table needs customer_id, started_at, amount and billing_interval (and may have {})",
            q.table,
            missing.join(", "),
            COLUMNS
                .iter()
                .filter(|c| !c.1)
                .map(|c| c.0)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let col = |c: &str, null_type: &str| {
        if has(c) {
            format!("\"{c}\"")
        } else {
            format!("CAST(NULL AS {null_type})")
        }
    };
    let reference = quoted_reference(q.table);
    let table_name = quote(q.table);
    let fail = ERROR_FUNCTION;
    let item = "concat(' subscription ', coalesce(subscription_id, '(no subscription_id)'), ' of customer ', coalesce(CAST(customer_id AS VARCHAR), 'NULL'))";
    let bad = |what: &str| format!("{fail}(concat('{NAME}: ', {table_name}, {item}, {what}))");
    let per_month = "(CASE billing_interval WHEN 'day' THEN 12.0 / 365 WHEN 'week' THEN 12.0 / 52 WHEN 'month' THEN 1.0 WHEN 'quarter' THEN 3.0 ELSE 12.0 END * coalesce(interval_count, 1))";
    let rep = quote(q.currency);
    let r = q.rules;
    let paid_from = if r.exclude_trials {
        "CASE WHEN trial_end > started_at THEN trial_end ELSE started_at END"
    } else {
        "started_at"
    };
    let paid_until = if r.churn_on_cancel {
        "CASE WHEN canceled_at IS NOT NULL AND (ended_at IS NULL OR canceled_at < ended_at) THEN canceled_at ELSE ended_at END"
    } else {
        "ended_at"
    };
    let (first_m, last_m, snap) = match r.snapshot {
        Snapshot::MonthEnd => (
            "CAST(date_trunc('month', paid_from) AS DATE)",
            "CAST(date_trunc('month', paid_until) AS DATE) - INTERVAL '1 month'",
            "(CAST(month + INTERVAL '1 month' AS TIMESTAMP(6)) - INTERVAL '1 microsecond')",
        ),
        // Days, as the playbook's periods are dates: a period starting on
        // the 1st at 10:00 covers that 1st, one ending then does not.
        Snapshot::MonthStart => (
            "CAST(date_trunc('month', date_trunc('day', paid_from) - INTERVAL '1 microsecond') AS DATE) + INTERVAL '1 month'",
            "CAST(date_trunc('month', date_trunc('day', paid_until) - INTERVAL '1 microsecond') AS DATE)",
            "CAST(month AS TIMESTAMP(6))",
        ),
    };
    let discounted = "greatest(full_mrr * (1 - discount_percent / 100) - discount_monthly, 0)";
    let mrr = match r.discounts {
        Discounts::WhileActive => format!(
            "CASE WHEN discount_end IS NULL OR discount_end > {snap} THEN {discounted} ELSE full_mrr END"
        ),
        Discounts::ForeverOnly => {
            format!("CASE WHEN discount_end IS NULL THEN {discounted} ELSE full_mrr END")
        }
        Discounts::Never => "full_mrr".to_string(),
    };
    let metered = if r.metered { "true" } else { "NOT metered" };
    let as_of = match q.as_of {
        Some(m) => format!("SELECT DATE {} AS as_of", quote(m)),
        // Scheduled ends (and far-future placeholders such as 9999-12-31)
        // are not what the data has seen yet.
        None => "SELECT CAST(date_trunc('month', max(greatest(started_at, coalesce(canceled_at, started_at), CASE WHEN ended_at <= now() THEN ended_at ELSE started_at END))) AS DATE) AS as_of FROM src".to_string(),
    };
    let (rates_cte, rates_join, convert) = if q.rates {
        (
            format!("rates AS ({RATES_SQL}),\n"),
            "LEFT JOIN rates r ON r.currency = m.currency AND r.month = m.month".to_string(),
            format!(
                "WHEN r.n > 1 THEN {fail}(concat('{NAME}: fx_rates has ', CAST(r.n AS VARCHAR), ' rates for ', m.currency, ' in ', CAST(m.month AS VARCHAR), '; keep one per currency and month'))
         WHEN r.rate IS NULL OR NOT (r.rate > 0 AND r.rate < 1e308) THEN {fail}(concat('{NAME}: fx_rates has no rate above 0 for ', m.currency, ' in ', CAST(m.month AS VARCHAR), ' (needed for customer ', CAST(m.customer_id AS VARCHAR), '; rate = ', {rep}, ' per ', m.currency, ')'))
         ELSE m.mrr * r.rate"
            ),
        )
    } else {
        (
            String::new(),
            String::new(),
            format!(
                "ELSE {fail}(concat('{NAME}: ', {table_name}, ': customer ', CAST(m.customer_id AS VARCHAR), ' has MRR in ', m.currency, ', not the reporting currency ', {rep}, ' (saasql.reporting_currency), and there is no fx_rates(currency, month, rate) table to convert it'))"
            ),
        )
    };
    let tail = match part {
        Part::Spans => format!(
            "SELECT customer_id, currency, CAST(first_m AS DATE) AS first_m,
  CAST(last_m AS DATE) AS last_m, CAST(as_of AS DATE) AS as_of,
  full_mrr, {discounted} AS discounted_mrr, discount_end
FROM spans"
        ),
        Part::Ledger => format!(
            ",
item_months AS (
  SELECT customer_id, currency, month, CASE WHEN month <= last_m THEN {mrr} ELSE 0.0 END AS mrr
  FROM (SELECT *, unnest(range(first_m, as_of + INTERVAL '1 month', INTERVAL '1 month')) AS month FROM spans)
),
{rates_cte}converted AS (
  SELECT m.customer_id, m.month,
    CASE WHEN m.mrr = 0 THEN 0.0
         WHEN m.currency = {rep} THEN m.mrr
         {convert}
    END AS mrr
  FROM item_months m {rates_join}
),
cm AS (SELECT customer_id, month, round(sum(mrr), 6) AS mrr FROM converted GROUP BY customer_id, month),
moves AS (
  SELECT customer_id, month, mrr, {moves}(mrr) OVER (PARTITION BY customer_id ORDER BY month) AS m
  FROM cm
),
classified AS (
  SELECT customer_id, month, mrr, m['previous_mrr'] AS previous_mrr, m['movement'] AS movement
  FROM moves WHERE m['paid_yet']
)
SELECT customer_id, month, mrr, previous_mrr, movement,
  CASE WHEN movement = 'new' THEN mrr ELSE 0 END AS new_mrr,
  CASE WHEN movement = 'expansion' THEN round(mrr - previous_mrr, 6) ELSE 0 END AS expansion_mrr,
  CASE WHEN movement = 'contraction' THEN round(previous_mrr - mrr, 6) ELSE 0 END AS contraction_mrr,
  CASE WHEN movement = 'churn' THEN previous_mrr ELSE 0 END AS churn_mrr,
  CASE WHEN movement = 'reactivation' THEN mrr ELSE 0 END AS reactivation_mrr
FROM classified",
            moves = super::mrr_ledger_moves::NAME,
        ),
    };
    let sql = format!(
        "WITH src AS (
  SELECT \"customer_id\" AS customer_id,
    CAST({subscription_id} AS VARCHAR) AS subscription_id,
    CAST(\"started_at\" AS TIMESTAMP(6)) AS started_at,
    CAST({ended_at} AS TIMESTAMP(6)) AS ended_at,
    CAST({canceled_at} AS TIMESTAMP(6)) AS canceled_at,
    CAST({trial_end} AS TIMESTAMP(6)) AS trial_end,
    CAST({discount_end} AS TIMESTAMP(6)) AS discount_end,
    CAST(\"amount\" AS DOUBLE) AS amount,
    CAST({quantity} AS DOUBLE) AS quantity,
    lower(trim(CAST(\"billing_interval\" AS VARCHAR))) AS billing_interval,
    CAST({interval_count} AS DOUBLE) AS interval_count,
    CAST({discount_percent} AS DOUBLE) AS discount_percent,
    CAST({discount_amount} AS DOUBLE) AS discount_amount,
    upper(trim(CAST({currency} AS VARCHAR))) AS currency,
    CAST({metered_col} AS BOOLEAN) AS metered
  FROM {reference}
),
items AS (
  SELECT customer_id, started_at, ended_at, canceled_at, trial_end, discount_end,
    coalesce(currency, {rep}) AS currency, coalesce(metered, false) AS metered,
    CASE
      WHEN customer_id IS NULL THEN {bad_customer}
      WHEN started_at IS NULL THEN {bad_start}
      WHEN amount IS NULL THEN {bad_amount_null}
      WHEN NOT (amount >= 0) THEN {bad_amount}
      WHEN NOT (coalesce(quantity, 1) >= 0) THEN {bad_quantity}
      WHEN billing_interval IS NULL OR billing_interval NOT IN ('day', 'week', 'month', 'quarter', 'year') THEN {bad_interval}
      WHEN NOT (coalesce(interval_count, 1) > 0) THEN {bad_count}
      WHEN ended_at < started_at THEN {bad_end}
      WHEN NOT (coalesce(discount_percent, 0) BETWEEN 0 AND 100) THEN {bad_percent}
      WHEN NOT (coalesce(discount_amount, 0) >= 0) THEN {bad_discount}
      ELSE amount * coalesce(quantity, 1) / {per_month}
    END AS full_mrr,
    coalesce(discount_percent, 0) AS discount_percent,
    coalesce(discount_amount, 0) / {per_month} AS discount_monthly
  FROM src
),
bounds AS ({as_of}),
spans AS (
  SELECT *, {first_m} AS first_m, least(coalesce({last_m}, b.as_of), b.as_of) AS last_m
  FROM (SELECT *, {paid_from} AS paid_from, {paid_until} AS paid_until FROM items WHERE {metered}) CROSS JOIN bounds b
)
{tail}",
        subscription_id = col("subscription_id", "VARCHAR"),
        ended_at = col("ended_at", "TIMESTAMP"),
        canceled_at = col("canceled_at", "TIMESTAMP"),
        trial_end = col("trial_end", "TIMESTAMP"),
        discount_end = col("discount_end", "TIMESTAMP"),
        quantity = col("quantity", "DOUBLE"),
        interval_count = col("interval_count", "DOUBLE"),
        discount_percent = col("discount_percent", "DOUBLE"),
        discount_amount = col("discount_amount", "DOUBLE"),
        currency = col("currency", "VARCHAR"),
        metered_col = col("metered", "BOOLEAN"),
        bad_customer = bad("' has a NULL customer_id'"),
        bad_start = bad("' has a NULL started_at'"),
        bad_amount_null = bad("' has a NULL amount (the price per billing interval)'"),
        bad_amount = bad(
            "' has amount ', CAST(amount AS VARCHAR), ': amounts are prices per billing interval, 0 or more'"
        ),
        bad_quantity = bad("' has quantity ', CAST(quantity AS VARCHAR), ': quantities are 0 or more'"),
        bad_interval = bad(
            "' has billing_interval ', coalesce(quote_interval, 'NULL'), ': use day, week, month, quarter or year'"
        )
        .replace(
            "quote_interval",
            "concat('''', billing_interval, '''')"
        ),
        bad_count = bad("' has interval_count ', CAST(interval_count AS VARCHAR), ': it must be above 0'"),
        bad_end = bad(
            "' ends (ended_at ', CAST(ended_at AS VARCHAR), ') before it starts (started_at ', CAST(started_at AS VARCHAR), ')'"
        ),
        bad_percent = bad(
            "' has discount_percent ', CAST(discount_percent AS VARCHAR), ': it must be from 0 to 100'"
        ),
        bad_discount = bad(
            "' has discount_amount ', CAST(discount_amount AS VARCHAR), ': discounts are 0 or more'"
        ),
    );
    Ok(sql)
}

/// The internal function that raises its message (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LedgerError {
    signature: Signature,
}

impl Default for LedgerError {
    fn default() -> Self {
        Self {
            signature: Signature::string(1, Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for LedgerError {
    fn name(&self) -> &str {
        ERROR_FUNCTION
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let messages: ArrayRef = args.args[0].to_array(rows)?;
        let messages = datafusion::arrow::compute::cast(&messages, &DataType::Utf8)?;
        let messages = messages.as_string::<i32>();
        if let Some(m) = messages.iter().flatten().next() {
            return exec_err!("{m}");
        }
        Ok(ColumnarValue::Array(new_null_array(
            &DataType::Float64,
            messages.len(),
        )))
    }
}

/// The internal error function, registered with every session.
pub fn error_udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::from(LedgerError::default())));
    Arc::clone(&UDF)
}

/// The `mrr_ledger` table function.
pub fn table_function() -> Arc<dyn TableFunctionImpl> {
    Arc::new(MrrLedger)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions_parse_and_differ() {
        assert_eq!(Rules::parse(" Stripe ").unwrap().name, "stripe");
        let e = Rules::parse("chargebee").unwrap_err().strip_backtrace();
        assert!(
            e.contains("'chartmogul', 'profitwell', 'stripe', 'baremetrics' or 'dbt'"),
            "{e}"
        );
        // Every convention is its own set of rules but baremetrics, which
        // matches chartmogul's (the docs say so).
        for (i, a) in CONVENTIONS.iter().enumerate() {
            for b in &CONVENTIONS[i + 1..] {
                let same = (
                    a.churn_on_cancel,
                    a.exclude_trials,
                    a.metered,
                    a.discounts,
                    a.snapshot,
                ) == (
                    b.churn_on_cancel,
                    b.exclude_trials,
                    b.metered,
                    b.discounts,
                    b.snapshot,
                );
                assert_eq!(
                    same,
                    (a.name, b.name) == ("chartmogul", "baremetrics"),
                    "{a:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn conventions_take_rule_changes() {
        let r = Rules::parse("chartmogul churn=cancellation, discounts=forever_only").unwrap();
        let stripe = Rules::parse("stripe").unwrap();
        assert_eq!(
            (
                r.churn_on_cancel,
                r.discounts,
                r.metered,
                r.exclude_trials,
                r.snapshot
            ),
            (
                stripe.churn_on_cancel,
                stripe.discounts,
                stripe.metered,
                stripe.exclude_trials,
                stripe.snapshot
            )
        );
        let e = Rules::parse("dbt churn=soon")
            .unwrap_err()
            .strip_backtrace();
        assert!(
            e.contains("churn is period_end or cancellation, not 'soon'"),
            "{e}"
        );
        let e = Rules::parse("dbt grace=30").unwrap_err().strip_backtrace();
        assert!(e.contains("'grace=30' is not a rule"), "{e}");
    }

    #[test]
    fn currencies_and_months() {
        assert_eq!(
            parse_currency("saasql.reporting_currency", " eur").unwrap(),
            ScalarValue::Utf8(Some("EUR".into()))
        );
        assert!(parse_currency("saasql.reporting_currency", "euro").is_err());
        let lit = |v: ScalarValue| Expr::Literal(v, None);
        assert_eq!(
            month_of(&lit(ScalarValue::Utf8(Some("2025-06-30".into())))).unwrap(),
            "2025-06-01"
        );
        assert_eq!(
            month_of(&lit(ScalarValue::Date32(Some(0)))).unwrap(),
            "1970-01-01"
        );
        let e = month_of(&lit(ScalarValue::Utf8(Some("soon".into())))).unwrap_err();
        assert!(e.strip_backtrace().contains("as_of 'soon' is not a date"));
    }

    #[test]
    fn missing_columns_are_named() {
        let columns = vec!["customer_id".to_string(), "started_at".to_string()];
        let e = ledger_sql(&LedgerQuery {
            table: "items",
            columns: &columns,
            rules: CONVENTIONS[0],
            as_of: None,
            currency: "USD",
            rates: false,
        })
        .unwrap_err()
        .strip_backtrace();
        assert!(
            e.contains("table 'items' has no column amount, billing_interval"),
            "{e}"
        );
    }

    #[test]
    fn models_see_the_tables_a_ledger_reads() {
        assert_eq!(
            tables_read("SELECT * FROM MRR_LEDGER( 'items', 'stripe') JOIN x USING (c)"),
            ["fx_rates", "items"]
        );
        assert!(tables_read("SELECT mrr_ledger_total FROM t").is_empty());
        assert_eq!(quoted_reference("s.Order"), "\"s\".\"order\"");
    }

    /// docs/mrr-ledger.md lists every column and convention.
    #[test]
    fn the_page_documents_every_column_and_convention() {
        let page = include_str!("../../../../../docs/mrr-ledger.md");
        for (column, _, _) in COLUMNS {
            assert!(page.contains(&format!("| `{column}` |")), "{column}");
        }
        for rules in CONVENTIONS {
            assert!(
                page.contains(&format!("`{}`", rules.name)),
                "{}",
                rules.name
            );
        }
    }
}
