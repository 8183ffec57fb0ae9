-- Net and gross revenue retention, month over month and over the whole window.
-- chart: none
-- report_months and mrr_by_month are models (models/): the months with events,
-- and each customer's MRR at each month's start.
WITH monthly AS (
    SELECT 'month over month' AS span,
           CAST(s.month AS DATE) AS period_start,
           CAST(s.month + INTERVAL '1 month' AS DATE) AS period_end,
           net_revenue_retention(s.mrr, e.mrr) AS nrr,
           gross_revenue_retention(s.mrr, e.mrr) AS grr
    FROM mrr_by_month s
    LEFT JOIN mrr_by_month e ON e.customer_id = s.customer_id AND e.month = s.month + INTERVAL '1 month'
    WHERE s.month + INTERVAL '1 month' IN (SELECT month FROM report_months)
    GROUP BY s.month
),
whole AS (
    SELECT 'whole window' AS span,
           CAST(s.month AS DATE) AS period_start,
           CAST(e_month.month AS DATE) AS period_end,
           net_revenue_retention(s.mrr, e.mrr) AS nrr,
           gross_revenue_retention(s.mrr, e.mrr) AS grr
    FROM mrr_by_month s
    CROSS JOIN (SELECT max(month) AS month FROM report_months) e_month
    LEFT JOIN mrr_by_month e ON e.customer_id = s.customer_id AND e.month = e_month.month
    WHERE s.month = (SELECT min(month) FROM report_months)
    GROUP BY s.month, e_month.month
)
SELECT span, period_start, period_end, round(nrr, 2) AS nrr_pct, round(grr, 2) AS grr_pct
FROM (SELECT * FROM monthly UNION ALL SELECT * FROM whole)
ORDER BY span, period_start;
