-- Support: first-contact resolution and resolution time by channel.
SELECT channel,
       count(*) AS tickets,
       count(*) FILTER (WHERE resolved_at IS NULL) AS open_tickets,
       round(first_contact_resolution(resolved_on_first_contact), 1) AS fcr_pct,
       round(avg_resolution_time(opened_at, resolved_at) / 60, 1) AS avg_resolution_hours
FROM tickets
GROUP BY channel
ORDER BY channel;
