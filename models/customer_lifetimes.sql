-- Each customer's paying lifetime: from the start of their first subscription
-- to the end of their last one (ended_at NULL while any subscription runs).
-- The input of churn_rate.
SELECT customer_id,
       min(started_at) AS started_at,
       CASE WHEN count(*) FILTER (WHERE ended_at IS NULL) > 0 THEN NULL ELSE max(ended_at) END AS ended_at
FROM subscriptions
GROUP BY customer_id
