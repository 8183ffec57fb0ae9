-- Paying customers by plan, month by month: a customer counts under the plan
-- of its largest item paid for at the month's end (ChartMogul's measuring
-- instant; trials and metered add-ons left out, as mrr_ledger does).
-- chart: line x=month y=customers series=plan
-- From the billing export (subscription_items), over the months mrr_ledger
-- reports.
WITH months AS (SELECT DISTINCT month FROM mrr_ledger('subscription_items')),
paid AS (
    SELECT m.month, i.customer_id,
           first_value(i.plan ORDER BY to_mrr(i.amount * i.quantity, i.billing_interval, i.interval_count) DESC, i.plan) AS plan
    FROM months m
    JOIN subscription_items i
      ON coalesce(i.trial_end, i.started_at) < CAST(m.month + INTERVAL '1 month' AS TIMESTAMP)
     AND (i.ended_at IS NULL OR i.ended_at >= CAST(m.month + INTERVAL '1 month' AS TIMESTAMP))
    WHERE NOT i.metered AND i.amount > 0
    GROUP BY m.month, i.customer_id
)
SELECT month, plan, count(*) AS customers
FROM paid
GROUP BY month, plan
ORDER BY month, plan;
