-- Monthly customer churn (ChartMogul convention) and MRR churn.
-- chart: line x=month y=customer_churn_pct,mrr_churn_pct
-- The models report_months, customer_lifetimes and mrr_by_month (models/) hold
-- the months, each customer's paying lifetime and MRR at each month's start.
WITH customer_churn AS (
    SELECT m.month, churn_rate(l.started_at, l.ended_at, m.month, m.month + INTERVAL '1 month') AS churn_pct
    FROM customer_lifetimes l CROSS JOIN report_months m
    GROUP BY m.month
),
mrr_churn AS (
    SELECT s.month, mrr_churn_rate(s.mrr, e.mrr) AS mrr_churn_pct
    FROM mrr_by_month s
    LEFT JOIN mrr_by_month e ON e.customer_id = s.customer_id AND e.month = s.month + INTERVAL '1 month'
    WHERE s.month + INTERVAL '1 month' IN (SELECT month FROM report_months)
    GROUP BY s.month
)
SELECT CAST(c.month AS DATE) AS month,
       round(c.churn_pct, 2) AS customer_churn_pct,
       round(r.mrr_churn_pct, 2) AS mrr_churn_pct
FROM customer_churn c
LEFT JOIN mrr_churn r USING (month)
ORDER BY month;
