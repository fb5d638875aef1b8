-- The API's fast path on PostgreSQL: what every agent and dashboard calls all the time, each
-- one statement (one round trip, no ORM), run on an asyncio connection pool by
-- phoenix_core/fast_path/postgres.py. Each has the same effect as the repository method it stands
-- for on SQLite; tests/integration/test_fast_path.py runs both on PostgreSQL and compares.
-- Parameters are psycopg's %(name)s.

-- name: heartbeats
-- HostRepository.record_heartbeat + TaskQueue.heartbeat, for a batch of heartbeats of
-- different hosts (those that arrived while the previous batch was being written): store what
-- each host reports, mark the collectors it stopped listing (`gone` while their experiment
-- collects, else `stopped`), append a `host_status_changed` event when its status changed,
-- extend the leases of the tasks it holds, and publish the events (phoenix_events) and a live
-- notice per host (phoenix_live, with the host's name filled in). %(beats)s is a JSON array,
-- one object per heartbeat; a row back per host recorded, none for a host unknown or
-- decommissioned. Hosts are locked in the order of their ids, as every batch locks them.
-- %(reported)s and %(collecting)s are hosts.REPORTED_STATUSES and hosts.COLLECTING.
WITH beat AS (
    SELECT * FROM jsonb_to_recordset(%(beats)s::jsonb)
        AS b(host_id uuid, status text, agent_version text, resource_usage jsonb,
             pipelines jsonb, at timestamptz, lease float8, notice jsonb)
), old AS (
    SELECT h.id, h.status FROM hosts AS h
    WHERE h.id = ANY(ARRAY(SELECT host_id FROM beat))  -- by primary key, whatever the stats
      AND h.decommissioned_at IS NULL
    ORDER BY h.id
    FOR UPDATE
), host AS (
    UPDATE hosts AS h
    SET status = b.status, agent_version = b.agent_version,
        resource_usage = b.resource_usage, last_heartbeat = b.at
    FROM old JOIN beat AS b ON b.host_id = old.id
    WHERE h.id = old.id
    RETURNING h.id, h.hostname, old.status AS previous, h.status, b.at, b.lease, b.notice
), reported AS (
    SELECT b.host_id, r.*
    FROM beat AS b,
         jsonb_to_recordset(b.pipelines)
             AS r(experiment_id uuid, variant text, config_sha256 text, status text, pid int,
                  restarts int)
), listed AS (
    UPDATE active_pipelines AS p
    SET status = r.status, pid = r.pid, restarts = r.restarts, updated_at = host.at
    FROM reported AS r JOIN host ON host.id = r.host_id
    WHERE p.host_id = host.id AND p.experiment_id = r.experiment_id
      AND p.variant = r.variant AND p.config_sha256 = r.config_sha256
    RETURNING p.id
), unlisted AS (
    UPDATE active_pipelines AS p
    SET status = CASE WHEN e.state = ANY(%(collecting)s) THEN 'gone' ELSE 'stopped' END,
        pid = NULL, updated_at = host.at
    FROM host, experiments AS e
    WHERE p.host_id = host.id AND e.id = p.experiment_id
      AND p.status = ANY(%(reported)s)
      AND NOT EXISTS (SELECT 1 FROM reported AS r
                      WHERE r.host_id = p.host_id AND r.experiment_id = p.experiment_id
                        AND r.variant = p.variant)
    RETURNING p.id
), event AS (
    INSERT INTO events (type, actor, experiment_id, host_id, data, created_at)
    SELECT 'host_status_changed', 'agent:' || host.hostname, NULL, host.id,
           jsonb_build_object('from', host.previous, 'to', host.status), host.at
    FROM host
    WHERE host.previous <> host.status
    ORDER BY host.id
    RETURNING id
), events_published AS (
    SELECT count(pg_notify('phoenix_events', id::text)) AS n FROM event
), leases AS (
    UPDATE agent_tasks AS t
    SET lease_expires_at = host.at + make_interval(secs => host.lease), updated_at = now()
    FROM host
    WHERE t.host_id = host.id AND t.status IN ('claimed', 'running')
    RETURNING t.host_id
)
SELECT host.id AS host_id,
       (SELECT count(*) FROM leases WHERE leases.host_id = host.id) AS leases_extended,
       pg_notify('phoenix_live',
                 jsonb_set(host.notice, '{data,hostname}', to_jsonb(host.hostname))::text)
           AS notice_published,
       events_published.n AS events_published,
       (SELECT count(*) FROM listed) + (SELECT count(*) FROM unlisted) AS pipelines_changed
FROM host CROSS JOIN events_published;

-- name: host_state
-- Why a heartbeat found no host to update: unknown (no row) or decommissioned.
SELECT decommissioned_at FROM hosts WHERE id = %(host_id)s;

-- name: experiment_page
-- GET /api/v1/experiments: a page of ExperimentRepository.summaries as the API sends it, built
-- here as JSON (decoding rows and validating models took more of the API's CPU than anything
-- else in the request): the items, newest first (created_at, then id), optionally in one
-- state and after the (created_at, id) of the last one seen, each object with the fields of
-- ExperimentSummary in order and its timestamps written as pydantic writes them (UTC, "Z",
-- microseconds only when there are some); whether there are more; and the last item's
-- (created_at, id), for the cursor. tests/integration/test_fast_path.py compares every page
-- with the repository's.
WITH page AS (
    SELECT e.id, e.name, e.state, e.collector,
           ARRAY(SELECT v.name FROM experiment_variants AS v
                 WHERE v.experiment_id = e.id ORDER BY v.position) AS variants,
           e.version, e.verdict, e.failure_reason, e.created_by, e.created_at, e.updated_at,
           e.state_changed_at, e.started_at, e.completed_at
    FROM experiments AS e
    WHERE (%(state)s::text IS NULL OR e.state = %(state)s::text)
      AND (%(before_at)s::timestamptz IS NULL
           OR (e.created_at, e.id) < (%(before_at)s::timestamptz, %(before_id)s::uuid))
    ORDER BY e.created_at DESC, e.id DESC
    LIMIT %(limit)s + 1
), shown AS (
    SELECT *, row_number() OVER (ORDER BY created_at DESC, id DESC) AS n FROM page
), items AS (
    SELECT n, id, created_at, json_build_object(
        'id', id, 'name', name, 'state', state, 'collector', collector, 'variants', variants,
        'version', version, 'verdict', verdict, 'failure_reason', failure_reason,
        'created_by', created_by,
        'created_at', regexp_replace(to_char(created_at AT TIME ZONE 'UTC',
                      'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\.000000Z$', 'Z'),
        'updated_at', regexp_replace(to_char(updated_at AT TIME ZONE 'UTC',
                      'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\.000000Z$', 'Z'),
        'state_changed_at', regexp_replace(to_char(state_changed_at AT TIME ZONE 'UTC',
                            'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\.000000Z$', 'Z'),
        'started_at', regexp_replace(to_char(started_at AT TIME ZONE 'UTC',
                      'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\.000000Z$', 'Z'),
        'completed_at', regexp_replace(to_char(completed_at AT TIME ZONE 'UTC',
                        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\.000000Z$', 'Z')
    ) AS item
    FROM shown WHERE n <= %(limit)s
)
SELECT coalesce((SELECT json_agg(item ORDER BY n) FROM items), '[]')::text AS items,
       (SELECT count(*) FROM page) > %(limit)s AS more,
       last.created_at AS last_created_at, last.id AS last_id
FROM (SELECT 1) AS one
LEFT JOIN (SELECT created_at, id FROM items ORDER BY n DESC LIMIT 1) AS last ON true;

-- name: token
-- TokenRepository.authenticate: the row of the token with this hash and kind, and its
-- last_used_at written when it is live and last used over %(resolution)s seconds ago (not on
-- every lookup). The checks (revoked, expired) are store.tokens.token_holder's, in Python.
WITH found AS (
    SELECT id, name, role, host_id, expires_at, revoked_at, last_used_at
    FROM api_tokens
    WHERE token_hash = %(hash)s AND kind = %(kind)s
), touched AS (
    UPDATE api_tokens AS t
    SET last_used_at = %(at)s
    FROM found
    WHERE t.id = found.id AND found.revoked_at IS NULL
      AND (found.expires_at IS NULL OR found.expires_at > %(at)s)
      AND (found.last_used_at IS NULL
           OR found.last_used_at < %(at)s - make_interval(secs => %(resolution)s))
)
SELECT id, name, role, host_id, expires_at, revoked_at FROM found;

-- name: poll
-- TaskQueue.claim + TaskQueue.cancellations (queue.sql) in one round trip per poll: a row per
-- claimed task (the claim's columns), each ending with whether the host had any pending task
-- (due or not, claimed here or not) and the ids of its tasks to stop; a single row of NULLs
-- ending with them when nothing was claimed. All read the same snapshot: a task claimed here
-- was pending, so it is no cancellation.
WITH claimed AS ({{queue.sql:claim}}),
held AS ({{queue.sql:cancellations}})
SELECT claimed.*,
       EXISTS (SELECT 1 FROM agent_tasks WHERE host_id = %(host_id)s
               AND status = 'pending') AS pending,
       ARRAY(SELECT id FROM held ORDER BY id) AS cancellations
FROM (SELECT 1) AS one LEFT JOIN claimed ON true;
