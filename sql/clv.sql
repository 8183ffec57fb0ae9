-- Predictive customer lifetime value (BG/NBD + Gamma-Gamma) by plan.
-- Paid invoices are the purchases, observed up to $as_of (the end of the
-- window: by default midnight after the last event, saasql.toml [params]);
-- rfm summarises each customer in weeks. bgnbd_fit fits one purchase model
-- over all customers; gamma_gamma_fit fits one spend model per plan (the
-- customer's latest plan): pooled over plans, the spends are so spread out
-- that the fit has q < 1, with no population mean to shrink towards. A
-- subscription's invoices all have the same amount, so each plan's fit puts
-- almost all weight on the customer's own mean (large p). Each customer then
-- gets the probability of still paying, the payments expected over the next
-- 52 weeks and the value of the next 12 months discounted at 1 % a month.
-- Amounts are in invoice currency units, as in the other reports.

-- The fitted models: one BG/NBD row, then one Gamma-Gamma row per plan.
WITH history AS (
    SELECT c.plan, rfm(i.paid_at, i.amount, CAST($as_of AS TIMESTAMP)) AS s
    FROM invoices i JOIN customers c USING (customer_id)
    WHERE i.status = 'paid'
    GROUP BY i.customer_id, c.plan
),
bg AS (
    SELECT bgnbd_fit(s['frequency'], s['recency'], s['t']) FILTER (WHERE s['t'] > 0) AS m FROM history
),
gg AS (
    SELECT plan, gamma_gamma_fit(s['frequency'], s['monetary']) AS m FROM history GROUP BY plan
)
SELECT 'bgnbd (all plans)' AS model,
       'r ' || round(m['r'], 3) || ', alpha ' || round(m['alpha'], 3) || ', a ' || round(m['a'], 3)
           || ', b ' || round(m['b'], 3) AS estimates,
       m['customers'] AS customers, m['converged'] AS converged
FROM bg
UNION ALL
SELECT 'gamma_gamma (' || plan || ')',
       'p ' || CAST(round(m['p'], 0) AS BIGINT) || ', q ' || round(m['q'], 3) || ', v ' || round(m['v'], 6),
       m['customers'], m['converged']
FROM gg
ORDER BY model;

-- Per plan.
WITH summaries AS (
    SELECT i.customer_id, c.plan, rfm(i.paid_at, i.amount, CAST($as_of AS TIMESTAMP)) AS s
    FROM invoices i JOIN customers c USING (customer_id)
    WHERE i.status = 'paid'
    GROUP BY i.customer_id, c.plan
),
history AS (
    SELECT customer_id, plan, s['frequency'] AS frequency, s['recency'] AS recency, s['t'] AS t,
           s['monetary'] AS monetary
    FROM summaries
),
bg AS (
    SELECT bgnbd_fit(frequency, recency, t) FILTER (WHERE t > 0) AS m FROM history
),
gg AS (
    SELECT plan, gamma_gamma_fit(frequency, monetary) AS m FROM history GROUP BY plan
),
predictions AS (
    SELECT h.plan,
           bgnbd_p_alive(bg.m, h.frequency, h.recency, h.t) AS p_alive,
           bgnbd_expected_purchases(bg.m, 52, h.frequency, h.recency, h.t) AS payments_52w,
           predicted_clv(bg.m, gg.m, h.frequency, h.recency, h.t, h.monetary, 12, 0.01) AS clv_12m
    FROM history h JOIN gg USING (plan) CROSS JOIN bg
)
SELECT plan,
       count(*) AS customers,
       round(avg(p_alive), 3) AS avg_p_alive,
       round(avg(payments_52w), 2) AS avg_payments_52w,
       round(avg(clv_12m), 2) AS avg_clv_12m,
       CAST(round(sum(clv_12m), 0) AS BIGINT) AS total_clv_12m
FROM predictions
GROUP BY plan
ORDER BY avg_clv_12m;
