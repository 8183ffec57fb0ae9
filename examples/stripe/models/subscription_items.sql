-- Subscription items in the canonical shape mrr_ledger reads, from Stripe's
-- subscriptions, subscription_items, prices and coupons tables (Stripe Sigma
-- and Stripe Data Pipeline column names, saved here as stripe_*), one row per
-- item of each subscription:
--   amount: the price's unit_amount (an integer in the currency's minor
--     unit, cents; unit_amount_decimal where a price has only that) ÷ 100
--     (for zero-decimal currencies such as JPY, drop both ÷ 100); tiered
--     prices have neither and need their own mapping; quantity: the item's
--     (a metered item has none: 1);
--   billing_interval / interval_count: the price's recurring interval;
--   started_at: the subscription's start_date (a trial's start), or the
--     item's creation when it was added later; trial_end, canceled_at (when
--     cancellation was requested) and ended_at as Stripe records them;
--   discounts: the subscription's coupon, percent_off on each licensed
--     item, amount_off (minor units) once per subscription, on its first
--     licensed item. This example's coupons apply to the plan, not to usage
--     (Stripe applies a coupon to every line unless its applies_to says
--     otherwise; customer-level and item-level discounts are not mapped).
--     Stripe keeps a discount's end only for a `repeating` coupon: a `once`
--     coupon here ends one billing interval after the first paid day (the
--     trial's end, if any), a `forever` coupon never;
--   metered: the price's usage type is 'metered' (this example bills usage
--     as one unit a month; with usage records, sum them per month);
--   plan: the nickname of the subscription's largest licensed price;
--   customer_id: the product's account id, which this team keeps in the
--     Stripe customer's metadata (key account_id).
-- Subscriptions whose first payment never went through (incomplete,
-- incomplete_expired) are left out. Stripe's tables hold each subscription
-- as it is now: an item removed, or a quantity or price changed, leaves no
-- trace here, so the ledger sees today's items over the whole history (an
-- upgrade shows no expansion). Invoice lines, or Stripe's history of
-- subscription changes, are where past states are.
WITH items AS (
    SELECT si.id AS item_id, si.subscription_id, si.quantity, si.created, p.nickname,
           coalesce(CAST(p.unit_amount AS DOUBLE), CAST(p.unit_amount_decimal AS DOUBLE)) AS unit_amount,
           p.currency, p.recurring_interval, p.recurring_interval_count,
           p.recurring_usage_type = 'metered' AS metered
    FROM stripe_subscription_items si
    JOIN stripe_prices p ON p.id = si.price_id
),
firsts AS (
    SELECT subscription_id,
           first_value(nickname ORDER BY unit_amount * coalesce(quantity, 1) DESC, nickname) AS plan,
           min(item_id) AS first_item
    FROM items WHERE NOT metered GROUP BY subscription_id
)
SELECT CAST(m.value AS BIGINT) AS customer_id,
       s.id AS subscription_id,
       f.plan,
       greatest(s.start_date, i.created) AS started_at,
       s.ended_at,
       s.canceled_at,
       s.trial_end,
       i.unit_amount / 100.0 AS amount,
       coalesce(i.quantity, 1) AS quantity,
       upper(i.currency) AS currency,
       i.recurring_interval AS billing_interval,
       i.recurring_interval_count AS interval_count,
       CASE WHEN NOT i.metered THEN c.percent_off END AS discount_percent,
       CASE WHEN i.item_id = f.first_item THEN c.amount_off / 100.0 END AS discount_amount,
       CASE WHEN c.percent_off IS NOT NULL AND NOT i.metered OR c.amount_off IS NOT NULL AND i.item_id = f.first_item THEN
           CASE c.duration
               WHEN 'repeating' THEN s.discount_end
               WHEN 'once' THEN greatest(s.discount_start, coalesce(s.trial_end, s.discount_start))
                                + CAST(CAST(i.recurring_interval_count AS VARCHAR) || ' ' || i.recurring_interval AS INTERVAL)
           END
       END AS discount_end,
       i.metered
FROM stripe_subscriptions s
JOIN items i ON i.subscription_id = s.id
LEFT JOIN firsts f ON f.subscription_id = s.id
LEFT JOIN stripe_coupons c ON c.id = s.discount_coupon_id
JOIN stripe_customers_metadata m ON m.customer_id = s.customer_id AND m.key = 'account_id'
WHERE s.status NOT IN ('incomplete', 'incomplete_expired')
