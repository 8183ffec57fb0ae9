-- Subscription items in the canonical shape mrr_ledger reads, from Stripe's
-- subscriptions, subscription_items, prices and coupons tables (Stripe Sigma
-- and Stripe Data Pipeline column names, saved here as stripe_*), one row per
-- item of each subscription:
--   amount: the price's unit_amount (an integer in the currency's minor
--     unit, cents) ÷ 100 (for zero-decimal currencies such as JPY, drop the
--     ÷ 100); quantity: the item's (a metered item has none: 1);
--   billing_interval / interval_count: the price's recurring interval;
--   started_at: start_date (a trial's start), trial_end, canceled_at (when
--     cancellation was requested) and ended_at as Stripe records them;
--   discounts: the subscription's coupon (percent_off, or amount_off in
--     minor units), applied to the licensed items, not to usage; Stripe
--     keeps a discount's end only for a `repeating` coupon, so a `once`
--     coupon ends one billing interval after it started and a `forever`
--     coupon never ends;
--   metered: the price's usage type is 'metered' (this example bills usage
--     as one unit a month; with usage records, sum them per month);
--   plan: the nickname of the subscription's licensed price;
--   customer_id: the product's account id, which this team keeps in the
--     Stripe customer's metadata (key account_id).
WITH items AS (
    SELECT si.subscription_id, si.quantity, p.nickname, p.unit_amount, p.currency,
           p.recurring_interval, p.recurring_interval_count,
           p.recurring_usage_type = 'metered' AS metered
    FROM stripe_subscription_items si
    JOIN stripe_prices p ON p.id = si.price_id
),
plans AS (
    SELECT subscription_id, max(nickname) AS plan
    FROM items WHERE NOT metered GROUP BY subscription_id
)
SELECT CAST(m.value AS BIGINT) AS customer_id,
       s.id AS subscription_id,
       pl.plan,
       s.start_date AS started_at,
       s.ended_at,
       s.canceled_at,
       s.trial_end,
       i.unit_amount / 100.0 AS amount,
       coalesce(i.quantity, 1) AS quantity,
       upper(i.currency) AS currency,
       i.recurring_interval AS billing_interval,
       i.recurring_interval_count AS interval_count,
       CASE WHEN NOT i.metered THEN c.percent_off END AS discount_percent,
       CASE WHEN NOT i.metered THEN c.amount_off / 100.0 END AS discount_amount,
       CASE WHEN NOT i.metered THEN
           CASE c.duration
               WHEN 'repeating' THEN s.discount_end
               WHEN 'once' THEN s.discount_start + CAST(CAST(i.recurring_interval_count AS VARCHAR)
                                                        || ' ' || i.recurring_interval AS INTERVAL)
           END
       END AS discount_end,
       i.metered
FROM stripe_subscriptions s
JOIN items i ON i.subscription_id = s.id
LEFT JOIN plans pl ON pl.subscription_id = s.id
LEFT JOIN stripe_coupons c ON c.id = s.discount_coupon_id
JOIN stripe_customers_metadata m ON m.customer_id = s.customer_id AND m.key = 'account_id'
