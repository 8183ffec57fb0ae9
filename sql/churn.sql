-- Monthly customer churn (ChartMogul convention) and MRR churn.
-- chart: line x=month y=customer_churn_pct,mrr_churn_pct
WITH months AS (
    SELECT DISTINCT date_trunc('month', event_time) AS month FROM events
),
lifetimes AS ( -- a customer is active from their first subscription to the end of their last one
    SELECT customer_id,
           min(started_at) AS started_at,
           CASE WHEN count(*) FILTER (WHERE ended_at IS NULL) > 0 THEN NULL ELSE max(ended_at) END AS ended_at
    FROM subscriptions
    GROUP BY customer_id
),
mrr AS (       -- MRR of every customer at the start of every month
    SELECT m.month, s.customer_id, sum(to_mrr(s.amount, s.billing_interval)) AS mrr
    FROM months m
    JOIN subscriptions s ON s.started_at <= m.month AND (s.ended_at IS NULL OR s.ended_at > m.month)
    GROUP BY m.month, s.customer_id
),
customer_churn AS (
    SELECT m.month, churn_rate(l.started_at, l.ended_at, m.month, m.month + INTERVAL '1 month') AS churn_pct
    FROM lifetimes l CROSS JOIN months m
    GROUP BY m.month
),
mrr_churn AS (
    SELECT s.month, mrr_churn_rate(s.mrr, e.mrr) AS mrr_churn_pct
    FROM mrr s
    LEFT JOIN mrr e ON e.customer_id = s.customer_id AND e.month = s.month + INTERVAL '1 month'
    WHERE s.month + INTERVAL '1 month' IN (SELECT month FROM months)
    GROUP BY s.month
)
SELECT CAST(c.month AS DATE) AS month,
       round(c.churn_pct, 2) AS customer_churn_pct,
       round(r.mrr_churn_pct, 2) AS mrr_churn_pct
FROM customer_churn c
LEFT JOIN mrr_churn r USING (month)
ORDER BY month;
