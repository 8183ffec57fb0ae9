-- NPS, CSAT and customer effort by segment.
-- chart: bar x=segment y=nps
SELECT c.segment,
       count(*) FILTER (WHERE s.kind = 'nps') AS nps_responses,
       round(nps(s.score) FILTER (WHERE s.kind = 'nps'), 1) AS nps,
       round(csat(s.score) FILTER (WHERE s.kind = 'csat'), 1) AS csat_pct,
       round(csat_top2box(s.score) FILTER (WHERE s.kind = 'csat'), 1) AS csat_top2box_pct,
       round(customer_effort_score(s.score) FILTER (WHERE s.kind = 'ces'), 2) AS effort_1_to_7
FROM surveys s
JOIN customers c USING (customer_id)
GROUP BY c.segment
ORDER BY c.segment;
