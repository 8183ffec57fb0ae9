-- Customer cohort retention, the classic triangle: of the customers who signed
-- up in each of the six months up to $as_of (the end of the window: by
-- default midnight after the last event, saasql.toml [params]), the
-- percentage with any product event in each calendar month after sign-up
-- (m0 = the sign-up month itself). Months that had not ended at $as_of are
-- NULL, not 0. `ever_after` columns count customers active in that month or
-- any later one (unbounded).
WITH cohorts AS (
    SELECT CAST(date_trunc('month', c.signed_up_at) AS DATE) AS cohort,
           count(DISTINCT c.customer_id) AS customers,
           retention(c.customer_id, c.signed_up_at, e.event_time, 'month', 6,
                     'bounded', CAST($as_of AS TIMESTAMP)) AS active,
           retention(c.customer_id, c.signed_up_at, e.event_time, 'month', 6,
                     'unbounded', CAST($as_of AS TIMESTAMP)) AS ever_after
    FROM customers c
    LEFT JOIN events e USING (customer_id)
    WHERE c.signed_up_at >= date_trunc('month', CAST($as_of AS TIMESTAMP) - INTERVAL '1 day') - INTERVAL '5 months'
    GROUP BY 1
)
SELECT cohort,
       customers,
       round(active[1], 1) AS m0,
       round(active[2], 1) AS m1,
       round(active[3], 1) AS m2,
       round(active[4], 1) AS m3,
       round(active[5], 1) AS m4,
       round(active[6], 1) AS m5,
       round(ever_after[2], 1) AS m1_ever_after,
       round(ever_after[4], 1) AS m3_ever_after
FROM cohorts
ORDER BY cohort;
