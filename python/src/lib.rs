//! `saasql._saasql`: the native half of the `saasql` Python package.
//!
//! It exports every saasql function as an object with the
//! `__datafusion_scalar_udf__`, `__datafusion_aggregate_udf__` or
//! `__datafusion_window_udf__` method, whose PyCapsule (`datafusion-ffi` 55's
//! `FFI_ScalarUDF`, `FFI_AggregateUDF`, `FFI_WindowUDF`) the `datafusion`
//! package's `udf`, `udaf` and `udwf` take. `saasql/__init__.py` registers
//! them on a `SessionContext`. What changes over FFI is in [`wrap`].

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion_ffi::udaf::FFI_AggregateUDF;
use datafusion_ffi::udf::FFI_ScalarUDF;
use datafusion_ffi::udwf::FFI_WindowUDF;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use saasql::config::SaasqlConfig;
use saasql::datafusion::common::DataFusionError;
use saasql::datafusion::common::config::ExtensionOptions;
use saasql::datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};
use saasql::hooks::Udf;

mod statements;
mod wrap;

/// A DataFusion error as a Python `ValueError` with its one-line message
/// (without DataFusion's "Error during planning: " prefix).
fn value_error(e: DataFusionError) -> PyErr {
    let message = match e.find_root() {
        DataFusionError::Plan(m) | DataFusionError::Execution(m) => m.clone(),
        other => other.to_string(),
    };
    PyValueError::new_err(message)
}

/// A saasql scalar function, exported through `__datafusion_scalar_udf__`.
#[pyclass(module = "saasql._saasql", frozen)]
#[derive(Debug)]
struct ScalarFunction {
    udf: Arc<ScalarUDF>,
}

#[pymethods]
impl ScalarFunction {
    /// The function's SQL name.
    #[getter]
    fn name(&self) -> &str {
        self.udf.name()
    }

    /// `"scalar"`.
    #[getter]
    fn kind(&self) -> &'static str {
        "scalar"
    }

    fn __datafusion_scalar_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = FFI_ScalarUDF::from(Arc::clone(&self.udf));
        PyCapsule::new_with_value(py, ffi, c"datafusion_scalar_udf")
    }

    fn __repr__(&self) -> String {
        format!("saasql.ScalarFunction({})", self.udf.name())
    }
}

/// A saasql aggregate function, exported through `__datafusion_aggregate_udf__`.
#[pyclass(module = "saasql._saasql", frozen)]
#[derive(Debug)]
struct AggregateFunction {
    udf: Arc<AggregateUDF>,
}

#[pymethods]
impl AggregateFunction {
    /// The function's SQL name.
    #[getter]
    fn name(&self) -> &str {
        self.udf.name()
    }

    /// `"aggregate"`.
    #[getter]
    fn kind(&self) -> &'static str {
        "aggregate"
    }

    fn __datafusion_aggregate_udf__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = FFI_AggregateUDF::from(Arc::clone(&self.udf));
        PyCapsule::new_with_value(py, ffi, c"datafusion_aggregate_udf")
    }

    fn __repr__(&self) -> String {
        format!("saasql.AggregateFunction({})", self.udf.name())
    }
}

/// A saasql window function, exported through `__datafusion_window_udf__`.
#[pyclass(module = "saasql._saasql", frozen)]
#[derive(Debug)]
struct WindowFunction {
    udf: Arc<WindowUDF>,
}

#[pymethods]
impl WindowFunction {
    /// The function's SQL name.
    #[getter]
    fn name(&self) -> &str {
        self.udf.name()
    }

    /// `"window"`.
    #[getter]
    fn kind(&self) -> &'static str {
        "window"
    }

    fn __datafusion_window_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = FFI_WindowUDF::from(Arc::clone(&self.udf));
        PyCapsule::new_with_value(py, ffi, c"datafusion_window_udf")
    }

    fn __repr__(&self) -> String {
        format!("saasql.WindowFunction({})", self.udf.name())
    }
}

