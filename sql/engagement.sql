-- Engagement scores and tiers by plan.
-- One engagement score per customer over their last 30 days of product events,
-- then how many customers of each plan sit in each engagement tier.
WITH recent AS (
    SELECT customer_id, event_name
    FROM events
    WHERE event_time >= (SELECT max(event_time) FROM events) - INTERVAL '30 days'
),
scores AS (
    SELECT customer_id,
           engagement_score(
               event_name,
               'login:1, report_created:5, export_csv:2, integration_connected:8, teammate_invited:10, ticket_opened:-2'
           ) AS score
    FROM recent
    GROUP BY customer_id
)
SELECT c.plan,
       engagement_tier(s.score) AS tier,
       count(*) AS customers,
       round(avg(s.score), 1) AS avg_score
FROM scores s
JOIN customers c USING (customer_id)
GROUP BY c.plan, engagement_tier(s.score)
ORDER BY c.plan, min(s.score);
