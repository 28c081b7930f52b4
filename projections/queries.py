"""The SQL of the projection's reads (reviews, the scorecard's columns), kept apart from the
code that runs it (`store.py`)."""


# The items a cycle's review depends on (domain.history.cycle_dependencies, in SQL, over the
# version tables): the cycle, its objectives, every key result ever under them, every KPI
# ever linked to those, and the KPIs ever tagged guardrail — and the initiatives ever on those
# key results (the review's initiatives column).
REVIEW_ITEMS = """
CREATE OR REPLACE TEMP TABLE review_items AS
WITH objectives AS (SELECT DISTINCT aggregate_id, key FROM objective_versions WHERE cycle = $1),
krs AS (SELECT DISTINCT aggregate_id, key, kpi FROM key_result_versions
        WHERE objective IN (SELECT key FROM objectives))
SELECT DISTINCT aggregate_id FROM cycle_versions WHERE key = $1
UNION SELECT aggregate_id FROM objectives
UNION SELECT aggregate_id FROM krs
UNION SELECT aggregate_id FROM initiative_versions WHERE key_result IN (SELECT key FROM krs)
UNION SELECT aggregate_id FROM kpi_versions WHERE key IN (SELECT kpi FROM krs)
UNION SELECT aggregate_id FROM kpi_versions WHERE list_contains(tags, 'guardrail')
"""

# The items one key result's review depends on (the web's key-result chart): the cycle, the
# objectives it was ever under, the key result, the KPIs ever linked to it and its initiatives.
REVIEW_ITEMS_OF_KR = """
CREATE OR REPLACE TEMP TABLE review_items AS
WITH kr AS (SELECT DISTINCT aggregate_id, objective, kpi FROM key_result_versions
            WHERE key = $2 AND objective IN (SELECT key FROM objective_versions
                                             WHERE cycle = $1))
SELECT DISTINCT aggregate_id FROM cycle_versions WHERE key = $1
UNION SELECT aggregate_id FROM objective_versions
      WHERE cycle = $1 AND key IN (SELECT objective FROM kr)
UNION SELECT aggregate_id FROM kr
UNION SELECT aggregate_id FROM kpi_versions WHERE key IN (SELECT kpi FROM kr)
UNION SELECT aggregate_id FROM initiative_versions WHERE key_result = $2
"""

# Projection.scorecard_at reads the scorecard's objectives from the objective and cycle
# versions, read once per connection (PIT_*_VERSIONS; a few thousand rows, which cannot change
# while a read-only connection is open), selecting those in force in Python; then their key
# results in one statement, values written as literals. DuckDB binds and optimises every
# statement on every call, prepared or not, at a cost that grows with the statement, and hands
# over every value of every row: the one statement of both (`scorecard_at`) cost more than two
# small ones, and repeated each objective's columns on every row of its key results. Times as
# TIMESTAMP (UTC), made aware in Python: much cheaper than DuckDB handing over TIMESTAMPTZ.
PIT_OBJECTIVE_VERSIONS = """
SELECT valid_from::TIMESTAMP, valid_to::TIMESTAMP, recorded_at::TIMESTAMP,
       recorded_to::TIMESTAMP, cycle, key, title, owner, team, level, okr_type, parent, status
FROM objective_versions
"""
PIT_CYCLE_VERSIONS = """
SELECT valid_from::TIMESTAMP, valid_to::TIMESTAMP, recorded_at::TIMESTAMP,
       recorded_to::TIMESTAMP, key, start::TIMESTAMP, "end"::TIMESTAMP,
       status = 'closed' AS closed
FROM cycle_versions
"""
# What a filtered scorecard's key results are scored from, scored in Python.
PIT_KEY_RESULT_INPUTS = """
SELECT key_result, objective, kr_title, kind, start, target, target_high, tolerance, unit,
       weight, phases::STRUCT("at" TIMESTAMP, value DOUBLE)[], kpi, check_in_value,
       check_in_confidence, has_kpi, direction, green, red, cadence, reading_value,
       reading_observed_at::TIMESTAMP, until::TIMESTAMP
FROM key_result_inputs({args})
"""

