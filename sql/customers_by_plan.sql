-- Paying customers by plan, month by month: every customer with MRR in the
-- month (mrr_ledger, ChartMogul's rules) counts under the plan of its largest
-- item paid for at the month's end (out of trial, not ended, not metered).
-- chart: line x=month y=customers series=plan
WITH paid AS (
    SELECT l.month, l.customer_id,
           first_value(i.plan ORDER BY to_mrr(i.amount * coalesce(i.quantity, 1), i.billing_interval,
                                              coalesce(i.interval_count, 1)) DESC NULLS LAST, i.plan) AS plan
    FROM mrr_ledger('subscription_items') l
    JOIN subscription_items i
      ON i.customer_id = l.customer_id
     AND CASE WHEN i.trial_end > i.started_at THEN i.trial_end ELSE i.started_at END
         < CAST(l.month + INTERVAL '1 month' AS TIMESTAMP)
     AND (i.ended_at IS NULL OR i.ended_at >= CAST(l.month + INTERVAL '1 month' AS TIMESTAMP))
     AND NOT coalesce(i.metered, false)
    WHERE l.mrr > 0
    GROUP BY l.month, l.customer_id
)
SELECT month, plan, count(*) AS customers
FROM paid
GROUP BY month, plan
ORDER BY month, plan;
