-- Product events from Segment's warehouse tables, in the shape the reports
-- read: `tracks` (one row per track call) for the events, `groups` for the
-- account each user belongs to (the latest group call of the user wins).
-- Segment names events in Title Case ("Report Created"); the engagement
-- weights use snake_case (report_created), so the names are lowercased with
-- _ for spaces. Visitors who never signed in (no user_id) belong to no
-- account and are left out. Segment has no session id.
SELECT t."timestamp" AS event_time,
       CAST(g.group_id AS BIGINT) AS customer_id,
       CAST(t.user_id AS BIGINT) AS user_id,
       lower(replace(t.event, ' ', '_')) AS event_name,
       CAST(NULL AS BIGINT) AS session_id
FROM tracks t
JOIN (
    SELECT user_id, group_id
    FROM (
        SELECT user_id, group_id,
               row_number() OVER (PARTITION BY user_id ORDER BY "timestamp" DESC) AS latest
        FROM groups
        WHERE user_id IS NOT NULL
    )
    WHERE latest = 1
) g ON g.user_id = t.user_id
WHERE t.user_id IS NOT NULL
