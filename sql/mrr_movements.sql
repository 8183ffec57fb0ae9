-- MRR movements per month: new, expansion, contraction, churn, reactivation,
-- with the MRR each moved, and the month's SaaS quick ratio.
-- chart: bar x=month y=new_mrr,expansion_mrr,reactivation_mrr,contraction_mrr,churned_mrr
-- From the billing export (subscription_items) through mrr_ledger: ChartMogul's
-- rules, every currency converted to USD with fx_rates. The months are the
-- report_months model's (months with product events), the first one left out
-- (its movements start before the window).
WITH monthly AS (
    SELECT month,
           sum(new_mrr) AS new_mrr,
           sum(expansion_mrr) AS expansion_mrr,
           sum(reactivation_mrr) AS reactivation_mrr,
           sum(contraction_mrr) AS contraction_mrr,
           sum(churn_mrr) AS churned_mrr,
           count(*) FILTER (WHERE movement = 'new') AS new_customers,
           count(*) FILTER (WHERE movement = 'churn') AS churned_customers
    FROM mrr_ledger('subscription_items')
    WHERE month > (SELECT CAST(min(month) AS DATE) FROM report_months)
      AND month <= (SELECT CAST(max(month) AS DATE) FROM report_months)
    GROUP BY month
)
SELECT month,
       round(new_mrr, 2) AS new_mrr,
       round(expansion_mrr, 2) AS expansion_mrr,
       round(reactivation_mrr, 2) AS reactivation_mrr,
       round(contraction_mrr, 2) AS contraction_mrr,
       round(churned_mrr, 2) AS churned_mrr,
       new_customers,
       churned_customers,
       round(quick_ratio(new_mrr, expansion_mrr, reactivation_mrr, contraction_mrr, churned_mrr), 2) AS quick_ratio
FROM monthly
ORDER BY month;
