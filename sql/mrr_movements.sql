-- MRR movements per month: new, expansion, contraction, churn, reactivation,
-- with the MRR each moved, and the month's SaaS quick ratio.
-- chart: bar x=month y=new_mrr,expansion_mrr,reactivation_mrr,contraction_mrr,churned_mrr
-- report_months and mrr_by_month are models (models/): the months with events,
-- and each customer's MRR at each month's start.
WITH grid AS (      -- every paying customer in every month, 0 when not paying
    SELECT m.month, c.customer_id, coalesce(x.mrr, 0) AS mrr
    FROM report_months m
    CROSS JOIN (SELECT DISTINCT customer_id FROM subscriptions) c
    LEFT JOIN mrr_by_month x ON x.month = m.month AND x.customer_id = c.customer_id
),
moves AS (
    SELECT month, customer_id, mrr,
           mrr - coalesce(lag(mrr) OVER (PARTITION BY customer_id ORDER BY month), 0) AS delta,
           mrr_movement(mrr, month) OVER (PARTITION BY customer_id ORDER BY month) AS movement
    FROM grid
),
monthly AS (
    SELECT month,
           sum(delta) FILTER (WHERE movement = 'new') AS new_mrr,
           sum(delta) FILTER (WHERE movement = 'expansion') AS expansion_mrr,
           sum(delta) FILTER (WHERE movement = 'reactivation') AS reactivation_mrr,
           -sum(delta) FILTER (WHERE movement = 'contraction') AS contraction_mrr,
           -sum(delta) FILTER (WHERE movement = 'churn') AS churned_mrr,
           count(*) FILTER (WHERE movement = 'new') AS new_customers,
           count(*) FILTER (WHERE movement = 'churn') AS churned_customers
    FROM moves
    WHERE month > (SELECT min(month) FROM report_months)
    GROUP BY month
)
SELECT CAST(month AS DATE) AS month,
       round(coalesce(new_mrr, 0), 2) AS new_mrr,
       round(coalesce(expansion_mrr, 0), 2) AS expansion_mrr,
       round(coalesce(reactivation_mrr, 0), 2) AS reactivation_mrr,
       round(coalesce(contraction_mrr, 0), 2) AS contraction_mrr,
       round(coalesce(churned_mrr, 0), 2) AS churned_mrr,
       new_customers,
       churned_customers,
       round(quick_ratio(coalesce(new_mrr, 0), coalesce(expansion_mrr, 0), coalesce(reactivation_mrr, 0),
                         coalesce(contraction_mrr, 0), coalesce(churned_mrr, 0)), 2) AS quick_ratio
FROM monthly
ORDER BY month;
