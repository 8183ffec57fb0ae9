-- saasql overview: one headline number per metric area, over the bundled data.
WITH months AS (
    SELECT DISTINCT date_trunc('month', event_time) AS month FROM events
),
last_month AS (
    SELECT max(month) AS month FROM months
),
current_mrr AS (
    SELECT s.customer_id, sum(to_mrr(s.amount, s.billing_interval)) AS mrr
    FROM subscriptions s, last_month m
    WHERE s.started_at <= m.month AND (s.ended_at IS NULL OR s.ended_at > m.month)
    GROUP BY s.customer_id
),
lifetimes AS (
    SELECT customer_id, min(started_at) AS started_at,
           CASE WHEN count(*) FILTER (WHERE ended_at IS NULL) > 0 THEN NULL ELSE max(ended_at) END AS ended_at
    FROM subscriptions
    GROUP BY customer_id
),
engagement AS (
    SELECT customer_id, engagement_score(event_name) AS score
    FROM events, (SELECT max(event_time) AS t FROM events) l
    WHERE event_time >= l.t - INTERVAL '30 days'
    GROUP BY customer_id
)
SELECT metric, value FROM (
SELECT 1 AS ord, 'customers' AS metric, CAST(count(*) AS DOUBLE) AS value FROM customers
UNION ALL
SELECT 2, 'paying customers (latest month)', CAST(count(*) AS DOUBLE) FROM current_mrr
UNION ALL
SELECT 3, 'MRR (latest month)', round(sum(mrr), 2) FROM current_mrr
UNION ALL
SELECT 4, 'ARPA (latest month)', round(arpa(mrr, customer_id), 2) FROM current_mrr
UNION ALL
SELECT 5, 'customer churn % (latest full month)', round(churn_rate(l.started_at, l.ended_at, m.month - INTERVAL '1 month', m.month), 2)
FROM lifetimes l, last_month m
UNION ALL
SELECT 6, 'average engagement score (30 days)', round(avg(score), 1) FROM engagement
UNION ALL
SELECT 7, 'power users (30 days)', CAST(count(*) FILTER (WHERE engagement_tier(score) = 'power_user') AS DOUBLE) FROM engagement
UNION ALL
SELECT 8, 'NPS', round(nps(score), 1) FROM surveys WHERE kind = 'nps'
UNION ALL
SELECT 9, 'CSAT %', round(csat(score), 1) FROM surveys WHERE kind = 'csat'
UNION ALL
SELECT 10, 'customer effort (1-7)', round(customer_effort_score(score), 2) FROM surveys WHERE kind = 'ces'
UNION ALL
SELECT 11, 'DAU/MAU % (latest month)', round(stickiness(user_id, event_time), 2)
FROM events, last_month m WHERE event_time >= m.month
UNION ALL
SELECT 12, 'first-contact resolution %', round(first_contact_resolution(resolved_on_first_contact), 1) FROM tickets
UNION ALL
SELECT 13, 'avg resolution time (hours)', round(avg_resolution_time(opened_at, resolved_at) / 60, 1) FROM tickets
)
ORDER BY ord;
