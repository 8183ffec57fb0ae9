-- Net and gross revenue retention, month over month and over the whole window.
-- chart: none
WITH months AS (
    SELECT DISTINCT date_trunc('month', event_time) AS month FROM events
),
mrr AS (
    SELECT m.month, s.customer_id, sum(to_mrr(s.amount, s.billing_interval)) AS mrr
    FROM months m
    JOIN subscriptions s ON s.started_at <= m.month AND (s.ended_at IS NULL OR s.ended_at > m.month)
    GROUP BY m.month, s.customer_id
),
monthly AS (
    SELECT 'month over month' AS span,
           CAST(s.month AS DATE) AS period_start,
           CAST(s.month + INTERVAL '1 month' AS DATE) AS period_end,
           net_revenue_retention(s.mrr, e.mrr) AS nrr,
           gross_revenue_retention(s.mrr, e.mrr) AS grr
    FROM mrr s
    LEFT JOIN mrr e ON e.customer_id = s.customer_id AND e.month = s.month + INTERVAL '1 month'
    WHERE s.month + INTERVAL '1 month' IN (SELECT month FROM months)
    GROUP BY s.month
),
whole AS (
    SELECT 'whole window' AS span,
           CAST(s.month AS DATE) AS period_start,
           CAST(e_month.month AS DATE) AS period_end,
           net_revenue_retention(s.mrr, e.mrr) AS nrr,
           gross_revenue_retention(s.mrr, e.mrr) AS grr
    FROM mrr s
    CROSS JOIN (SELECT max(month) AS month FROM months) e_month
    LEFT JOIN mrr e ON e.customer_id = s.customer_id AND e.month = e_month.month
    WHERE s.month = (SELECT min(month) FROM months)
    GROUP BY s.month, e_month.month
)
SELECT span, period_start, period_end, round(nrr, 2) AS nrr_pct, round(grr, 2) AS grr_pct
FROM (SELECT * FROM monthly UNION ALL SELECT * FROM whole)
ORDER BY span, period_start;
