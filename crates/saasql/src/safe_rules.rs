//! Guards against optimizer rewrites that give wrong results.
//!
//! DataFusion 55's `eliminate_join` turns an inner join into a semi join (and
//! drops a left/right join) when the removed side is unique on the join key,
//! judged from functional dependencies. Those are wrong after a GROUP BY over
//! a join: `aggregate_functional_dependencies` marks a grouping key as unique
//! when only part of the GROUP BY determines it (grouping by `month,
//! customer_id` over `months JOIN subscriptions` claims `month` alone is
//! unique), so a join on `month` drops rows. The bundled reports hit it:
//!
//! ```sql
//! WITH rm AS (SELECT DISTINCT k FROM a),
//!      x AS (SELECT rm.k, b.c FROM rm JOIN b ON b.c > rm.k GROUP BY rm.k, b.c)
//! SELECT count(*) FROM x, (SELECT max(k) AS k FROM rm) m WHERE x.k = m.k
//! -- a = (1), (1), (2); b = (10), (20): DataFusion 55 answers 1, not 2
//! ```
//!
//! saasql's sessions replace that rule by [`EliminateFalseJoin`], which does
//! only what `eliminate_join` did before DataFusion 55: an inner join whose
//! condition is the constant `false` becomes an empty relation.
//!
//! The same wrong dependencies drop ORDER BY keys: `eliminate_duplicated_expr`
//! also removes sort keys that functional dependencies say the earlier keys
//! determine, so after a join with a `SELECT DISTINCT` the report
//!
//! ```sql
//! WITH months AS (SELECT DISTINCT m FROM a)
//! SELECT m, p, count(*) FROM months JOIN b ON b.x >= months.m GROUP BY m, p ORDER BY m, p
//! ```
//!
//! came out sorted by `m` only. [`EliminateDuplicatedSortKeys`] takes its
//! place: it removes only sort keys and grouping expressions that are written
//! twice.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    Aggregate, EmptyRelation, Expr, JoinType, LogicalPlan, Sort, SortExpr,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// An optimizer rule list.
pub type Rules = Vec<Arc<dyn OptimizerRule + Send + Sync>>;

/// `rules` with DataFusion's `eliminate_join` replaced by
/// [`EliminateFalseJoin`] (see the module documentation).
pub fn safe_optimizer_rules(rules: &[Arc<dyn OptimizerRule + Send + Sync>]) -> Rules {
    rules
        .iter()
        .map(|rule| match rule.name() {
            "eliminate_join" => {
                Arc::new(EliminateFalseJoin) as Arc<dyn OptimizerRule + Send + Sync>
            }
            "eliminate_duplicated_expr" => Arc::new(EliminateDuplicatedSortKeys) as _,
            _ => Arc::clone(rule),
        })
        .collect()
}

/// Removes a sort key or grouping expression written twice (the first one
/// stays), and nothing else (see the module documentation).
#[derive(Debug, Default)]
pub struct EliminateDuplicatedSortKeys;

impl OptimizerRule for EliminateDuplicatedSortKeys {
    fn name(&self) -> &str {
        "eliminate_duplicated_expr"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        match plan {
            LogicalPlan::Sort(sort) => {
                let mut kept: Vec<SortExpr> = Vec::with_capacity(sort.expr.len());
                for e in &sort.expr {
                    if !kept.iter().any(|k| k.expr == e.expr) {
                        kept.push(e.clone());
                    }
                }
                if kept.len() == sort.expr.len() {
                    return Ok(Transformed::no(LogicalPlan::Sort(sort)));
                }
                Ok(Transformed::yes(LogicalPlan::Sort(Sort {
                    expr: kept,
                    input: sort.input,
                    fetch: sort.fetch,
                })))
            }
            LogicalPlan::Aggregate(agg) => {
                let mut kept: Vec<Expr> = Vec::with_capacity(agg.group_expr.len());
                for e in &agg.group_expr {
                    if !kept.contains(e) {
                        kept.push(e.clone());
                    }
                }
                if kept.len() == agg.group_expr.len() {
                    return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
                }
                Aggregate::try_new(agg.input, kept, agg.aggr_expr)
                    .map(|a| Transformed::yes(LogicalPlan::Aggregate(a)))
            }
            other => Ok(Transformed::no(other)),
        }
    }
}

