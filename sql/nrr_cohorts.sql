-- Net revenue retention by sign-up cohort: the customers whose first paid
-- month falls in each quarter, their MRR 3, 6 and 12 months after that month
-- as a percentage of their first month's (expansion counts, churned customers
-- count 0). NULL where the cohort's customers have not all reached the point.
-- chart: bar x=cohort y=nrr_3m,nrr_6m,nrr_12m
-- From the billing export through mrr_ledger (ChartMogul's rules, USD); a
-- customer's ledger starts at its first paid month.
WITH ledger AS (
    SELECT customer_id, month, mrr,
           min(month) OVER (PARTITION BY customer_id) AS first_month,
           max(month) OVER () AS as_of
    FROM mrr_ledger('subscription_items')
),
customers AS (
    SELECT first_month, max(as_of) AS as_of,
           max(CASE WHEN month = first_month THEN mrr END) AS start_mrr,
           max(CASE WHEN month = first_month + INTERVAL '3 months' THEN mrr END) AS mrr_3m,
           max(CASE WHEN month = first_month + INTERVAL '6 months' THEN mrr END) AS mrr_6m,
           max(CASE WHEN month = first_month + INTERVAL '12 months' THEN mrr END) AS mrr_12m
    FROM ledger
    GROUP BY customer_id, first_month
)
SELECT CAST(CAST(date_trunc('quarter', CAST(first_month AS TIMESTAMP)) AS DATE) AS VARCHAR) AS cohort,
       count(*) AS customers,
       round(sum(start_mrr), 2) AS starting_mrr,
       CASE WHEN max(first_month) + INTERVAL '3 months' <= max(as_of)
            THEN round(net_revenue_retention(start_mrr, mrr_3m), 1) END AS nrr_3m,
       CASE WHEN max(first_month) + INTERVAL '6 months' <= max(as_of)
            THEN round(net_revenue_retention(start_mrr, mrr_6m), 1) END AS nrr_6m,
       CASE WHEN max(first_month) + INTERVAL '12 months' <= max(as_of)
            THEN round(net_revenue_retention(start_mrr, mrr_12m), 1) END AS nrr_12m
FROM customers
GROUP BY 1
ORDER BY 1;
