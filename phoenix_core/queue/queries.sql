-- The PostgreSQL task queue's hot-path SQL, one named query per operation.
-- Loaded by name by phoenix_core/queue/postgres.py; parameters are psycopg's %(name)s.
-- Every state change is guarded in its WHERE clause, so concurrent callers cannot both win.

-- name: enqueue
-- Insert a batch (arrays, one element per task) in order; an idempotency key that exists
-- already inserts nothing (the caller then reads the existing task). Wakes the hosts' pollers.
WITH inserted AS (
    INSERT INTO agent_tasks (host_id, experiment_id, type, action, payload, priority, status,
                             attempt, max_attempts, idempotency_key, not_before,
                             cancel_requested, created_at, updated_at)
    SELECT t.host_id, t.experiment_id, t.type, t.action, t.payload, t.priority, 'pending',
           0, t.max_attempts, t.idempotency_key, coalesce(t.not_before, now()),
           false, now(), now()
    FROM unnest(%(host_id)s::uuid[], %(experiment_id)s::uuid[], %(type)s::text[],
                %(action)s::text[], %(payload)s::jsonb[], %(priority)s::smallint[],
                %(max_attempts)s::int[], %(idempotency_key)s::text[],
                %(not_before)s::timestamptz[])
         WITH ORDINALITY AS t(host_id, experiment_id, type, action, payload, priority,
                              max_attempts, idempotency_key, not_before, ord)
    ORDER BY t.ord
    ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *
), notified AS (
    SELECT pg_notify('phoenix_tasks', h::text)
    FROM (SELECT DISTINCT host_id AS h FROM inserted) AS hosts
)
-- (selecting n.notifications keeps the planner from skipping the notifying CTE)
SELECT inserted.*, n.notifications FROM inserted
CROSS JOIN (SELECT count(*) AS notifications FROM notified) AS n
ORDER BY inserted.id;

-- name: by_idempotency_keys
SELECT * FROM agent_tasks WHERE idempotency_key = ANY(%(keys)s::text[]);

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
RETURNING t.*;

-- name: report
-- Apply a batch of status reports from the host that holds the tasks, all or nothing, in one
-- statement: lock the reported rows, judge each report (not held, stale attempt, repeat,
-- allowed, or not allowed), update the allowed ones only if no report is wrong, and return
-- one row per report that was not applied (its verdict and the task's fields that explain it)
-- plus one row counting the applied ones.
WITH r AS (
    SELECT * FROM unnest(%(id)s::bigint[], %(attempt)s::int[], %(status)s::text[],
                         %(result)s::jsonb[], %(error)s::text[])
         AS r(id, attempt, status, result, error)
), cur AS (
    SELECT t.id, t.host_id, t.attempt, t.status, t.cancel_requested
    FROM agent_tasks t WHERE t.id IN (SELECT id FROM r)
    FOR UPDATE
), verdict AS (
    SELECT r.id,
           CASE WHEN cur.id IS NULL OR cur.host_id <> %(host_id)s THEN 'not_held'
                WHEN cur.attempt <> r.attempt THEN 'stale'
                WHEN cur.status = r.status THEN 'repeat'
                WHEN r.status = 'cancelled' AND NOT cur.cancel_requested THEN 'invalid'
                WHEN cur.status = 'claimed'
                     AND r.status IN ('running', 'succeeded', 'failed', 'cancelled') THEN 'apply'
                WHEN cur.status = 'running'
                     AND r.status IN ('succeeded', 'failed', 'cancelled') THEN 'apply'
                ELSE 'invalid' END AS verdict
    FROM r LEFT JOIN cur ON cur.id = r.id
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
    FROM r JOIN verdict v ON v.id = r.id AND v.verdict = 'apply'
    WHERE t.id = r.id
      AND NOT EXISTS (SELECT 1 FROM verdict WHERE verdict NOT IN ('apply', 'repeat'))
    RETURNING t.*
)
SELECT v.id AS report_id, v.verdict, t.host_id, t.attempt, t.status, t.cancel_requested
FROM verdict AS v LEFT JOIN agent_tasks AS t ON t.id = v.id
WHERE v.verdict <> 'apply'
UNION ALL
SELECT NULL, 'applied', NULL, count(*)::int, NULL, NULL FROM changed;

-- name: by_ids
SELECT * FROM agent_tasks WHERE id = ANY(%(ids)s::bigint[]) ORDER BY id;

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
-- after an exponential backoff. SKIP LOCKED: concurrent reapers never wait on each other.
WITH expired AS (
    SELECT id FROM agent_tasks
    WHERE status IN ('claimed', 'running')
      AND lease_expires_at < coalesce(%(at)s::timestamptz, now())
    FOR UPDATE SKIP LOCKED
)
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
RETURNING t.*;

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