/// Replaces an inner join whose condition is the constant `false` with an
/// empty relation, and does nothing else.
#[derive(Debug, Default)]
pub struct EliminateFalseJoin;

impl OptimizerRule for EliminateFalseJoin {
    fn name(&self) -> &str {
        "eliminate_join"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        match plan {
            LogicalPlan::Join(join)
                if join.join_type == JoinType::Inner
                    && join.on.is_empty()
                    && matches!(
                        join.filter,
                        Some(Expr::Literal(ScalarValue::Boolean(Some(false)), _))
                    ) =>
            {
                Ok(Transformed::yes(LogicalPlan::EmptyRelation(
                    EmptyRelation {
                        produce_one_row: false,
                        schema: Arc::clone(&join.schema),
                    },
                )))
            }
            other => Ok(Transformed::no(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;

    /// The query of the module documentation counts both rows.
    #[tokio::test]
    async fn a_join_on_part_of_a_group_by_keeps_its_rows() {
        let ctx = crate::context();
        for sql in [
            "CREATE TABLE a(k BIGINT) AS VALUES (1), (1), (2)",
            "CREATE TABLE b(c BIGINT) AS VALUES (10), (20)",
        ] {
            ctx.sql(sql).await.unwrap().collect().await.unwrap();
        }
        let query = "WITH rm AS (SELECT DISTINCT k FROM a), \
             x AS (SELECT rm.k, b.c FROM rm JOIN b ON b.c > rm.k GROUP BY rm.k, b.c) \
             SELECT count(*) FROM x, (SELECT max(k) AS k FROM rm) m WHERE x.k = m.k";
        let batches = ctx.sql(query).await.unwrap().collect().await.unwrap();
        let count = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0);
        assert_eq!(count, 2);
        // A join on a constant false condition is still removed.
        let plan = ctx
            .sql("SELECT * FROM a JOIN b ON false")
            .await
            .unwrap()
            .into_optimized_plan()
            .unwrap();
        assert!(format!("{plan}").contains("EmptyRelation"), "{plan}");
    }

    /// ORDER BY keeps every key after a join with a DISTINCT (the query of
    /// the module documentation); a key written twice is dropped.
    #[tokio::test]
    async fn order_by_keeps_its_keys() {
        let ctx = crate::context();
        for sql in [
            "CREATE TABLE a(m INT) AS VALUES (1), (2)",
            "CREATE TABLE b(x INT, p VARCHAR) AS VALUES (1, 'z'), (1, 'a'), (2, 'b'), (2, 'y')",
        ] {
            ctx.sql(sql).await.unwrap().collect().await.unwrap();
        }
        let query = "WITH months AS (SELECT DISTINCT m FROM a) \
             SELECT m, p, count(*) AS n FROM months JOIN b ON b.x >= months.m \
             GROUP BY m, p ORDER BY m, p, m";
        let df = ctx.sql(query).await.unwrap();
        let plan = df.clone().into_optimized_plan().unwrap();
        let sort = format!("{plan}").lines().next().unwrap().to_string();
        assert_eq!(
            sort, "Sort: months.m ASC NULLS LAST, b.p ASC NULLS LAST",
            "{plan}"
        );
        let rows =
            datafusion::arrow::util::pretty::pretty_format_batches(&df.collect().await.unwrap())
                .unwrap()
                .to_string();
        let order: Vec<&str> = rows
            .lines()
            .filter(|l| l.starts_with("| ") && !l.contains(" m "))
            .collect();
        assert_eq!(
            order,
            [
                "| 1 | a | 1 |",
                "| 1 | b | 1 |",
                "| 1 | y | 1 |",
                "| 1 | z | 1 |",
                "| 2 | b | 1 |",
                "| 2 | y | 1 |"
            ],
            "{rows}"
        );
    }
}
