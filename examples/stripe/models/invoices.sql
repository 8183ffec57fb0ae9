-- Invoices in the shape the reports read, from Stripe's `invoices` table
-- (Stripe Sigma / Data Pipeline names; saved here as stripe_invoices):
-- amount is amount_due (minor units, cents) ÷ 100, the status is Stripe's
-- (draft, open, paid, void, uncollectible; the reports count 'paid'),
-- paid_at is status_transitions_paid_at, and the customer is the account id
-- in the Stripe customer's metadata (key account_id). Ids stay Stripe's text.
SELECT i.id AS invoice_id,
       CAST(m.value AS BIGINT) AS customer_id,
       i.subscription_id,
       i.period_start,
       i.period_end,
       i.amount_due / 100.0 AS amount,
       upper(i.currency) AS currency,
       i.status,
       i.status_transitions_paid_at AS paid_at
FROM stripe_invoices i
JOIN stripe_customers_metadata m ON m.customer_id = i.customer_id AND m.key = 'account_id'