# scorecard_at's columns → the keys of domain.history.scorecard's cards and key results.
CARD_COLUMNS = {"key": "objective", "title": "objective_title", "cycle": "cycle",
                 "owner": "owner", "team": "team", "level": "level", "okr_type": "okr_type",
                 "parent": "parent", "status": "objective_status", "score": "objective_score",
                 "expected": "objective_expected", "track": "objective_track",
                 "succeeded": "succeeded", "rollup": "objective_rollup",
                 "rollup_expected": "objective_rollup_expected",
                 "rollup_track": "objective_rollup_track"}
KR_COLUMNS = {"key": "key_result", "objective": "objective", "title": "kr_title",
               "kind": "kind", "start": "start", "target": "target",
               "target_high": "target_high", "tolerance": "tolerance", "unit": "unit",
               "weight": "weight",
               "value": "value", "progress": "progress", "expected": "expected",
               "status": "status", "confidence": "confidence", "kpi": "kpi",
               "kpi_health": "kpi_health", "kpi_stale": "kpi_stale"}

# The whole organisation's key results, scored in DuckDB: which version of each key result
# (the position of the event that made it) and what it scores; the version's plan (key,
# objective, title, kind, start, target, target_high, tolerance, unit, weight, kpi: the other
# KR_COLUMNS) is read once per connection by that position (PIT_KEY_RESULT_PLANS), since a
# version row is a function of its item's events up to that position. Handing those eleven
# values over on every call cost two thirds of the rows' fetch (docs/benchmarks.md).
PIT_KEY_RESULTS = """
SELECT kr_position, value, progress, expected, status, confidence, kpi_health, kpi_stale
FROM key_results_at({args})
"""
PIT_KEY_RESULT_PLANS = """
SELECT position, key, objective, title, kind, start, target, target_high, tolerance, unit,
       weight, kpi
FROM key_result_versions WHERE position IN (SELECT unnest($positions::BIGINT[]))
"""

REVIEW_READINGS = """
WITH carried AS (
    SELECT aggregate_id, max((observed_at, position)) AS latest FROM kpi_readings
    WHERE aggregate_id IN (SELECT aggregate_id FROM review_items)
      AND observed_at < $carry AND recorded_at <= $carry
    GROUP BY aggregate_id)
SELECT position, aggregate_id, version, recorded_at::TIMESTAMP, observed_at::TIMESTAMP, actor,
       on_behalf_of, value, source, reading_id
FROM kpi_readings r LEFT JOIN carried c USING (aggregate_id)
WHERE aggregate_id IN (SELECT aggregate_id FROM review_items) AND recorded_at <= $known
  AND observed_at <= $until
  AND (observed_at >= $carry OR recorded_at > $carry OR (observed_at, position) = c.latest)
ORDER BY position
"""

# `okr history KEY`: a key result's revisions and its check-ins.
KR_REVISIONS = (
    "SELECT version, valid_from AS at, change, objective, kind, start, target, target_high, "
    "weight, kpi, removed, plan_revision, actor, on_behalf_of, reason "
    "FROM key_result_versions WHERE key = ? ORDER BY version")
KR_CHECK_INS = (
    "SELECT effective_at, recorded_at, value, confidence, note, actor, on_behalf_of, source, "
    "position FROM check_ins WHERE key_result = ? ORDER BY effective_at, position")

# A KPI's readings (the web's KPI page charts them), by observed time.
KPI_READINGS = (
    "SELECT observed_at, recorded_at, value, source, reading_id, actor, on_behalf_of, "
    "position FROM kpi_readings WHERE kpi = ? ORDER BY observed_at, position")

# The web's audit feed: a page of the latest events (newest first, before a position),
# optionally of one kind of item or one actor, with the key of the item each is about.
AUDIT_FEED = """
SELECT e.position, e.aggregate_id, a.key FROM events e
LEFT JOIN aggregates a USING (aggregate_id)
WHERE e.position < $before
  AND ($kind::VARCHAR IS NULL OR e.aggregate_type = $kind::VARCHAR)
  AND ($actor::VARCHAR IS NULL OR e.actor = $actor::VARCHAR)
ORDER BY e.position DESC
LIMIT $limit
"""
AUDIT_ACTORS = "SELECT DISTINCT actor FROM events ORDER BY actor"
# The aggregates with a key (an audit trail is of every item that ever had it).
AGGREGATES_OF_KEY = "SELECT aggregate_id FROM aggregates WHERE key = ? ORDER BY aggregate_id"

