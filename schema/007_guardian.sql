-- 007_guardian.sql: what the Guardian needs beyond the registry of 002.
--
-- process_status.state gains two values the Guardian writes:
--   SCHEDULED  desired RUNNING, but now is outside every time slice
--   BACKOFF    exited unexpectedly; started again at retry_at
-- and retry_at says when a BACKOFF or THROTTLED instance is started again
-- (NULL otherwise), so that `disp process` can tell the administrator.
--
-- The schedule rule (002: days bit 0 = Sunday, a slice whose end is not
-- after its start runs past midnight, in the node's time zone) is written
-- once, here, for the Guardian and for oomgr alike.

ALTER TABLE process_status DROP CONSTRAINT process_status_state_check;
ALTER TABLE process_status ADD CONSTRAINT process_status_state_check
    CHECK (state IN ('STOPPED', 'STARTING', 'RUNNING', 'STOPPING', 'THROTTLED', 'FAILED',
                     'SCHEDULED', 'BACKOFF'));
ALTER TABLE process_status ADD COLUMN retry_at timestamptz;

-- Is process p inside one of its time slices at `ts`? No slice means always.
-- A slice past midnight that starts on day D also covers the early hours of
-- D + 1 (bit D decides, not bit D + 1).
CREATE FUNCTION process_schedule_open(p integer, ts timestamptz DEFAULT now())
RETURNS boolean LANGUAGE sql STABLE
    SET search_path = ofc, pg_catalog AS $$
    WITH l AS (
        SELECT (ts AT TIME ZONE n.time_zone)::time AS tod,
               extract(dow FROM ts AT TIME ZONE n.time_zone)::integer AS dow
          FROM process pr JOIN node n ON n.id = pr.node_id
         WHERE pr.id = p)
    SELECT NOT EXISTS (SELECT 1 FROM process_schedule WHERE process_id = p)
        OR EXISTS (
            SELECT 1 FROM process_schedule s, l
             WHERE s.process_id = p
               AND CASE WHEN s.end_time > s.start_time THEN
                        (s.days::integer >> l.dow) & 1 = 1
                        AND l.tod >= s.start_time AND l.tod < s.end_time
                   ELSE
                        ((s.days::integer >> l.dow) & 1 = 1 AND l.tod >= s.start_time)
                        OR ((s.days::integer >> ((l.dow + 6) % 7)) & 1 = 1
                            AND l.tod < s.end_time)
                   END);
$$;

-- Seconds from `ts` to the next start or end of one of p's slices, by the
-- node's wall clock (NULL without slices). A boundary on a day the slice
-- does not cover is counted too: waking there is harmless. Across a
-- daylight saving change the answer is off by the change; the Guardian
-- re-reads the schedule at least every 30 s anyway.
CREATE FUNCTION process_schedule_next_change(p integer, ts timestamptz DEFAULT now())
RETURNS double precision LANGUAGE sql STABLE
    SET search_path = ofc, pg_catalog AS $$
    WITH l AS (
        SELECT extract(epoch FROM (ts AT TIME ZONE n.time_zone)::time) AS now_s
          FROM process pr JOIN node n ON n.id = pr.node_id
         WHERE pr.id = p),
    b AS (
        SELECT extract(epoch FROM s.start_time) AS t FROM process_schedule s WHERE s.process_id = p
        UNION ALL
        SELECT extract(epoch FROM s.end_time) FROM process_schedule s WHERE s.process_id = p)
    SELECT min(CASE WHEN d <= 0 THEN d + 86400 ELSE d END)::double precision
      FROM (SELECT b.t - l.now_s AS d FROM b, l) x;
$$;
