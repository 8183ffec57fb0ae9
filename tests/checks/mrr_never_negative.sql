-- MRR is never negative: a negative amount in the subscriptions export
-- (a refund booked as a subscription?) would lower every revenue report.
-- The rows returned are the failures (saasql test).
SELECT month, customer_id, mrr
FROM mrr_by_month
WHERE mrr < 0
