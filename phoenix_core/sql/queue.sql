-- The PostgreSQL task queue's hot-path SQL, one named query per operation.
-- Loaded by name by phoenix_core/queue/postgres.py (the fast path's poll embeds two); parameters are psycopg's %(name)s. A batch
-- (of new tasks, of reports) is one JSON document, a list of objects, unpacked here by
-- jsonb_to_recordset: one C-speed serialisation on the client instead of a Python-level array
-- dump per column (which cost more CPU than the statement), and jsonb rather than json so a
-- payload is parsed once, not once as part of the document and again as a jsonb column.
-- Every state change is guarded in its WHERE clause, so concurrent callers cannot both win.

-- name: enqueue
-- Insert a batch (one JSON object per task) in order; an idempotency key that exists
-- already inserts nothing (the caller then reads the existing task). Wakes the hosts' pollers.
WITH inserted AS (
    INSERT INTO agent_tasks (host_id, experiment_id, type, action, payload, priority, status,
                             attempt, max_attempts, idempotency_key, not_before,
                             cancel_requested, created_at, updated_at)
    SELECT t.host_id, t.experiment_id, t.type, t.action, t.payload, t.priority, 'pending',
           0, t.max_attempts, t.idempotency_key, coalesce(t.not_before, now()),
           false, now(), now()
    FROM ROWS FROM (
             jsonb_to_recordset(%(tasks)s::jsonb)
             AS (host_id uuid, experiment_id uuid, type text, action text, payload jsonb,
                 priority smallint, max_attempts int, idempotency_key text,
                 not_before timestamptz)
         ) WITH ORDINALITY AS t(host_id, experiment_id, type, action, payload, priority,
                                max_attempts, idempotency_key, not_before, ord)
    ORDER BY t.ord
    ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, host_id, idempotency_key
), notified AS (
    SELECT pg_notify('phoenix_tasks', h::text)
    FROM (SELECT DISTINCT host_id AS h FROM inserted) AS hosts
)
-- (selecting n.notifications keeps the planner from skipping the notifying CTE)
SELECT inserted.id, inserted.idempotency_key, n.notifications FROM inserted
CROSS JOIN (SELECT count(*) AS notifications FROM notified) AS n
ORDER BY inserted.id;

-- name: by_idempotency_keys
SELECT id, idempotency_key FROM agent_tasks WHERE idempotency_key = ANY(%(keys)b::text[]);

-- name: claim
-- Take up to %(limit)s pending tasks of one host, highest priority first, then oldest.
-- SKIP LOCKED lets concurrent claimers pass each other's rows instead of waiting or double-taking.
WITH picked AS (
    SELECT id FROM agent_tasks
    WHERE host_id = %(host_id)s AND status = 'pending'
      AND not_before <= coalesce(%(at)s::timestamptz, now())
    ORDER BY priority DESC, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE agent_tasks AS t
SET status = 'claimed', attempt = t.attempt + 1,
    claimed_at = coalesce(%(at)s::timestamptz, now()),
    lease_expires_at = coalesce(%(at)s::timestamptz, now()) + make_interval(secs => %(lease)s),
    updated_at = now()
FROM picked
WHERE t.id = picked.id
RETURNING t.id, t.experiment_id, t.type, t.action, t.payload, t.priority, t.attempt,
          t.max_attempts, t.lease_expires_at, t.cancel_requested;

-- name: report
-- Apply a batch of status reports from the host that holds the tasks, each on its own: a row
-- changes only if the attempt is current (fencing), the task is held and the transition is
-- allowed. Only the reports that did not apply come back, each with the task's fields (as they
-- were) that explain why, so the caller can tell a repeat from a refusal; the usual answer is
-- no rows at all.
WITH r AS (
    SELECT * FROM jsonb_to_recordset(%(reports)s::jsonb)
         AS r(id bigint, attempt int, status text, result jsonb, error text)
), changed AS (
    UPDATE agent_tasks AS t
    SET status = r.status,
        started_at = CASE WHEN r.status = 'running' THEN coalesce(t.started_at, now())
                          ELSE t.started_at END,
        completed_at = CASE WHEN r.status = 'running' THEN NULL ELSE now() END,
        lease_expires_at = CASE WHEN r.status = 'running' THEN t.lease_expires_at END,
        result = coalesce(r.result, t.result),
        error_message = coalesce(r.error, t.error_message),
        updated_at = now()
    FROM r
    WHERE t.id = r.id AND t.host_id = %(host_id)s AND t.attempt = r.attempt
      AND t.status IN ('claimed', 'running') AND t.status <> r.status
      AND (r.status <> 'running' OR t.status = 'claimed')
      AND (r.status <> 'cancelled' OR t.cancel_requested)
    RETURNING t.id
)
SELECT r.id, t.host_id, t.attempt, t.status, t.cancel_requested
FROM r
LEFT JOIN agent_tasks AS t ON t.id = r.id
WHERE r.id NOT IN (SELECT id FROM changed);

-- name: by_ids
SELECT * FROM agent_tasks WHERE id = ANY(%(ids)b::bigint[]) ORDER BY id;

-- name: heartbeat
-- Extend the lease of every task the host holds.
UPDATE agent_tasks
SET lease_expires_at = coalesce(%(at)s::timestamptz, now()) + make_interval(secs => %(lease)s),
    updated_at = now()
WHERE host_id = %(host_id)s AND status IN ('claimed', 'running');

-- name: cancel
-- Pending tasks end at once; held ones are flagged, and their holder is told on its next poll.
WITH changed AS (
    UPDATE agent_tasks
    SET status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END,
        completed_at = CASE WHEN status = 'pending' THEN now() ELSE completed_at END,
        cancel_requested = (status <> 'pending'),
        updated_at = now()
    WHERE (id = %(id)s OR experiment_id = %(experiment_id)s)
      AND status NOT IN ('succeeded', 'failed', 'cancelled', 'dead')
    RETURNING *
), notified AS (
    SELECT pg_notify('phoenix_tasks', h::text)
    FROM (SELECT DISTINCT host_id AS h FROM changed) AS hosts
)
SELECT changed.*, n.notifications FROM changed
CROSS JOIN (SELECT count(*) AS notifications FROM notified) AS n
ORDER BY changed.id;

-- name: cancellations
SELECT * FROM agent_tasks
WHERE host_id = %(host_id)s AND status IN ('claimed', 'running') AND cancel_requested
ORDER BY id;

-- name: reap
-- Expired leases: a cancelled task ends; one out of attempts is dead; others go back to pending
-- after an exponential backoff, and their hosts are notified as by an enqueue (an API process
-- answers a poll of a host it knows to have nothing without looking, until it hears of it).
-- SKIP LOCKED: concurrent reapers never wait on each other.
WITH expired AS (
    SELECT id FROM agent_tasks
    WHERE status IN ('claimed', 'running')
      AND lease_expires_at < coalesce(%(at)s::timestamptz, now())
    FOR UPDATE SKIP LOCKED
), reaped AS (
    UPDATE agent_tasks AS t
    SET status = CASE WHEN t.cancel_requested THEN 'cancelled'
                      WHEN t.attempt >= t.max_attempts THEN 'dead'
                      ELSE 'pending' END,
        not_before = CASE WHEN t.cancel_requested OR t.attempt >= t.max_attempts THEN t.not_before
                          ELSE coalesce(%(at)s::timestamptz, now()) + make_interval(
                               secs => least(%(cap)s, %(base)s * power(2, greatest(t.attempt - 1, 0))))
                     END,
        completed_at = CASE WHEN t.cancel_requested OR t.attempt >= t.max_attempts
                            THEN coalesce(%(at)s::timestamptz, now()) END,
        error_message = CASE WHEN t.cancel_requested THEN t.error_message
                             ELSE 'lease expired on attempt ' || t.attempt END,
        lease_expires_at = NULL,
        updated_at = now()
    FROM expired
    WHERE t.id = expired.id
    RETURNING t.*
), notified AS (
    SELECT pg_notify('phoenix_tasks', h::text)
    FROM (SELECT DISTINCT host_id AS h FROM reaped WHERE status = 'pending') AS hosts
)
SELECT reaped.*, n.notifications FROM reaped
CROSS JOIN (SELECT count(*) AS notifications FROM notified) AS n;

-- name: purge_finished
DELETE FROM agent_tasks
WHERE status IN ('succeeded', 'failed', 'cancelled', 'dead')
  AND completed_at < coalesce(%(at)s::timestamptz, now()) - make_interval(secs => %(age)s);

-- name: depth
SELECT status, count(*) AS n FROM agent_tasks GROUP BY status;

-- name: pending_per_host
SELECT host_id, count(*) AS n, min(created_at) AS oldest
FROM agent_tasks WHERE status = 'pending' GROUP BY host_id;

-- name: get
SELECT * FROM agent_tasks WHERE id = %(id)s;

-- name: has_claimable
SELECT EXISTS (
    SELECT 1 FROM agent_tasks
    WHERE host_id = %(host_id)s AND status = 'pending'
      AND not_before <= coalesce(%(at)s::timestamptz, now())
) AS found;

-- name: tasks_of
SELECT * FROM agent_tasks WHERE experiment_id = %(experiment_id)s ORDER BY id;
