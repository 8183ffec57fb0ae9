-- Why ChartMogul's and Stripe's MRR differ, month by month: each convention's
-- MRR, churned MRR and NRR side by side, and the difference split by the rule
-- that causes it. The two differ in two rules (docs/mrr-ledger.md): Stripe counts
-- churn when the cancellation is requested (ChartMogul when the paid period
-- ends), and lowers MRR only for discounts without an end. Changing one rule at
-- a time (ChartMogul → ChartMogul with Stripe's churn timing → Stripe) gives
-- each rule's part; the parts add up to the difference. The customers behind
-- each part: how many, and the five with the largest amounts.
-- chart: bar x=month y=from_churn_timing,from_discounts
WITH rows AS (
    SELECT customer_id, month, mrr AS a, 0.0 AS s, 0.0 AS b, previous_mrr AS pa, 0.0 AS pb,
           churn_mrr AS ca, 0.0 AS cb
    FROM mrr_ledger('subscription_items', 'chartmogul')
    UNION ALL
    SELECT customer_id, month, 0.0, mrr, 0.0, 0.0, 0.0, 0.0, 0.0
    FROM mrr_ledger('subscription_items', 'chartmogul churn=cancellation')
    UNION ALL
    SELECT customer_id, month, 0.0, 0.0, mrr, 0.0, previous_mrr, 0.0, churn_mrr
    FROM mrr_ledger('subscription_items', 'stripe')
),
customers AS (
    SELECT customer_id, month, sum(a) AS a, sum(s) AS s, sum(b) AS b, sum(pa) AS pa,
           sum(pb) AS pb, sum(ca) AS ca, sum(cb) AS cb
    FROM rows
    GROUP BY customer_id, month
)
SELECT month,
       round(sum(a), 2) AS chartmogul_mrr,
       round(sum(b), 2) AS stripe_mrr,
       round(sum(b) - sum(a), 2) AS difference,
       round(sum(s) - sum(a), 2) AS from_churn_timing,
       count(*) FILTER (WHERE abs(s - a) >= 0.005) AS churn_timing_customers,
       array_to_string(array_slice(array_agg(customer_id ORDER BY abs(s - a) DESC, customer_id)
                                   FILTER (WHERE abs(s - a) >= 0.005), 1, 5), ' ') AS churn_timing_top,
       round(sum(b) - sum(s), 2) AS from_discounts,
       count(*) FILTER (WHERE abs(b - s) >= 0.005) AS discount_customers,
       array_to_string(array_slice(array_agg(customer_id ORDER BY abs(b - s) DESC, customer_id)
                                   FILTER (WHERE abs(b - s) >= 0.005), 1, 5), ' ') AS discount_top,
       round(sum(ca), 2) AS chartmogul_churned,
       round(sum(cb), 2) AS stripe_churned,
       round(100 * sum(a) FILTER (WHERE pa > 0) / sum(pa) FILTER (WHERE pa > 0), 1) AS chartmogul_nrr,
       round(100 * sum(b) FILTER (WHERE pb > 0) / sum(pb) FILTER (WHERE pb > 0), 1) AS stripe_nrr
FROM customers
GROUP BY month
ORDER BY month;
