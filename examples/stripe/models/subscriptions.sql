-- Subscriptions in the shape the reports read, from the subscription_items
-- model (Stripe's billing tables in the canonical item shape): one row per
-- subscription that was paid for, from its licensed (not metered) items:
--   amount: the items' amount × quantity per billing interval, summed
--     (Stripe bills every item of a subscription on one interval);
--   billing_interval: every 3 months is 'quarter' (to_mrr knows month,
--     quarter and year);
--   started_at: when it was first paid for (a trial's end; a trial that
--     ended without converting is not a subscription here);
--   subscription_id: Stripe's id (text; no report reads it).
SELECT subscription_id,
       customer_id,
       plan,
       CASE
           WHEN billing_interval = 'month' AND interval_count = 3 THEN 'quarter'
           WHEN interval_count = 1 THEN billing_interval
       END AS billing_interval,
       sum(amount * quantity) AS amount,
       currency,
       min(coalesce(trial_end, started_at)) AS started_at,
       ended_at
FROM subscription_items
WHERE NOT metered
  AND (trial_end IS NULL OR ended_at IS NULL OR ended_at > trial_end)
GROUP BY subscription_id, customer_id, plan, billing_interval, interval_count, currency, ended_at
