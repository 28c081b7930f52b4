-- Scoring and point-in-time macros. They mirror domain/scoring.py and domain/history.py line
-- for line (a differential test holds them equal); literals are written 0e0 / 1e0 so the
-- arithmetic stays in DOUBLE, as in Python.

-- Seconds from a to b, as timedelta.total_seconds() computes them (exact microseconds / 1e6).
CREATE OR REPLACE MACRO okr_seconds(a, b) AS (epoch_us(b) - epoch_us(a)) / 1000000e0;

CREATE OR REPLACE MACRO okr_toward(v, s, g) AS
    CASE WHEN g = s THEN (CASE WHEN v = g THEN 1e0 ELSE 0e0 END)
         ELSE greatest(0e0, least(1e0, (v - s) / (g - s))) END;

-- Credit for a threshold kind `short` units on the wrong side of its threshold: 1 when met,
-- else 0, or linear from 1 to 0 across a tolerance band (scoring.past_threshold).
CREATE OR REPLACE MACRO okr_past_threshold(short, tol) AS
    CASE WHEN short <= 0e0 THEN 1e0
         WHEN tol IS NULL THEN 0e0
         ELSE greatest(0e0, least(1e0, 1e0 - short / tol)) END;

-- 0–1 progress of a key result of this kind with value v (no value scores 0); tol is the
-- tolerance band of a threshold kind (NULL: none).
CREATE OR REPLACE MACRO kr_progress_of(kind, s, t, th, tol, v) AS
    CASE WHEN v IS NULL THEN 0e0
         WHEN kind IN ('increase', 'decrease', 'milestone') THEN okr_toward(v, s, t)
         WHEN kind = 'stay-above' THEN okr_past_threshold(t - v, tol)
         WHEN kind = 'stay-below' THEN okr_past_threshold(v - t, tol)
         WHEN kind = 'range' THEN okr_past_threshold(greatest(t - v, v - th), tol)
    END;

-- Share of the window [ws, we) elapsed at t, clamped to 0–1.
CREATE OR REPLACE MACRO okr_elapsed(ws, we, t) AS
    greatest(0e0, least(1e0, okr_seconds(ws, t) / okr_seconds(ws, we)));

-- The planned value at t: piecewise linear from start through the phases to the target.
CREATE OR REPLACE MACRO okr_plan_points(s, tg, phases, ws, we) AS
    list_concat([{'at': ws, 'value': s}], phases, [{'at': we, 'value': tg}]);
CREATE OR REPLACE MACRO okr_segment_value(p0, p1, t) AS
    p0.value + (p1.value - p0.value) * (CASE WHEN okr_seconds(p0.at, p1.at) <= 0 THEN 1e0
                                             ELSE okr_seconds(p0.at, t) / okr_seconds(p0.at, p1.at)
                                        END);
CREATE OR REPLACE MACRO okr_plan_value_at(pts, i, t) AS
    CASE WHEN t <= pts[1].at THEN pts[1].value
         WHEN i IS NULL THEN pts[len(pts)].value
         ELSE okr_segment_value(pts[i - 1], pts[i], t) END;
CREATE OR REPLACE MACRO okr_status(actual, expected) AS
    CASE WHEN expected - actual <= 0.1e0 + 1e-9 THEN 'on-track'
         WHEN expected - actual <= 0.25e0 + 1e-9 THEN 'at-risk'
         ELSE 'off-track' END;
