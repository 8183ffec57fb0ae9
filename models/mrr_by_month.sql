-- MRR of every paying customer at the start of every report month: the sum of
-- to_mrr(amount, billing_interval) over the subscriptions running on the
-- month's first day. Customers paying nothing that day have no row.
SELECT m.month, s.customer_id, sum(to_mrr(s.amount, s.billing_interval)) AS mrr
FROM report_months m
JOIN subscriptions s ON s.started_at <= m.month AND (s.ended_at IS NULL OR s.ended_at > m.month)
GROUP BY m.month, s.customer_id
