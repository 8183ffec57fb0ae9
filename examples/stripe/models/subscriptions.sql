-- Subscriptions in the shape the reports read, from Stripe's `subscriptions`,
-- `subscription_items` and `prices` tables (Stripe Sigma / Data Pipeline
-- names), one row per subscription item:
--   amount: the price's unit_amount (an integer in the currency's minor unit,
--     cents) × quantity ÷ 100 (for zero-decimal currencies such as JPY, drop
--     the ÷ 100); currency in upper case;
--   billing_interval: the price's recurring_interval; every 3 months is
--     'quarter' (to_mrr knows month, quarter and year);
--   customer_id: the product's account id, which this team keeps in the
--     Stripe customer's metadata (key account_id);
--   subscription_id: Stripe's id (text; no report reads it);
--   started_at / ended_at: start_date and ended_at (NULL while it runs).
-- This model replaces the `subscriptions` export it reads.
SELECT s.id AS subscription_id,
       CAST(m.value AS BIGINT) AS customer_id,
       p.nickname AS plan,
       CASE
           WHEN p.recurring_interval = 'month' AND p.recurring_interval_count = 3 THEN 'quarter'
           WHEN p.recurring_interval_count = 1 THEN p.recurring_interval
       END AS billing_interval,
       p.unit_amount * si.quantity / 100.0 AS amount,
       upper(p.currency) AS currency,
       s.start_date AS started_at,
       s.ended_at
FROM subscriptions s
JOIN subscription_items si ON si.subscription_id = s.id
JOIN prices p ON p.id = si.price_id
JOIN customers_metadata m ON m.customer_id = s.customer_id AND m.key = 'account_id'