/// Every saasql function, ready for export, with `settings` (setting key,
/// with or without `saasql.`, to its value as text) over the defaults.
/// An unknown key or a bad value is a `ValueError` naming the setting.
#[pyfunction]
#[pyo3(signature = (settings = None))]
fn functions(
    py: Python<'_>,
    settings: Option<BTreeMap<String, String>>,
) -> PyResult<Vec<Py<PyAny>>> {
    let mut config = SaasqlConfig::default();
    for (key, value) in settings.unwrap_or_default() {
        config.set(&key, &value).map_err(value_error)?;
    }
    saasql::functions::functions()
        .iter()
        .map(|f| {
            Ok(match wrap::wrap(f, config.values()) {
                Udf::Scalar(udf) => Py::new(py, ScalarFunction { udf })?.into_any(),
                Udf::Aggregate(udf) => Py::new(py, AggregateFunction { udf })?.into_any(),
                Udf::Window(udf) => Py::new(py, WindowFunction { udf })?.into_any(),
            })
        })
        .collect()
}

/// The `saasql.*` settings: `(key, default, description)` each, keys
/// without the prefix.
#[pyfunction]
fn settings() -> Vec<(String, String, String)> {
    saasql::functions::settings()
        .into_iter()
        .map(|s| {
            (
                s.key.to_string(),
                s.default.to_string(),
                s.description.to_string(),
            )
        })
        .collect()
}

/// The documentation of function `name` as `saasql functions NAME` prints
/// it (Markdown), or `None` for a name that is not a saasql function.
#[pyfunction]
fn documentation(name: &str) -> Option<String> {
    let f = saasql::functions::by_name(name)?;
    let doc = f.documentation()?;
    Some(saasql::reference::function_markdown(
        f.name(),
        f.kind(),
        doc,
    ))
}

/// The query `mrr_ledger(table, convention, as_of)` stands for, over a table
/// with `columns` (see `saasql.mrr_ledger`); a `ValueError` for a bad
/// convention, date, currency or a missing column.
#[pyfunction]
#[pyo3(signature = (table, columns, convention = None, as_of = None, currency = "USD", rates = false))]
fn ledger_sql(
    table: &str,
    columns: Vec<String>,
    convention: Option<&str>,
    as_of: Option<&str>,
    currency: &str,
    rates: bool,
) -> PyResult<String> {
    saasql::functions::revenue::mrr_ledger::ledger_query(
        table, &columns, convention, as_of, currency, rates,
    )
    .map_err(value_error)
}

/// The internal function the ledger's query reports bad rows with.
#[pyfunction]
fn ledger_error_function() -> ScalarFunction {
    ScalarFunction {
        udf: saasql::functions::revenue::mrr_ledger::error_udf(),
    }
}

/// The internal window function the ledger's query computes its movement
/// columns with.
#[pyfunction]
fn ledger_moves_function() -> WindowFunction {
    WindowFunction {
        udf: saasql::functions::revenue::mrr_ledger_moves::udwf(),
    }
}

/// The statements of a `.sql` file's text, split by DataFusion's parser.
#[pyfunction(name = "statements")]
fn py_statements(sql: &str) -> PyResult<Vec<String>> {
    statements::statements(sql).map_err(value_error)
}

/// The models of a project's `models/` folder in the order to create them:
/// `(name, file, sql, description, depends_on)` each.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn models(dir: &str) -> PyResult<Vec<(String, String, String, Option<String>, Vec<String>)>> {
    let ordered = saasql::models::ordered_models(std::path::Path::new(dir), "generic")
        .map_err(value_error)?;
    Ok(ordered
        .into_iter()
        .map(|m| {
            (
                m.file.name,
                m.file.path.display().to_string(),
                m.file.sql.trim().trim_end_matches(';').to_string(),
                m.file.description,
                m.depends_on,
            )
        })
        .collect())
}

#[pymodule]
fn _saasql(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DATAFUSION_FFI_MAJOR", datafusion_ffi::version())?;
    m.add_class::<ScalarFunction>()?;
    m.add_class::<AggregateFunction>()?;
    m.add_class::<WindowFunction>()?;
    m.add_function(wrap_pyfunction!(functions, m)?)?;
    m.add_function(wrap_pyfunction!(settings, m)?)?;
    m.add_function(wrap_pyfunction!(documentation, m)?)?;
    m.add_function(wrap_pyfunction!(py_statements, m)?)?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    m.add_function(wrap_pyfunction!(ledger_sql, m)?)?;
    m.add_function(wrap_pyfunction!(ledger_error_function, m)?)?;
    m.add_function(wrap_pyfunction!(ledger_moves_function, m)?)?;
    Ok(())
}