-- The status (or track) at t of a key result (or objective) of a cycle ending at we: 'final'
-- once the cycle is over (its end is not in it) or while it is `closed` at t, even early
-- (scoring.final; docs/scoring.md#grades), else okr_status (scoring.status).
CREATE OR REPLACE MACRO okr_status_at(actual, expected, t, we, closed := false) AS
    CASE WHEN t >= we OR coalesce(closed, false) THEN 'final'
         ELSE okr_status(actual, expected) END;

CREATE OR REPLACE MACRO okr_succeeded(okr_type, score) AS
    CASE WHEN score IS NULL THEN NULL
         WHEN okr_type = 'committed' THEN score >= 1e0 - 1e-9
         WHEN okr_type = 'aspirational' THEN score >= 0.7e0 - 1e-9
         ELSE NULL END;

CREATE OR REPLACE MACRO kpi_health_of(direction, green, red, v) AS
    CASE WHEN v IS NULL THEN NULL
         WHEN direction = 'up' THEN
              CASE WHEN v < red THEN 'red' WHEN v < green THEN 'amber' ELSE 'green' END
         ELSE CASE WHEN v > red THEN 'red' WHEN v > green THEN 'amber' ELSE 'green' END END;

-- A KPI is stale when its latest reading is older than one cadence period.
CREATE OR REPLACE MACRO kpi_period_us(cadence) AS
    86400000000 * (CASE cadence WHEN 'daily' THEN 1 WHEN 'weekly' THEN 7
                                WHEN 'monthly' THEN 31 ELSE 92 END);

-- Order by time, then position, as one number (positions stay below 10^10).
CREATE OR REPLACE MACRO okr_order_key(t, position) AS
    epoch_us(t)::HUGEINT * 10000000000 + position;

-- Whether a version row is the one in force at valid time t as known at transaction time k.
-- A version is in force from its valid_from (its event's effective time: a plan typed while
-- the cycle was in planning is in force from the cycle's start; a change with --effective
-- from then) and known from its recorded_at; both only grow along an item's versions, so the
-- row in force is the last one in force and known, the next being later in either time.
CREATE OR REPLACE MACRO okr_in_force(valid_from, valid_to, recorded_at, recorded_to, t, k) AS
    valid_from <= t AND recorded_at <= k
    AND (valid_to IS NULL OR valid_to > t OR recorded_to > k);

-- Which version of an item to score a fact at t against: the latest in force at t (positive
-- key), else — for a fact back-dated before the item existed — its first version.
CREATE OR REPLACE MACRO okr_version_preference(valid_from, version, t) AS
    CASE WHEN valid_from <= t THEN version ELSE -version END;

-- Point in time, in layers an analyst can call alone and `Projection.scorecard_at` calls in
-- parts: the objectives in force (`objectives_at`), the key results in force with what they
-- are scored from (`key_result_inputs`), those scored (`key_results_at`), and the scorecard
-- (`scorecard_at`: objectives with their key results, scores and roll-ups). Times are written
-- `as_of::TIMESTAMPTZ` where they are compared, so that literals fold into constants DuckDB
-- can test against each row group's zone map.

-- The objectives in force at `as_of` (valid time) as known at `known_at` (transaction time),
-- in a cycle in force, with the cycle's window (ws, we) and whether it is closed then
-- (`cycle_closed`: its tracks say final, okr_status_at). `only_cycle`, `only_team` and
-- `only_owner` (NULL: all) keep the objectives of one cycle, team or owner (`shown`) and the
-- objectives aligned below them in their cycle, whose scores their roll-ups read (`shown`
-- false); one aligned to a parent in another cycle counts in no roll-up of that cycle.
CREATE OR REPLACE MACRO objectives_at(as_of, known_at, only_cycle := NULL, only_team := NULL,
                                      only_owner := NULL) AS TABLE
WITH RECURSIVE cyc AS (
    SELECT v.* FROM cycle_versions v
    WHERE okr_in_force(v.valid_from, v.valid_to, v.recorded_at, v.recorded_to,
                       as_of::TIMESTAMPTZ, known_at::TIMESTAMPTZ)),
obj_all AS (SELECT v.* FROM objective_versions v
            WHERE okr_in_force(v.valid_from, v.valid_to, v.recorded_at, v.recorded_to,
                               as_of::TIMESTAMPTZ, known_at::TIMESTAMPTZ)
              AND v.cycle IN (SELECT key FROM cyc)),
picked AS (SELECT key, cycle FROM obj_all
           WHERE (only_cycle IS NULL OR cycle = only_cycle)
             AND (only_team IS NULL OR team = only_team)
             AND (only_owner IS NULL OR owner = only_owner)),
-- Every objective aligned below those in their cycle (UNION: each once, so a stored alignment
-- cycle ends).
below AS (SELECT key, cycle FROM picked
          UNION
          SELECT o.key, o.cycle FROM below JOIN obj_all o
              ON o.parent = below.key AND o.cycle = below.cycle)
SELECT o.cycle, o.key AS objective, o.title AS objective_title, o.owner, o.team, o.level,
       o.okr_type, o.parent, o.status AS objective_status,
       o.key IN (SELECT key FROM picked) AS shown, cyc.start AS ws, cyc."end" AS we,
       cyc.status = 'closed' AS cycle_closed
FROM obj_all o JOIN cyc ON o.cycle = cyc.key
WHERE o.key IN (SELECT key FROM below);

-- The key results in force at (as_of, known_at), not removed, under the objectives listed in
-- `only_objectives` (NULL: under any), each with its plan, its latest check-in and its KPI in
-- force with that KPI's latest reading: what a key result is scored from; `kr_position` is the
-- position of the event that made the key result's version in force. A key result's check-in
-- and reading are the latest at `until`, the earlier of as_of and its cycle's end: a finished
-- cycle's key results keep the values they ended it with (docs/scoring.md). As of t includes
-- t, a cycle's end is not in it (`past_end`: until is the end, and read before it); a KPI's
-- reading observed before the KPI was in force (its first version's valid_from) counts in no
-- view (Kpi.counts_at).
CREATE OR REPLACE MACRO key_result_inputs(as_of, known_at, only_objectives := NULL) AS TABLE
-- The objectives in force whose cycle in force ended by as_of (at its end instant too), with
-- that end.
WITH ended AS (SELECT o.key AS objective, c."end"
               FROM objective_versions o JOIN cycle_versions c ON c.key = o.cycle
               WHERE okr_in_force(o.valid_from, o.valid_to, o.recorded_at, o.recorded_to,
                                  as_of::TIMESTAMPTZ, known_at::TIMESTAMPTZ)
                 AND okr_in_force(c.valid_from, c.valid_to, c.recorded_at, c.recorded_to,
                                  as_of::TIMESTAMPTZ, known_at::TIMESTAMPTZ)
                 AND c."end" <= as_of::TIMESTAMPTZ),
kr AS (SELECT v.*, coalesce(ended."end", as_of::TIMESTAMPTZ) AS until,
              ended."end" IS NOT NULL AS past_end
       FROM key_result_versions v LEFT JOIN ended ON ended.objective = v.objective
       WHERE okr_in_force(v.valid_from, v.valid_to, v.recorded_at, v.recorded_to,
                          as_of::TIMESTAMPTZ, known_at::TIMESTAMPTZ)
         AND NOT v.removed
         AND (only_objectives IS NULL OR list_contains(only_objectives, v.objective))),
-- KPIs in force that measure one of those key results.
kpi AS (SELECT v.* FROM kpi_versions v
        WHERE okr_in_force(v.valid_from, v.valid_to, v.recorded_at, v.recorded_to,
                           as_of::TIMESTAMPTZ, known_at::TIMESTAMPTZ)
          AND v.key IN (SELECT kpi FROM kr)),
-- When each KPI came into force: its first version's valid time (valid_from only grows).
since AS (SELECT aggregate_id, min(valid_from) AS since FROM kpi_versions
          WHERE aggregate_id IN (SELECT aggregate_id FROM kpi) GROUP BY aggregate_id),
-- Each KPI with each instant a key result it measures reads it at (before it, past_end).
need AS (SELECT DISTINCT kpi.aggregate_id, kr.until, kr.past_end, since.since
         FROM kr JOIN kpi ON kpi.key = kr.kpi
         JOIN since ON since.aggregate_id = kpi.aggregate_id),
-- The latest check-in and reading of each item (by effective time, then position): an
-- aggregate, not a window (that would sort every reading of the history), over one number
-- (unique: both pick the same check-in; two of them cost less than one of a struct). A
-- check-in's confidence may be NULL: arg_max skips NULL values and would take an older
-- check-in's confidence instead, arg_max_null keeps the latest one's NULL.
ci AS (SELECT c.aggregate_id,
              arg_max(c.value, okr_order_key(c.effective_at, c.position)) AS value,
              arg_max_null(c.confidence, okr_order_key(c.effective_at, c.position))
                  AS confidence
       FROM check_ins c JOIN kr ON kr.aggregate_id = c.aggregate_id
       WHERE c.recorded_at <= known_at::TIMESTAMPTZ AND c.effective_at <= as_of::TIMESTAMPTZ
         AND (NOT kr.past_end OR c.effective_at < kr.until)
       GROUP BY c.aggregate_id),
-- Readings are stored in the order they were recorded, so their observation times rise
-- along the table (a late one a little out of place): the latest reading of a KPI is looked
-- for first among those observed in the last 8 days, whose row groups DuckDB's zone maps pick
-- out without reading the rest; only the KPIs with none there (read rarely, or not since) are
-- looked up among the earlier ones. (A cycle that ended 8 days ago or less is looked for in
-- kpi_readings_at_ends; a reading observed up to 8 days before its end is in both.)
rd_recent AS (SELECT r.aggregate_id,
                     arg_max(r.value, okr_order_key(r.observed_at, r.position)) AS value,
                     max(r.observed_at) AS observed_at
              FROM kpi_readings r JOIN need n ON n.aggregate_id = r.aggregate_id
                                              AND NOT n.past_end
              WHERE r.recorded_at <= known_at::TIMESTAMPTZ
                AND r.observed_at <= as_of::TIMESTAMPTZ
                AND r.observed_at > as_of::TIMESTAMPTZ - INTERVAL 8 DAY
                AND r.observed_at >= n.since
              GROUP BY r.aggregate_id),
-- A finished cycle's KPIs (read at its end): among the readings of the 8 days before it,
-- which kpi_readings_at_ends holds for each cycle end.
rd_ended AS (SELECT n.aggregate_id, n.until, n.past_end,
                    arg_max(r.value, okr_order_key(r.observed_at, r.position)) AS value,
                    max(r.observed_at) AS observed_at
             FROM kpi_readings_at_ends r
             JOIN need n ON n.aggregate_id = r.aggregate_id AND n.until = r.cycle_end
                        AND n.past_end
             WHERE r.recorded_at <= known_at::TIMESTAMPTZ AND r.cycle_end <= as_of::TIMESTAMPTZ
               AND r.observed_at < r.cycle_end AND r.observed_at >= n.since
             GROUP BY n.aggregate_id, n.until, n.past_end),
rd_found AS (SELECT aggregate_id, as_of::TIMESTAMPTZ AS until, false AS past_end, value,
                    observed_at
             FROM rd_recent
             UNION ALL
             SELECT * FROM rd_ended),
rd_missing AS (SELECT n.* FROM need n
               LEFT JOIN rd_found x ON x.aggregate_id = n.aggregate_id AND x.until = n.until
                                   AND x.past_end = n.past_end
               WHERE x.aggregate_id IS NULL),
rd AS (SELECT * FROM rd_found
       UNION ALL
       SELECT n.aggregate_id, n.until, n.past_end,
              arg_max(r.value, okr_order_key(r.observed_at, r.position)) AS value,
              max(r.observed_at) AS observed_at
       FROM kpi_readings r JOIN rd_missing n ON n.aggregate_id = r.aggregate_id
       WHERE r.recorded_at <= known_at::TIMESTAMPTZ
         AND r.observed_at <= as_of::TIMESTAMPTZ - INTERVAL 8 DAY
         AND r.observed_at <= n.until - INTERVAL 8 DAY
         AND r.observed_at >= n.since
       GROUP BY n.aggregate_id, n.until, n.past_end)
SELECT kr.key AS key_result, kr.objective, kr.title AS kr_title, kr.kind, kr.start, kr.target,
       kr.target_high, kr.tolerance, kr.unit, kr.weight, kr.phases, kr.kpi,
       ci.value AS check_in_value, ci.confidence AS check_in_confidence,
       kpi.key IS NOT NULL AS has_kpi, kpi.direction, kpi.green, kpi.red, kpi.cadence,
       rd.value AS reading_value, rd.observed_at AS reading_observed_at,
       kr.position AS kr_position, kr.until
FROM kr
LEFT JOIN ci ON ci.aggregate_id = kr.aggregate_id
LEFT JOIN kpi ON kr.kpi = kpi.key
LEFT JOIN rd ON rd.aggregate_id = kpi.aggregate_id AND rd.until = kr.until
             AND rd.past_end = kr.past_end;

-- The key results in force at (as_of, known_at) under an objective in force in a cycle in
-- force (under `only_objectives`, NULL: any), scored (domain/scoring.py, line for line): value,
-- progress, expected, status, confidence, KPI health and staleness; `kr_position` as
-- `key_result_inputs` gives it.
CREATE OR REPLACE MACRO key_results_at(as_of, known_at, only_objectives := NULL) AS TABLE
WITH krc AS (
    SELECT i.kr_position, i.key_result AS key, i.objective, i.kr_title AS title, i.kind, i.start,
           i.target,
           i.target_high, i.tolerance, i.unit, i.weight, i.phases, i.kpi, c.start AS ws,
           c."end" AS we, c.status = 'closed' AS cycle_closed,
           CASE WHEN i.has_kpi THEN i.reading_value ELSE i.check_in_value END AS value,
           CASE WHEN i.has_kpi THEN NULL ELSE i.check_in_confidence END AS confidence,
           kpi_health_of(i.direction, i.green, i.red, i.reading_value) AS kpi_health,
           CASE WHEN i.has_kpi THEN i.reading_observed_at IS NULL
                OR epoch_us(i.until) - epoch_us(i.reading_observed_at)
                   > kpi_period_us(i.cadence) END AS kpi_stale
    FROM key_result_inputs(as_of, known_at, only_objectives := only_objectives) i
    JOIN objective_versions o ON o.key = i.objective
    JOIN cycle_versions c ON c.key = o.cycle
    WHERE okr_in_force(o.valid_from, o.valid_to, o.recorded_at, o.recorded_to,
                       as_of::TIMESTAMPTZ, known_at::TIMESTAMPTZ)
      AND okr_in_force(c.valid_from, c.valid_to, c.recorded_at, c.recorded_to,
                       as_of::TIMESTAMPTZ, known_at::TIMESTAMPTZ)),
-- Staged so each expression is expanded once (nested macros would multiply the plan).
pts AS (SELECT krc.*, as_of::TIMESTAMPTZ AS t_as_of,
               CASE WHEN len(phases) > 0 THEN okr_plan_points(start, target, phases, ws, we)
               END AS points
        FROM krc),
seg AS (SELECT pts.*,
               list_filter(range(2, len(points) + 1), lambda i: t_as_of <= points[i].at)[1]
                   AS segment
        FROM pts),
planned AS (SELECT seg.*, CASE WHEN points IS NOT NULL
                               THEN okr_plan_value_at(points, segment, t_as_of) END AS plan_value
            FROM seg),
scored AS (SELECT planned.*,
                  kr_progress_of(kind, start, target, target_high, tolerance, value) AS progress,
                  CASE WHEN kind IN ('stay-above', 'stay-below', 'range') THEN 1e0
                       WHEN points IS NULL THEN okr_elapsed(ws, we, t_as_of)
                       ELSE kr_progress_of(kind, start, target, target_high, NULL, plan_value)
                  END AS expected
           FROM planned)
SELECT key AS key_result, objective, title AS kr_title, kind, start, target, target_high,
       tolerance, unit, weight, value, progress, expected,
       okr_status_at(progress, expected, t_as_of, we, closed := cycle_closed) AS status,
       confidence, kpi, kpi_health,
       kpi_stale, kr_position
FROM scored;

-- What the scorecard as of `as_of` as known at `known_at` is scored from, unscored: one row
-- per key result in force, with its objective's and cycle's columns (objectives without key
-- results get one row whose key-result columns are NULL) — `objectives_at` with the
-- `key_result_inputs` under each objective; `only_cycle`, `only_team`, `only_owner` as
-- `objectives_at` takes them.
CREATE OR REPLACE MACRO scorecard_inputs(as_of, known_at, only_cycle := NULL,
                                         only_team := NULL, only_owner := NULL) AS TABLE
WITH obj AS (SELECT * FROM objectives_at(as_of, known_at, only_cycle := only_cycle,
                                         only_team := only_team, only_owner := only_owner))
SELECT obj.cycle, obj.objective, obj.objective_title, obj.owner, obj.team, obj.level,
       obj.okr_type, obj.parent, obj.objective_status, obj.shown, obj.ws, obj.we,
       i.key_result, i.kr_title, i.kind, i.start, i.target, i.target_high, i.tolerance, i.unit,
       i.weight, i.phases, i.kpi, i.check_in_value, i.check_in_confidence, i.has_kpi,
       i.direction, i.green, i.red, i.cadence, i.reading_value, i.reading_observed_at
FROM obj
LEFT JOIN key_result_inputs(as_of, known_at,
                            only_objectives := (SELECT list(objective) FROM obj)) i
       ON i.objective = obj.objective
ORDER BY obj.cycle, obj.objective, i.key_result NULLS FIRST;

-- The scorecard as of `as_of` as known at `known_at`, scored (domain/scoring.py and
-- domain/rollup.py, line for line): one row per key result in force, with its objective's
-- columns and scores (objectives without key results get one row whose key-result columns are
-- NULL); `only_cycle`, `only_team`, `only_owner` as `objectives_at` takes them.
CREATE OR REPLACE MACRO scorecard_at(as_of, known_at, only_cycle := NULL, only_team := NULL,
                                     only_owner := NULL) AS TABLE
WITH RECURSIVE obj AS (
    SELECT * FROM objectives_at(as_of, known_at, only_cycle := only_cycle,
                                only_team := only_team, only_owner := only_owner)),
s AS (SELECT * FROM key_results_at(as_of, known_at,
                                   only_objectives := (SELECT list(objective) FROM obj))),
card AS (SELECT obj.cycle, obj.objective, obj.objective_title, obj.owner, obj.team, obj.level,
                obj.okr_type, obj.parent, obj.objective_status, obj.we, obj.cycle_closed,
                CASE WHEN sum(s.weight) OVER o > 0
                     THEN sum(s.progress * s.weight) OVER o / sum(s.weight) OVER o END
                    AS objective_score,
                CASE WHEN sum(s.weight) OVER o > 0
                     THEN sum(s.expected * s.weight) OVER o / sum(s.weight) OVER o END
                    AS objective_expected,
                s.key_result, s.kr_title, s.kind, s.start, s.target, s.target_high,
                s.tolerance, s.unit, s.weight, s.value, s.progress, s.expected, s.status,
                s.confidence, s.kpi, s.kpi_health, s.kpi_stale
         FROM obj
         LEFT JOIN s ON s.objective = obj.objective
         WINDOW o AS (PARTITION BY obj.objective)),
-- Roll-ups (domain/rollup.py; docs/scoring.md): an objective's roll-up is the weighted mean of
-- its own key results (their weights) and its counted children's roll-ups (weight 1 each; a
-- child counts when it is of its parent's cycle, has a roll-up and is neither learning nor
-- abandoned). Unfolded: the
-- roll-up of `top` is the sum over every objective `node` of its counted subtree of
-- (own weighted progress of node) × Π 1/D(n) along the path top … node, where D(n) is n's own
-- key-result weight plus its number of counted children.
own AS (SELECT objective, any_value(cycle) AS cycle, any_value(parent) AS parent,
               any_value(okr_type) AS okr_type,
               any_value(objective_status) AS objective_status,
               coalesce(sum(weight), 0e0) AS w, coalesce(sum(weight * progress), 0e0) AS s,
               coalesce(sum(weight * expected), 0e0) AS e
        FROM card GROUP BY objective),
edge AS (SELECT c.parent AS up, c.objective AS down FROM own c JOIN own u ON u.objective = c.parent
         WHERE c.parent <> c.objective AND c.cycle = u.cycle AND c.okr_type <> 'learning'
           AND c.objective_status <> 'abandoned'),
-- The objectives with a roll-up: those with key-result weight of their own, and every parent
-- of one through a counted edge (UNION: each once, so a stored alignment cycle ends).
has AS (SELECT objective AS node FROM own WHERE w > 0e0
        UNION
        SELECT edge.up FROM has JOIN edge ON edge.down = has.node),
denom AS (SELECT own.objective, own.w + count(has.node) AS d
          FROM own LEFT JOIN edge ON edge.up = own.objective
          LEFT JOIN has ON has.node = edge.down
          GROUP BY own.objective, own.w),
-- Every objective with a roll-up below `top`, with Π 1/D along the path. An alignment cycle or
-- a chain deeper than MAX_ALIGNMENT_DEPTH (domain/objective.py; both refused when recorded,
-- possible only in ledgers written before those checks) is cut where it closes or at 33.
flow AS (SELECT objective AS top, objective AS node, 1e0 / d AS f, [objective] AS path
         FROM denom WHERE d > 0e0
         UNION ALL
         SELECT flow.top, edge.down, flow.f / below.d, list_append(flow.path, edge.down)
         FROM flow JOIN edge ON edge.up = flow.node
         JOIN denom below ON below.objective = edge.down
         WHERE below.d > 0e0 AND NOT list_contains(flow.path, edge.down)
           AND len(flow.path) <= 32),
rolled AS (SELECT flow.top AS objective, sum(flow.f * own.s) AS rollup,
                  sum(flow.f * own.e) AS rollup_expected
           FROM flow JOIN own ON own.objective = flow.node
           GROUP BY flow.top)
SELECT cycle, objective, objective_title, owner, team, level, okr_type, parent,
       objective_status, objective_score, objective_expected,
       CASE WHEN objective_score IS NOT NULL AND objective_expected IS NOT NULL
            THEN okr_status_at(objective_score, objective_expected, as_of::TIMESTAMPTZ, we,
                               closed := cycle_closed)
       END AS objective_track,
       okr_succeeded(okr_type, objective_score) AS succeeded,
       rolled.rollup AS objective_rollup, rolled.rollup_expected AS objective_rollup_expected,
       CASE WHEN rolled.rollup IS NOT NULL
            THEN okr_status_at(rolled.rollup, rolled.rollup_expected, as_of::TIMESTAMPTZ, we,
                               closed := cycle_closed)
       END AS objective_rollup_track,
       key_result, kr_title, kind, start, target, target_high, tolerance, unit, weight, value,
       progress,
       expected, status, confidence, kpi, kpi_health, kpi_stale
FROM card LEFT JOIN rolled USING (objective)
WHERE objective IN (SELECT objective FROM obj WHERE shown)
ORDER BY cycle, objective, key_result NULLS FIRST;

-- Every check-in of the cycle's key results, scored against the plan in force at its
-- effective time (as known now): the progress-over-time series of a retrospective.
CREATE OR REPLACE MACRO kr_progress(cycle_key) AS TABLE
WITH c AS (
    SELECT c.*, kr.objective, kr.kind, kr.start, kr.target, kr.target_high, kr.tolerance,
           kr.phases,
           kr.cycle
    FROM check_ins c
    JOIN key_result_versions kr ON kr.aggregate_id = c.aggregate_id
    WHERE kr.cycle = cycle_key
    QUALIFY row_number() OVER (PARTITION BY c.position ORDER BY
                               okr_version_preference(kr.valid_from, kr.version,
                                                      c.effective_at) DESC) = 1
),
pts AS (SELECT c.*, cy.start AS ws, cy."end" AS we,
               CASE WHEN len(c.phases) > 0
                    THEN okr_plan_points(c.start, c.target, c.phases, cy.start, cy."end")
               END AS points
        FROM c JOIN cycle_versions cy ON cy.key = c.cycle AND cy.valid_to IS NULL),
seg AS (SELECT *, list_filter(range(2, len(points) + 1),
                              lambda i: effective_at <= points[i].at)[1] AS segment FROM pts),
scored AS (
    SELECT *, kr_progress_of(kind, start, target, target_high, tolerance, value) AS progress,
           CASE WHEN kind IN ('stay-above', 'stay-below', 'range') THEN 1e0
                WHEN points IS NULL THEN okr_elapsed(ws, we, effective_at)
                ELSE kr_progress_of(kind, start, target, target_high, NULL,
                                    okr_plan_value_at(points, segment, effective_at))
           END AS expected
    FROM seg)
SELECT key_result, objective, effective_at, recorded_at, value, confidence, target, progress,
       expected, okr_status(progress, expected) AS status, actor, position
FROM scored
ORDER BY key_result, effective_at, position;

-- A KPI's readings, each with its health under the thresholds in force when it was observed.
CREATE OR REPLACE MACRO kpi_series(kpi_key) AS TABLE
SELECT r.kpi, r.observed_at, r.recorded_at, r.value, r.source, r.reading_id, k.green, k.red,
       k.direction, kpi_health_of(k.direction, k.green, k.red, r.value) AS health, r.position
FROM kpi_readings r
JOIN kpi_versions k ON k.aggregate_id = r.aggregate_id
WHERE r.kpi = kpi_key
QUALIFY row_number() OVER (PARTITION BY r.position ORDER BY
                           okr_version_preference(k.valid_from, k.version, r.observed_at)
                           DESC) = 1
ORDER BY r.observed_at, r.position;
