"""The SQL of the projection's reads (reviews, the scorecard's columns), kept apart from the
code that runs it (`store.py`)."""


# The items a cycle's review depends on (domain.history.cycle_dependencies, in SQL, over the
# version tables): the cycle, its objectives, every key result ever under them, every KPI
# ever linked to those, and the KPIs ever tagged guardrail.
REVIEW_ITEMS = """
CREATE OR REPLACE TEMP TABLE review_items AS
WITH objectives AS (SELECT DISTINCT aggregate_id, key FROM objective_versions WHERE cycle = $1),
krs AS (SELECT DISTINCT aggregate_id, kpi FROM key_result_versions
        WHERE objective IN (SELECT key FROM objectives))
SELECT DISTINCT aggregate_id FROM cycle_versions WHERE key = $1
UNION SELECT aggregate_id FROM objectives
UNION SELECT aggregate_id FROM krs
UNION SELECT aggregate_id FROM kpi_versions WHERE key IN (SELECT kpi FROM krs)
UNION SELECT aggregate_id FROM kpi_versions WHERE list_contains(tags, 'guardrail')
"""

# scorecard_at's columns → the keys of domain.history.scorecard's cards and key results.
CARD_COLUMNS = {"key": "objective", "title": "objective_title", "cycle": "cycle",
                 "owner": "owner", "team": "team", "level": "level", "okr_type": "okr_type",
                 "parent": "parent", "status": "objective_status", "score": "objective_score",
                 "expected": "objective_expected", "track": "objective_track",
                 "succeeded": "succeeded"}
KR_COLUMNS = {"key": "key_result", "objective": "objective", "title": "kr_title",
               "kind": "kind", "start": "start", "target": "target",
               "target_high": "target_high", "tolerance": "tolerance", "unit": "unit",
               "weight": "weight",
               "value": "value", "progress": "progress", "expected": "expected",
               "status": "status", "confidence": "confidence", "kpi": "kpi",
               "kpi_health": "kpi_health", "kpi_stale": "kpi_stale"}

REVIEW_READINGS = """
WITH carried AS (
    SELECT aggregate_id, max((observed_at, position)) AS latest FROM kpi_readings
    WHERE aggregate_id IN (SELECT aggregate_id FROM review_items)
      AND observed_at < $carry AND recorded_at <= $carry
    GROUP BY aggregate_id)
SELECT position, aggregate_id, version, 'KpiReadingRecorded', recorded_at::TIMESTAMP,
       observed_at::TIMESTAMP, actor, value, source, reading_id
FROM kpi_readings r LEFT JOIN carried c USING (aggregate_id)
WHERE aggregate_id IN (SELECT aggregate_id FROM review_items) AND recorded_at <= $known
  AND observed_at <= $until
  AND (observed_at >= $carry OR recorded_at > $carry OR (observed_at, position) = c.latest)
ORDER BY position
"""

# `okr history KEY`: a key result's revisions and its check-ins.
KR_REVISIONS = (
    "SELECT version, valid_from AS at, change, objective, kind, start, target, target_high, "
    "weight, kpi, removed, plan_revision, actor, reason "
    "FROM key_result_versions WHERE key = ? ORDER BY version")
KR_CHECK_INS = (
    "SELECT effective_at, recorded_at, value, confidence, note, actor, source, position "
    "FROM check_ins WHERE key_result = ? ORDER BY effective_at, position")
