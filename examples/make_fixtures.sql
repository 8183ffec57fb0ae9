-- Writes the example exports (examples/*/data/) from the bundled sample: the
-- first 20 customers, reshaped into each vendor's export columns. Run from the
-- repository root:
--   saasql --data data run examples/make_fixtures.sql
-- The tests compare every bundled report on each example (through its models)
-- with the same reports on the same customers in the canonical shape.

-- Segment: the warehouse `tracks` table (one row per track call; Segment names
-- events in Title Case, "Report Created") and `groups` (which account a user
-- belongs to; the latest group call wins, so some users also have an older one).
COPY (
    SELECT 'ajs-' || lpad(CAST(row_number() OVER (ORDER BY event_time, user_id, event_name) AS VARCHAR), 8, '0') AS id,
           'anon-' || CAST(user_id AS VARCHAR) AS anonymous_id,
           CAST(user_id AS VARCHAR) AS user_id,
           initcap(replace(event_name, '_', ' ')) AS event,
           initcap(replace(event_name, '_', ' ')) AS event_text,
           event_time AS "timestamp",
           event_time AS original_timestamp,
           event_time + INTERVAL '1 second' AS sent_at,
           event_time + INTERVAL '2 seconds' AS received_at,
           'analytics.js' AS context_library_name,
           '5.2.0' AS context_library_version
    FROM events WHERE customer_id <= 20
    UNION ALL
    -- Visitors who never signed in: no user_id, so no account.
    SELECT 'ajs-visitor-' || CAST(v AS VARCHAR), 'anon-visitor-' || CAST(v AS VARCHAR), NULL,
           'Pricing Viewed', 'Pricing Viewed', at, at AS original,
           at + INTERVAL '1 second', at + INTERVAL '2 seconds',
           'analytics.js', '5.2.0'
    -- Microseconds, as the other rows (and warehouse exports) have them.
    FROM (SELECT v, arrow_cast(at_ns, 'Timestamp(Microsecond, Some("UTC"))') AS at
          FROM (VALUES (1, TIMESTAMP '2025-03-01 10:00:00+00:00'), (2, TIMESTAMP '2025-03-01 11:00:00+00:00'),
                       (3, TIMESTAMP '2025-04-12 09:30:00+00:00'), (4, TIMESTAMP '2025-05-20 16:45:00+00:00'),
                       (5, TIMESTAMP '2025-06-02 08:15:00+00:00')) AS t(v, at_ns))
    ORDER BY "timestamp", id
) TO 'examples/segment/data/tracks.parquet' STORED AS PARQUET;

COPY (
    SELECT * FROM (
        SELECT 'grp-' || CAST(user_id AS VARCHAR) AS id,
               'anon-' || CAST(user_id AS VARCHAR) AS anonymous_id,
               CAST(user_id AS VARCHAR) AS user_id,
               CAST(customer_id AS VARCHAR) AS group_id,
               min(event_time) AS "timestamp",
               min(event_time) + INTERVAL '2 seconds' AS received_at
        FROM events WHERE customer_id <= 20
        GROUP BY user_id, customer_id
        UNION ALL
        -- An older group call (a trial workspace) that a later one replaced.
        SELECT 'grp-old-' || CAST(user_id AS VARCHAR), 'anon-' || CAST(user_id AS VARCHAR),
               CAST(user_id AS VARCHAR), '9999', min(event_time) - INTERVAL '30 days',
               min(event_time) - INTERVAL '30 days' + INTERVAL '2 seconds'
        FROM events WHERE customer_id <= 5
        GROUP BY user_id
    )
    ORDER BY user_id, "timestamp"
) TO 'examples/segment/data/groups.parquet' STORED AS PARQUET;

-- The Segment example's other tables, in the canonical shape.
COPY (SELECT * FROM customers WHERE customer_id <= 20 ORDER BY customer_id) TO 'examples/segment/data/customers.parquet' STORED AS PARQUET;
COPY (SELECT * FROM subscriptions WHERE customer_id <= 20 ORDER BY subscription_id) TO 'examples/segment/data/subscriptions.parquet' STORED AS PARQUET;
COPY (SELECT * FROM invoices WHERE customer_id <= 20 ORDER BY invoice_id) TO 'examples/segment/data/invoices.parquet' STORED AS PARQUET;
COPY (SELECT * FROM surveys WHERE customer_id <= 20 ORDER BY responded_at, user_id) TO 'examples/segment/data/surveys.parquet' STORED AS PARQUET;
COPY (SELECT * FROM tickets WHERE customer_id <= 20 ORDER BY ticket_id) TO 'examples/segment/data/tickets.parquet' STORED AS PARQUET;
-- The billing export in the canonical shape mrr_ledger reads.
COPY (SELECT * FROM subscription_items WHERE customer_id <= 20 ORDER BY customer_id, subscription_id, started_at, metered) TO 'examples/segment/data/subscription_items.parquet' STORED AS PARQUET;
COPY (SELECT * FROM fx_rates ORDER BY currency, month) TO 'examples/segment/data/fx_rates.parquet' STORED AS PARQUET;

-- Stripe: the billing tables as Stripe Sigma and Stripe Data Pipeline name
-- their columns (nested objects flattened with `_`: a subscription's
-- discount.coupon.id is discount_coupon_id), saved under a `stripe_` prefix
-- because two of Stripe's own names, subscriptions and subscription_items,
-- are canonical names and each mapping model reads both. Amounts are
-- integers in the currency's minor unit (cents), currencies lowercase, ids
-- Stripe-style text; Stripe has no quarterly interval (every 3 months is a
-- monthly interval with interval_count 3); a metered price's quantity is
-- NULL; the product's account id is in the customer's metadata (key
-- account_id). Everything comes from the canonical subscription_items: each
-- of its subscriptions is one Stripe subscription (a trial that never
-- converted is a subscription canceled at its trial's end).
COPY (
    SELECT CASE WHEN starts_with(subscription_id, 'sub_')
                THEN 'sub_' || lpad(substr(subscription_id, 5), 6, '0')
                ELSE 'sub_trial_' || lpad(substr(subscription_id, 7), 6, '0') END AS id,
           'cus_' || lpad(CAST(customer_id AS VARCHAR), 6, '0') AS customer_id,
           CASE WHEN ended_at IS NULL THEN 'active' ELSE 'canceled' END AS status,
           started_at AS created,
           started_at AS start_date,
           CASE WHEN trial_end IS NOT NULL THEN started_at END AS trial_start,
           trial_end,
           canceled_at,
           coalesce(canceled_at < ended_at, false) AS cancel_at_period_end,
           ended_at,
           CASE WHEN discount_percent IS NOT NULL OR discount_amount IS NOT NULL THEN
               'co_' || coalesce(CAST(CAST(discount_percent AS BIGINT) AS VARCHAR) || 'off',
                                 CAST(CAST(round(discount_amount * 100) AS BIGINT) AS VARCHAR) || lower(currency))
                     || '_' || CASE WHEN discount_end IS NULL THEN 'forever'
                                    WHEN discount_end = coalesce(trial_end, started_at) + INTERVAL '3 months'
                                    THEN 'repeating3' ELSE 'once' END
           END AS discount_coupon_id,
           -- When the coupon was applied: at creation (a trial's start).
           CASE WHEN discount_percent IS NOT NULL OR discount_amount IS NOT NULL
                THEN started_at END AS discount_start,
           -- Stripe sets a discount's end only for a repeating coupon.
           CASE WHEN discount_end = coalesce(trial_end, started_at) + INTERVAL '3 months'
                THEN discount_end END AS discount_end
    FROM subscription_items WHERE customer_id <= 20 AND NOT metered
    ORDER BY id
) TO 'examples/stripe/data/stripe_subscriptions.parquet' STORED AS PARQUET;

COPY (
    SELECT DISTINCT
           'co_' || coalesce(CAST(CAST(discount_percent AS BIGINT) AS VARCHAR) || 'off',
                             CAST(CAST(round(discount_amount * 100) AS BIGINT) AS VARCHAR) || lower(currency))
                 || '_' || CASE WHEN discount_end IS NULL THEN 'forever'
                                WHEN discount_end = coalesce(trial_end, started_at) + INTERVAL '3 months'
                                THEN 'repeating3' ELSE 'once' END AS id,
           discount_percent AS percent_off,
           CAST(round(discount_amount * 100) AS BIGINT) AS amount_off,
           CASE WHEN discount_amount IS NOT NULL THEN lower(currency) END AS currency,
           CASE WHEN discount_end IS NULL THEN 'forever'
                WHEN discount_end = coalesce(trial_end, started_at) + INTERVAL '3 months' THEN 'repeating'
                ELSE 'once' END AS duration,
           CASE WHEN discount_end = coalesce(trial_end, started_at) + INTERVAL '3 months'
                THEN CAST(3 AS BIGINT) END AS duration_in_months
    FROM subscription_items
    WHERE customer_id <= 20 AND NOT metered AND (discount_percent IS NOT NULL OR discount_amount IS NOT NULL)
    ORDER BY id
) TO 'examples/stripe/data/stripe_coupons.parquet' STORED AS PARQUET;

-- A metered add-on's price: this example bills it as one unit of usage a
-- month at the canonical amount.
COPY (
    SELECT 'si_' || lpad(CAST(row_number() OVER (ORDER BY customer_id, subscription_id, metered) AS VARCHAR), 6, '0') AS id,
           CASE WHEN starts_with(subscription_id, 'sub_')
                THEN 'sub_' || lpad(substr(subscription_id, 5), 6, '0')
                ELSE 'sub_trial_' || lpad(substr(subscription_id, 7), 6, '0') END AS subscription_id,
           CASE WHEN metered THEN 'price_api_calls_' || lower(currency) || '_' || CAST(CAST(round(amount * 100) AS BIGINT) AS VARCHAR)
                ELSE 'price_' || plan || '_' || billing_interval || CAST(interval_count AS VARCHAR) || '_' || lower(currency) || '_'
                     || CAST(CAST(round(amount * 100) AS BIGINT) AS VARCHAR) END AS price_id,
           CASE WHEN NOT metered THEN quantity END AS quantity,
           started_at AS created
    FROM subscription_items WHERE customer_id <= 20
    ORDER BY id
) TO 'examples/stripe/data/stripe_subscription_items.parquet' STORED AS PARQUET;

COPY (
    SELECT DISTINCT
           CASE WHEN metered THEN 'price_api_calls_' || lower(currency) || '_' || CAST(CAST(round(amount * 100) AS BIGINT) AS VARCHAR)
                ELSE 'price_' || plan || '_' || billing_interval || CAST(interval_count AS VARCHAR) || '_' || lower(currency) || '_'
                     || CAST(CAST(round(amount * 100) AS BIGINT) AS VARCHAR) END AS id,
           CASE WHEN metered THEN 'prod_api_calls' ELSE 'prod_' || plan END AS product_id,
           CASE WHEN metered THEN 'API calls' ELSE plan END AS nickname,
           'recurring' AS type,
           CAST(round(amount * 100) AS BIGINT) AS unit_amount,
           CAST(CAST(round(amount * 100) AS BIGINT) AS VARCHAR) AS unit_amount_decimal,
           lower(currency) AS currency,
           CASE billing_interval WHEN 'quarter' THEN 'month' ELSE billing_interval END AS recurring_interval,
           CASE billing_interval WHEN 'quarter' THEN 3 * interval_count ELSE interval_count END AS recurring_interval_count,
           CASE WHEN metered THEN 'metered' ELSE 'licensed' END AS recurring_usage_type
    FROM subscription_items WHERE customer_id <= 20
    ORDER BY id
) TO 'examples/stripe/data/stripe_prices.parquet' STORED AS PARQUET;

COPY (
    SELECT 'in_' || lpad(CAST(invoice_id AS VARCHAR), 6, '0') AS id,
           'cus_' || lpad(CAST(customer_id AS VARCHAR), 6, '0') AS customer_id,
           'sub_' || lpad(CAST(subscription_id AS VARCHAR), 6, '0') AS subscription_id,
           status,
           CAST(round(amount * 100) AS BIGINT) AS amount_due,
           CASE WHEN status = 'paid' THEN CAST(round(amount * 100) AS BIGINT) ELSE CAST(0 AS BIGINT) END AS amount_paid,
           lower(currency) AS currency,
           period_start AS created,
           period_start,
           period_end,
           status = 'paid' AS paid,
           paid_at AS status_transitions_paid_at
    FROM invoices WHERE customer_id <= 20
    ORDER BY id
) TO 'examples/stripe/data/stripe_invoices.parquet' STORED AS PARQUET;

COPY (
    SELECT 'cus_' || lpad(CAST(customer_id AS VARCHAR), 6, '0') AS customer_id,
           'account_id' AS key,
           CAST(customer_id AS VARCHAR) AS value
    FROM customers WHERE customer_id <= 20
    ORDER BY customer_id
) TO 'examples/stripe/data/stripe_customers_metadata.parquet' STORED AS PARQUET;

-- The Stripe example's other tables, in the canonical shape.
COPY (SELECT * FROM customers WHERE customer_id <= 20 ORDER BY customer_id) TO 'examples/stripe/data/customers.parquet' STORED AS PARQUET;
COPY (SELECT * FROM events WHERE customer_id <= 20 ORDER BY event_time, user_id, event_name) TO 'examples/stripe/data/events.parquet' STORED AS PARQUET;
COPY (SELECT * FROM surveys WHERE customer_id <= 20 ORDER BY responded_at, user_id) TO 'examples/stripe/data/surveys.parquet' STORED AS PARQUET;
COPY (SELECT * FROM tickets WHERE customer_id <= 20 ORDER BY ticket_id) TO 'examples/stripe/data/tickets.parquet' STORED AS PARQUET;
-- Exchange rates (Stripe's export has none; the team keeps its own).
COPY (SELECT * FROM fx_rates ORDER BY currency, month) TO 'examples/stripe/data/fx_rates.parquet' STORED AS PARQUET;
