-- The reporting window: every calendar month with at least one product event
-- (first day of the month, as a timestamp). Reports that go month by month
-- use these months, so they follow the data instead of fixed dates.
SELECT DISTINCT date_trunc('month', event_time) AS month
FROM events
