//! Reading DataFusion's results.

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::UInt64Type;

/// Sums the `count` column DataFusion returns from writes.
pub fn count_written(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| b.columns().first())
        .filter_map(|c| c.as_primitive_opt::<UInt64Type>())
        .map(|counts| counts.iter().flatten().sum::<u64>())
        .sum()
}
