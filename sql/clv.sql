-- Predictive customer lifetime value (BG/NBD + Gamma-Gamma) by plan.
-- Paid invoices are the purchases, observed up to the end of the window;
-- rfm summarises each customer in weeks, bgnbd_fit and gamma_gamma_fit fit
-- the two models over all customers, and each customer gets the probability
-- of still paying, the payments expected over the next 52 weeks and the value
-- of the next 12 months discounted at 1 % a month. Amounts are in invoice
-- currency units, as in the other reports.

-- The fitted models.
WITH summaries AS (
    SELECT rfm(paid_at, amount, TIMESTAMP '2025-06-30 00:00:00') AS s
    FROM invoices WHERE status = 'paid'
    GROUP BY customer_id
),
models AS (
    SELECT bgnbd_fit(s['frequency'], s['recency'], s['t']) FILTER (WHERE s['t'] > 0) AS bg,
           gamma_gamma_fit(s['frequency'], s['monetary']) AS gg
    FROM summaries
)
SELECT round(bg['r'], 3) AS r, round(bg['alpha'], 3) AS alpha, round(bg['a'], 3) AS a,
       round(bg['b'], 3) AS b, bg['customers'] AS customers, bg['converged'] AS bgnbd_converged,
       round(gg['p'], 3) AS p, round(gg['q'], 3) AS q, round(gg['v'], 3) AS v,
       gg['customers'] AS repeat_buyers, gg['converged'] AS gamma_gamma_converged
FROM models;

-- Per plan (the customer's latest plan).
WITH summaries AS (
    SELECT customer_id, rfm(paid_at, amount, TIMESTAMP '2025-06-30 00:00:00') AS s
    FROM invoices WHERE status = 'paid'
    GROUP BY customer_id
),
history AS (
    SELECT customer_id, s['frequency'] AS frequency, s['recency'] AS recency, s['t'] AS t,
           s['monetary'] AS monetary
    FROM summaries
),
models AS (
    SELECT bgnbd_fit(frequency, recency, t) FILTER (WHERE t > 0) AS bg,
           gamma_gamma_fit(frequency, monetary) AS gg
    FROM history
),
predictions AS (
    SELECT c.plan,
           bgnbd_p_alive(m.bg, r.frequency, r.recency, r.t) AS p_alive,
           bgnbd_expected_purchases(m.bg, 52, r.frequency, r.recency, r.t) AS payments_52w,
           predicted_clv(m.bg, m.gg, r.frequency, r.recency, r.t, r.monetary, 12, 0.01) AS clv_12m
    FROM history r JOIN customers c USING (customer_id) CROSS JOIN models m
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
