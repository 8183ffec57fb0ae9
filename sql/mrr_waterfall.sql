-- The MRR waterfall: each month's MRR from the previous month's, through new,
-- expansion and reactivation MRR gained and contraction and churn lost.
-- chart: line x=month y=ending_mrr
-- From the billing export (subscription_items) through mrr_ledger: ChartMogul's
-- rules, in USD (fx_rates converts EUR and GBP). starting_mrr + new + expansion
-- + reactivation − contraction − churn = ending_mrr on every row, up to a cent
-- (each column is rounded on its own), and each row starts where the last ended.
SELECT month,
       round(sum(previous_mrr), 2) AS starting_mrr,
       round(sum(new_mrr), 2) AS new,
       round(sum(expansion_mrr), 2) AS expansion,
       round(sum(reactivation_mrr), 2) AS reactivation,
       round(sum(contraction_mrr), 2) AS contraction,
       round(sum(churn_mrr), 2) AS churn,
       round(sum(mrr), 2) AS ending_mrr,
       count(*) FILTER (WHERE mrr > 0) AS paying_customers
FROM mrr_ledger('subscription_items')
GROUP BY month
ORDER BY month;
