-- MRR movements per month: new, expansion, contraction, churn, reactivation,
-- with the MRR each moved, and the month's SaaS quick ratio.
-- chart: bar x=month y=new_mrr,expansion_mrr,reactivation_mrr,contraction_mrr,churned_mrr
WITH months AS (
    SELECT DISTINCT date_trunc('month', event_time) AS month FROM events
),
mrr AS (
    SELECT m.month, s.customer_id, sum(to_mrr(s.amount, s.billing_interval)) AS mrr
    FROM months m
    JOIN subscriptions s ON s.started_at <= m.month AND (s.ended_at IS NULL OR s.ended_at > m.month)
    GROUP BY m.month, s.customer_id
),
grid AS (      -- every paying customer in every month, 0 when not paying
    SELECT m.month, c.customer_id, coalesce(x.mrr, 0) AS mrr
    FROM months m
    CROSS JOIN (SELECT DISTINCT customer_id FROM subscriptions) c
    LEFT JOIN mrr x ON x.month = m.month AND x.customer_id = c.customer_id
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
    WHERE month > (SELECT min(month) FROM months)
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