# `okr due` and the reminders of `okr up` (domain/due.py decides what is due): every key
# result in force now with its objective's owner, team and status, its cycle's window and
# status, when it came into force and its latest check-in; every KPI in force now with its
# latest reading. Times as TIMESTAMP (UTC), made aware by the caller.
DUE_KEY_RESULTS = """
WITH cyc AS (SELECT v.* FROM cycle_versions v
             WHERE okr_in_force(v.valid_from, v.valid_to, v.recorded_at, v.recorded_to,
                                $now, $now)),
obj AS (SELECT v.* FROM objective_versions v
        WHERE okr_in_force(v.valid_from, v.valid_to, v.recorded_at, v.recorded_to, $now, $now)),
kr AS (SELECT v.* FROM key_result_versions v
       WHERE okr_in_force(v.valid_from, v.valid_to, v.recorded_at, v.recorded_to, $now, $now)
         AND NOT v.removed),
first AS (SELECT aggregate_id, min(valid_from) AS since FROM key_result_versions
          GROUP BY aggregate_id),
ci AS (SELECT aggregate_id, arg_max(value, okr_order_key(effective_at, position)) AS value,
              max(effective_at) AS last_at
       FROM check_ins WHERE recorded_at <= $now AND effective_at <= $now GROUP BY aggregate_id)
SELECT kr.key, kr.title, obj.owner, obj.team, obj.cycle, cyc.start::TIMESTAMP AS cycle_start,
       cyc."end"::TIMESTAMP AS cycle_end, cyc.status AS cycle_status,
       obj.status AS objective_status, kr.kpi, first.since::TIMESTAMP AS since,
       ci.last_at::TIMESTAMP AS last_at, ci.value
FROM kr JOIN obj ON kr.objective = obj.key JOIN cyc ON obj.cycle = cyc.key
JOIN first ON first.aggregate_id = kr.aggregate_id
LEFT JOIN ci ON ci.aggregate_id = kr.aggregate_id
ORDER BY kr.key
"""
DUE_KPIS = """
WITH kpi AS (SELECT v.* FROM kpi_versions v
             WHERE okr_in_force(v.valid_from, v.valid_to, v.recorded_at, v.recorded_to,
                                $now, $now)),
first AS (SELECT aggregate_id, min(valid_from) AS since FROM kpi_versions GROUP BY aggregate_id),
rd AS (SELECT aggregate_id, arg_max(value, okr_order_key(observed_at, position)) AS value,
              max(observed_at) AS observed_at
       FROM kpi_readings WHERE recorded_at <= $now AND observed_at <= $now
       GROUP BY aggregate_id)
SELECT kpi.key, kpi.name, kpi.owner, kpi.direction, kpi.green, kpi.red, kpi.cadence,
       kpi.retired, first.since::TIMESTAMP AS since, rd.value,
       rd.observed_at::TIMESTAMP AS observed_at
FROM kpi JOIN first ON first.aggregate_id = kpi.aggregate_id
LEFT JOIN rd ON rd.aggregate_id = kpi.aggregate_id
ORDER BY kpi.key
"""

# `okr list cycles|initiatives|kpis` at (as_of, known_at): each item's version in force then,
# as `scorecard_at` picks them (objectives and key results are listed from `scorecard_at`).
_IN_FORCE = ("okr_in_force(v.valid_from, v.valid_to, v.recorded_at, v.recorded_to, "
             "$as_of::TIMESTAMPTZ, $known::TIMESTAMPTZ)")

# The cycles, teams and owners a scorecard at (as_of, known_at) can be filtered by: those of
# the objectives scorecard_at shows (in force, in a cycle in force), without scoring them.
SCORECARD_CHOICES = f"""
SELECT DISTINCT v.cycle, v.team, v.owner FROM objective_versions v
WHERE {_IN_FORCE}
  AND v.cycle IN (SELECT c.key FROM cycle_versions c
                  WHERE okr_in_force(c.valid_from, c.valid_to, c.recorded_at, c.recorded_to,
                                     $as_of::TIMESTAMPTZ, $known::TIMESTAMPTZ))
"""

# Where one key result sits at (as_of, known_at): its objective's cycle and team, for the
# objectives scorecard_at shows (key result in force and not removed, objective in force, in
# a cycle in force); no row: the scorecard has no such key result then.
KEY_RESULT_PLACE = f"""
SELECT o.cycle, o.team FROM key_result_versions v
JOIN objective_versions o ON o.key = v.objective
WHERE v.key = $key AND NOT v.removed AND {_IN_FORCE}
  AND okr_in_force(o.valid_from, o.valid_to, o.recorded_at, o.recorded_to,
                   $as_of::TIMESTAMPTZ, $known::TIMESTAMPTZ)
  AND o.cycle IN (SELECT c.key FROM cycle_versions c
                  WHERE okr_in_force(c.valid_from, c.valid_to, c.recorded_at, c.recorded_to,
                                     $as_of::TIMESTAMPTZ, $known::TIMESTAMPTZ))
"""

