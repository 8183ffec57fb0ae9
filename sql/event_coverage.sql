-- Which event names the engagement model knows. Every event name, its number
-- of events, its share of all events, and its weight in
-- saasql.engagement_weights (see `saasql config`); listed = false means the
-- weights do not name it, so engagement_score counts it with
-- saasql.engagement_default_weight (0 unless set). A large unlisted share
-- means the engagement scores ignore much of what customers do: add the
-- names to [settings] engagement_weights in saasql.toml.
-- chart: bar x=event_name y=share_pct
SELECT event_name,
       count(*) AS events,
       round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS share_pct,
       engagement_weight(event_name) AS weight,
       engagement_weight(event_name) IS NOT NULL AS listed
FROM events
GROUP BY event_name
ORDER BY listed, events DESC, event_name;
