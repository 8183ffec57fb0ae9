-- Survey answers are on their scales (NPS 0-10, CSAT 1-5, CES 1-7): an
-- export that changed a scale would make every survey metric wrong, or fail.
-- severity: error
SELECT customer_id, kind, score, responded_at
FROM surveys
WHERE (kind = 'nps' AND score NOT BETWEEN 0 AND 10)
   OR (kind = 'csat' AND score NOT BETWEEN 1 AND 5)
   OR (kind = 'ces' AND score NOT BETWEEN 1 AND 7)
   OR kind NOT IN ('nps', 'csat', 'ces')