LIST_CYCLES = f"""
WITH obj AS (SELECT v.cycle, count(*) AS n FROM objective_versions v WHERE {_IN_FORCE}
             GROUP BY v.cycle)
SELECT v.key, v.start, v."end", v.timezone, v.status, v.committed_at,
       coalesce(obj.n, 0) AS objectives
FROM cycle_versions v LEFT JOIN obj ON obj.cycle = v.key
WHERE {_IN_FORCE}
ORDER BY v.start, v.key
"""

# An initiative's cycle and team are its key result's and that key result's objective's.
LIST_INITIATIVES = f"""
WITH kr AS (SELECT v.key, v.objective, v.cycle FROM key_result_versions v WHERE {_IN_FORCE}),
obj AS (SELECT v.key, v.team FROM objective_versions v WHERE {_IN_FORCE})
SELECT v.key, v.title, v.key_result, kr.objective, kr.cycle, obj.team, v.owner, v.status
FROM initiative_versions v LEFT JOIN kr ON kr.key = v.key_result
LEFT JOIN obj ON obj.key = kr.objective
WHERE {_IN_FORCE}
ORDER BY v.key
"""

# A KPI's latest reading at as_of as known at known_at (by observed time, then position, as
# `scorecard_at` takes it), its health and staleness then, the trend from the previous
# observation's reading to it (as ledger.views.trend) and how many readings it had.
LIST_KPIS = f"""
-- A reading observed before its KPI was in force (the first version's valid_from) counts in
-- no as-of view (Kpi.counts_at). Of the readings of one observed time the later recorded
-- holds (a correction): the trend compares the latest observation's with the previous
-- observation's, whatever order they were recorded in.
WITH since AS (SELECT aggregate_id, min(valid_from) AS since FROM kpi_versions
               GROUP BY aggregate_id),
per_time AS (
    SELECT r.aggregate_id, r.observed_at, count(*) AS readings,
           arg_max(r.value, r.position) AS value
    FROM kpi_readings r JOIN since USING (aggregate_id)
    WHERE r.recorded_at <= $known::TIMESTAMPTZ AND r.observed_at <= $as_of::TIMESTAMPTZ
      AND r.observed_at >= since.since
    GROUP BY r.aggregate_id, r.observed_at),
rd AS (
    SELECT aggregate_id, sum(readings) AS readings, max(observed_at) AS observed_at,
           max_by(value, observed_at, 2) AS last_two
    FROM per_time GROUP BY aggregate_id)
SELECT v.key, v.name, v.unit, v.direction, v.target, v.green, v.red, v.cadence, v.tags,
       v.owner, v.retired, rd.last_two[1] AS value, rd.observed_at,
       kpi_health_of(v.direction, v.green, v.red, rd.last_two[1]) AS health,
       rd.observed_at IS NULL
           OR epoch_us($as_of::TIMESTAMPTZ) - epoch_us(rd.observed_at)
              > kpi_period_us(v.cadence) AS stale,
       CASE WHEN coalesce(len(rd.last_two), 0) < 2 THEN NULL  -- none or one reading
            WHEN rd.last_two[1] = rd.last_two[2] THEN 'flat'
            WHEN (rd.last_two[1] > rd.last_two[2]) = (v.direction = 'up') THEN 'better'
            ELSE 'worse' END AS trend,
       coalesce(rd.readings, 0) AS readings
FROM kpi_versions v LEFT JOIN rd USING (aggregate_id)
WHERE {_IN_FORCE}
ORDER BY v.key
"""

# Objectives and key results carried forward from an earlier cycle (okr cycle carry): the
# origin their creation event names (ObjectiveAdded v2, KeyResultAdded v3).
CARRIED_FROM = """
SELECT aggregate_type, data->>'key' AS key, data->>'carried_from' AS origin FROM events
WHERE type IN ('ObjectiveAdded', 'KeyResultAdded') AND data->>'carried_from' IS NOT NULL
"""
