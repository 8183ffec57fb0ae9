-- saasql overview: one headline number per metric area, over the bundled data.
-- chart: kpi x=metric y=value
-- report_months, mrr_by_month and customer_lifetimes are models (models/).
WITH last_month AS (
    SELECT max(month) AS month FROM report_months
),
current_mrr AS (
    SELECT r.customer_id, r.mrr
    FROM mrr_by_month r, last_month m
    WHERE r.month = m.month
),
engagement AS (
    SELECT customer_id, engagement_score(event_name) AS score
    FROM events, (SELECT max(event_time) AS t FROM events) l
    WHERE event_time >= l.t - INTERVAL '30 days'
    GROUP BY customer_id
)
-- `value` is text, formatted per metric: counts as integers (`300`), the other
-- metrics with the decimals they are rounded to (`71943.65`). The metrics have
-- different types, so one DOUBLE column printed every count as `300.0`, and
-- separate typed count and value columns would leave half of every row NULL in
-- the table people read. A cast to text keeps each number's digits exactly as
-- computed; read `value` as a number (every row parses as one) when you need it.
SELECT metric, value FROM (
SELECT 1 AS ord, 'customers' AS metric, CAST(count(*) AS VARCHAR) AS value FROM customers
UNION ALL
SELECT 2, 'paying customers (latest month)', CAST(count(*) AS VARCHAR) FROM current_mrr
UNION ALL
SELECT 3, 'MRR (latest month)', CAST(round(sum(mrr), 2) AS VARCHAR) FROM current_mrr
UNION ALL
SELECT 4, 'ARPA (latest month)', CAST(round(arpa(mrr, customer_id), 2) AS VARCHAR) FROM current_mrr
UNION ALL
SELECT 5, 'customer churn % (latest full month)', CAST(round(churn_rate(l.started_at, l.ended_at, m.month - INTERVAL '1 month', m.month), 2) AS VARCHAR)
FROM customer_lifetimes l, last_month m
UNION ALL
SELECT 6, 'average engagement score (30 days)', CAST(round(avg(score), 1) AS VARCHAR) FROM engagement
UNION ALL
SELECT 7, 'power users (30 days)', CAST(count(*) FILTER (WHERE engagement_tier(score) = 'power_user') AS VARCHAR) FROM engagement
UNION ALL
SELECT 8, 'NPS', CAST(round(nps(score), 1) AS VARCHAR) FROM surveys WHERE kind = 'nps'
UNION ALL
SELECT 9, 'CSAT %', CAST(round(csat(score), 1) AS VARCHAR) FROM surveys WHERE kind = 'csat'
UNION ALL
SELECT 10, 'customer effort (1-7)', CAST(round(customer_effort_score(score), 2) AS VARCHAR) FROM surveys WHERE kind = 'ces'
UNION ALL
SELECT 11, 'DAU/MAU % (latest month)', CAST(round(stickiness(user_id, event_time), 2) AS VARCHAR)
FROM events, last_month m WHERE event_time >= m.month
UNION ALL
SELECT 12, 'first-contact resolution %', CAST(round(first_contact_resolution(resolved_on_first_contact), 1) AS VARCHAR) FROM tickets
UNION ALL
SELECT 13, 'avg resolution time (hours)', CAST(round(avg_resolution_time(opened_at, resolved_at) / 60, 1) AS VARCHAR) FROM tickets
)
ORDER BY ord;
