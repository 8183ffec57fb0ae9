-- Lifetime value by plan: ARPA of the latest month, average monthly customer
-- churn over the window, and LTV at an 80 % gross margin with a 1 % churn floor.
SET saasql.ltv_churn_floor = 1;

-- chart: bar x=plan y=ltv
-- report_months, mrr_by_month and customer_lifetimes are models (models/); a
-- customer's plan is the one in customers.
WITH latest_mrr AS (
    SELECT c.plan, r.customer_id, r.mrr
    FROM mrr_by_month r JOIN customers c USING (customer_id)
    WHERE r.month = (SELECT max(month) FROM report_months)
),
lifetimes AS (
    SELECT l.customer_id, c.plan, l.started_at, l.ended_at
    FROM customer_lifetimes l JOIN customers c USING (customer_id)
),
monthly_churn AS (
    SELECT l.plan, m.month, churn_rate(l.started_at, l.ended_at, m.month, m.month + INTERVAL '1 month') AS churn_pct
    FROM lifetimes l CROSS JOIN report_months m
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
