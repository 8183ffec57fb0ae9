-- Customer health: score and tier per customer from four components (0–100 each),
-- weighted usage 40 / NPS 10 / support 20 / billing 30, summarised by segment.
WITH last_day AS (
    SELECT max(event_time) AS t FROM events
),
usage AS (   -- engagement over the last 30 days, clamped to 0..100
    SELECT customer_id, least(greatest(engagement_score(event_name), 0), 100) AS usage
    FROM events, last_day
    WHERE event_time >= last_day.t - INTERVAL '30 days'
    GROUP BY customer_id
),
nps_c AS (   -- the customer's NPS mapped from -100..100 to 0..100
    SELECT customer_id, (nps(score) + 100) / 2 AS nps_component
    FROM surveys WHERE kind = 'nps'
    GROUP BY customer_id
),
support AS ( -- 100 minus 20 points per ticket opened in the last 90 days
    SELECT customer_id, greatest(0, 100 - 20 * count(*)) AS support_component
    FROM tickets, last_day
    WHERE opened_at >= last_day.t - INTERVAL '90 days'
    GROUP BY customer_id
),
billing AS ( -- share of invoices of the last 90 days that are paid
    SELECT customer_id, 100.0 * count(*) FILTER (WHERE status = 'paid') / count(*) AS billing_component
    FROM invoices, last_day
    WHERE period_start >= last_day.t - INTERVAL '90 days'
    GROUP BY customer_id
),
health AS (
    SELECT c.customer_id, c.segment,
           health_score(u.usage, 40,
                        n.nps_component, 10,
                        coalesce(s.support_component, 100), 20,
                        b.billing_component, 30) AS health
    FROM customers c
    LEFT JOIN usage u ON u.customer_id = c.customer_id
    LEFT JOIN nps_c n ON n.customer_id = c.customer_id
    LEFT JOIN support s ON s.customer_id = c.customer_id
    LEFT JOIN billing b ON b.customer_id = c.customer_id
)
SELECT segment,
       health_tier(health) AS tier,
       count(*) AS customers,
       round(avg(health), 1) AS avg_health
FROM health
GROUP BY segment, health_tier(health)
ORDER BY segment, min(health) NULLS LAST;
