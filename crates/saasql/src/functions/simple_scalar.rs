//! A scalar function over DOUBLE arguments defined by a row kernel: the
//! shape shared by `purchase_ltv`, `retention_cost`, `ltv_cac_ratio`
//! and `quick_ratio`.

use std::fmt::{self, Debug};
use std::hash::{Hash, Hasher};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use crate::args::{Param, Params};
use crate::util::rows::map_floats;

/// The row kernel: the arguments of one row (NULL-free) → result.
pub type RowKernel = fn(&[f64]) -> Result<Option<f64>>;

/// A scalar function of numeric arguments returning DOUBLE.
pub struct FloatScalar {
    name: &'static str,
    doc: &'static Documentation,
    params: Params,
    kernel: RowKernel,
}

impl FloatScalar {
    /// A function of the numeric `params`, taking the first `n` of them for
    /// each `n` in `counts`.
    pub fn new(
        name: &'static str,
        params: &'static [Param],
        counts: &'static [usize],
        doc: &'static Documentation,
        kernel: RowKernel,
    ) -> Self {
        Self {
            name,
            doc,
            params: Params::new(name, params, counts),
            kernel,
        }
    }
}

impl Debug for FloatScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FloatScalar")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for FloatScalar {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for FloatScalar {}
impl Hash for FloatScalar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

macro_rules! dispatch {
    ($args:expr, $rows:expr, $kernel:expr, $($n:literal),*) => {
        match $args.len() {
            $($n => map_floats::<$n>($args, $rows, |row| ($kernel)(&row)),)*
            n => datafusion::common::internal_err!("unexpected argument count {n}"),
        }
    };
}

impl ScalarUDFImpl for FloatScalar {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        self.params.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.params.coerce(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.params.check(arg_types)?;
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        dispatch!(&args.args, args.number_rows, self.kernel, 1, 2, 3, 4, 5)
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(self.doc)
    }
}
