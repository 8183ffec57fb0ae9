-- Why does our dashboard disagree with Stripe? The same customers' monthly churn by
-- each vendor's published formula (see `\h churn_rate` and `\h mrr_churn_rate`):
-- ChartMogul and ProfitWell divide the churned by the customers at the start of the
-- calendar month and leave out those who joined and churned within it; Stripe and
-- Baremetrics look at the 30 days before the month's end, Stripe adding the month's
-- joiners to the denominator, Baremetrics counting their churn but not them. For MRR,
-- ChartMogul and Baremetrics count contraction as churn; Stripe and ProfitWell count
-- the MRR of customers who left only.
-- chart: line x=month y=chartmogul_pct,stripe_pct,baremetrics_pct,profitwell_pct
-- The models report_months, customer_lifetimes and mrr_by_month (models/) hold
-- the months, each customer's paying lifetime and MRR at each month's start.
WITH customer_churn AS (
    SELECT m.month,
           churn_rate(l.started_at, l.ended_at, m.month, m.month + INTERVAL '1 month', 'chartmogul') AS chartmogul,
           churn_rate(l.started_at, l.ended_at, m.month, m.month + INTERVAL '1 month', 'stripe') AS stripe,
           churn_rate(l.started_at, l.ended_at, m.month, m.month + INTERVAL '1 month', 'baremetrics') AS baremetrics,
           churn_rate(l.started_at, l.ended_at, m.month, m.month + INTERVAL '1 month', 'profitwell') AS profitwell,
           churn_rate_breakdown(l.started_at, l.ended_at, m.month, m.month + INTERVAL '1 month') AS cm,
           churn_rate_breakdown(l.started_at, l.ended_at, m.month, m.month + INTERVAL '1 month', 'stripe') AS st
    FROM customer_lifetimes l CROSS JOIN report_months m
    GROUP BY m.month
),
mrr_churn AS (
    SELECT s.month,
           mrr_churn_rate(s.mrr, e.mrr, 'chartmogul') AS chartmogul,
           mrr_churn_rate(s.mrr, e.mrr, 'stripe') AS stripe
    FROM mrr_by_month s
    LEFT JOIN mrr_by_month e ON e.customer_id = s.customer_id AND e.month = s.month + INTERVAL '1 month'
    WHERE s.month + INTERVAL '1 month' IN (SELECT month FROM report_months)
    GROUP BY s.month
)
SELECT CAST(c.month AS DATE) AS month,
       round(c.chartmogul, 2) AS chartmogul_pct,
       round(c.stripe, 2) AS stripe_pct,
       round(c.baremetrics, 2) AS baremetrics_pct,
       round(c.profitwell, 2) AS profitwell_pct,
       round(c.stripe - c.chartmogul, 2) AS stripe_minus_chartmogul,
       -- the counts behind the first two (churn_rate_breakdown)
       c.cm['numerator'] AS chartmogul_churned,
       c.cm['denominator'] AS chartmogul_at_start,
       c.cm['excluded_joined'] AS chartmogul_excluded_joiners,
       c.st['numerator'] AS stripe_churned,
       c.st['denominator'] AS stripe_denominator,
       round(r.chartmogul, 2) AS mrr_chartmogul_pct,
       round(r.stripe, 2) AS mrr_stripe_pct
FROM customer_churn c
LEFT JOIN mrr_churn r USING (month)
ORDER BY month;
