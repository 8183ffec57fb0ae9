-- Lifetime value by plan: ARPA of the latest month, average monthly customer
-- churn over the window, and LTV at an 80 % gross margin with a 1 % churn floor.
SET saasql.ltv_churn_floor = 1;

-- chart: bar x=plan y=ltv
WITH months AS (
    SELECT DISTINCT date_trunc('month', event_time) AS month FROM events
),
subs AS (
    SELECT s.*, c.plan AS customer_plan FROM subscriptions s JOIN customers c USING (customer_id)
),
latest_mrr AS (
    SELECT s.customer_plan AS plan, s.customer_id, sum(to_mrr(s.amount, s.billing_interval)) AS mrr
    FROM subs s, (SELECT max(month) AS month FROM months) m
    WHERE s.started_at <= m.month AND (s.ended_at IS NULL OR s.ended_at > m.month)
    GROUP BY s.customer_plan, s.customer_id
),
lifetimes AS (
    SELECT customer_id, min(customer_plan) AS plan, min(started_at) AS started_at,
           CASE WHEN count(*) FILTER (WHERE ended_at IS NULL) > 0 THEN NULL ELSE max(ended_at) END AS ended_at
    FROM subs
    GROUP BY customer_id
),
monthly_churn AS (
    SELECT l.plan, m.month, churn_rate(l.started_at, l.ended_at, m.month, m.month + INTERVAL '1 month') AS churn_pct
    FROM lifetimes l CROSS JOIN months m
    GROUP BY l.plan, m.month
),
by_plan AS (
    SELECT a.plan, a.arpa, c.churn_pct
    FROM (SELECT plan, arpa(mrr, customer_id) AS arpa, count(*) AS customers FROM latest_mrr GROUP BY plan) a
    JOIN (SELECT plan, avg(churn_pct) AS churn_pct FROM monthly_churn GROUP BY plan) c USING (plan)
)
SELECT plan,
       round(arpa, 2) AS arpa,
       round(churn_pct, 2) AS monthly_churn_pct,
       -- LTV in whole currency units: a BIGINT prints as 773, not 773.0.
       CAST(round(ltv(arpa, churn_pct, 80), 0) AS BIGINT) AS ltv
FROM by_plan
ORDER BY arpa;
