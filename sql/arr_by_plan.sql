-- ARR by plan at the last month of the billing export: 12 × MRR of the paying
-- customers on each plan (their current plan, customers.plan), their number and
-- share of ARR.
-- chart: bar x=plan y=arr
-- From subscription_items through mrr_ledger (ChartMogul's rules, USD).
WITH ledger AS (
    SELECT customer_id, month, mrr, max(month) OVER () AS as_of
    FROM mrr_ledger('subscription_items')
),
now AS (
    SELECT l.customer_id, l.mrr, c.plan
    FROM ledger l
    JOIN customers c ON c.customer_id = l.customer_id
    WHERE l.month = l.as_of AND l.mrr > 0
)
SELECT plan,
       count(*) AS customers,
       round(12 * sum(mrr), 2) AS arr,
       round(100 * sum(mrr) / sum(sum(mrr)) OVER (), 1) AS arr_share_pct
FROM now
GROUP BY plan
ORDER BY arr DESC;
