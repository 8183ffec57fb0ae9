-- DAU/MAU stickiness by month, overall and per plan.
-- chart: line x=month y=dau_mau_pct series=plan
SELECT CAST(date_trunc('month', e.event_time) AS DATE) AS month,
       c.plan,
       count(DISTINCT e.user_id) AS monthly_active_users,
       round(stickiness(e.user_id, e.event_time), 2) AS dau_mau_pct
FROM events e
JOIN customers c USING (customer_id)
GROUP BY GROUPING SETS ((date_trunc('month', e.event_time)), (date_trunc('month', e.event_time), c.plan))
ORDER BY month, c.plan NULLS FIRST;
