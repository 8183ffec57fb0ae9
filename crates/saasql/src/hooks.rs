//! What one saasql function declares, in its own file, for the one list in
//! [`crate::functions`]: its DataFusion function and its [`Hooks`].
//!
//! Each function file has `pub fn function() -> Function`. The registration,
//! the settings extension ([`crate::config`]), the analyzer rewrite
//! ([`crate::rewrite`]), the planner checks ([`crate::planner`]) and the
//! reference loop over that list; none of them names a function.

use std::sync::Arc;

use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{AggregateUDF, Documentation, Expr, ScalarUDF, WindowUDF};

use crate::settings::{Setting, SettingValues};

/// What kind of SQL function an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// One value per row.
    Scalar,
    /// One value per group.
    Aggregate,
    /// One value per row, computed over a window.
    Window,
    /// A table (`FROM f(…)`).
    Table,
}

impl FunctionKind {
    /// Label used in docs and `SHOW FUNCTIONS`.
    pub fn label(self) -> &'static str {
        match self {
            FunctionKind::Scalar => "scalar",
            FunctionKind::Aggregate => "aggregate",
            FunctionKind::Window => "window",
            FunctionKind::Table => "table",
        }
    }
}

/// A DataFusion function of any kind.
#[derive(Debug, Clone)]
pub enum Udf {
    /// A scalar function.
    Scalar(Arc<ScalarUDF>),
    /// An aggregate function.
    Aggregate(Arc<AggregateUDF>),
    /// A window function.
    Window(Arc<WindowUDF>),
}

/// Arguments to append to a call with `n` arguments, from the session's
/// settings; `None` when the call needs none.
pub type ExtraArgs = fn(n: usize, settings: &SettingValues) -> Option<Vec<Expr>>;

/// Checks the constant arguments of an aggregate call named `name`
/// (`literals[i]` is argument `i` when it is a constant): a planning error
/// for a bad one.
pub type CheckConstants = fn(name: &str, literals: &[Option<ScalarValue>]) -> Result<()>;

/// What a function needs from the layers above it, besides its UDF.
#[derive(Debug, Clone, Copy)]
pub struct Hooks {
    /// The `saasql.*` settings it reads (the reference lists them in
    /// function-name order, then in this order).
    pub settings: &'static [&'static Setting],
    /// Turns those settings into literal arguments while a query is planned
    /// (DataFusion 55 gives aggregates no session options, and a plan sent
    /// to a Ballista cluster must carry its settings).
    pub extra_args: Option<ExtraArgs>,
    /// Checks an aggregate's constant arguments while SQL is planned, before
    /// any data is read (also for `EXPLAIN` and `CREATE VIEW`).
    pub check_constants: Option<CheckConstants>,
    /// Positions of an aggregate's constant string arguments, passed as
    /// one-value dictionaries (see [`crate::util::literals::constant_literal`]).
    pub string_constants: &'static [usize],
}

impl Hooks {
    /// No hooks.
    pub const NONE: Self = Self {
        settings: &[],
        extra_args: None,
        check_constants: None,
        string_constants: &[],
    };
}

/// One entry of the function list.
#[derive(Debug, Clone)]
pub struct Function {
    /// The DataFusion function.
    pub udf: Udf,
    /// What it declares besides.
    pub hooks: Hooks,
}

impl Function {
    /// This function called with `args`, as a DataFusion expression.
    pub fn call(&self, args: Vec<Expr>) -> Expr {
        match &self.udf {
            Udf::Scalar(u) => u.call(args),
            Udf::Aggregate(u) => u.call(args),
            Udf::Window(u) => u.call(args),
        }
    }

    /// A scalar function without hooks.
    pub fn scalar(udf: Arc<ScalarUDF>) -> Self {
        Self {
            udf: Udf::Scalar(udf),
            hooks: Hooks::NONE,
        }
    }

    /// An aggregate function without hooks.
    pub fn aggregate(udaf: Arc<AggregateUDF>) -> Self {
        Self {
            udf: Udf::Aggregate(udaf),
            hooks: Hooks::NONE,
        }
    }

    /// A window function without hooks.
    pub fn window(udwf: Arc<WindowUDF>) -> Self {
        Self {
            udf: Udf::Window(udwf),
            hooks: Hooks::NONE,
        }
    }

    /// The same function with `hooks`.
    pub fn with_hooks(self, hooks: Hooks) -> Self {
        Self { hooks, ..self }
    }

    /// Its SQL name.
    pub fn name(&self) -> &str {
        match &self.udf {
            Udf::Scalar(f) => f.name(),
            Udf::Aggregate(f) => f.name(),
            Udf::Window(f) => f.name(),
        }
    }

    /// Scalar, aggregate or window.
    pub fn kind(&self) -> FunctionKind {
        match &self.udf {
            Udf::Scalar(_) => FunctionKind::Scalar,
            Udf::Aggregate(_) => FunctionKind::Aggregate,
            Udf::Window(_) => FunctionKind::Window,
        }
    }

    /// Its documentation, if it has any.
    pub fn documentation(&self) -> Option<&Documentation> {
        match &self.udf {
            Udf::Scalar(f) => f.documentation(),
            Udf::Aggregate(f) => f.documentation(),
            Udf::Window(f) => f.documentation(),
        }
    }
}
