-- What each table, column and macro of the projection holds, as DuckDB comments, so that
-- duckdb_tables(), duckdb_columns() and duckdb_functions() explain the file to whoever opens
-- it. The version tables' comments are written by tables.py (version_comments). A test checks
-- that every table, column and macro has one. Longer explanations: docs/schema.md.

COMMENT ON TABLE events IS 'Every event of okr.ledger once (deduplicated on aggregate_id + version), in its envelope: the source of every other table.';
COMMENT ON COLUMN events.position IS 'The event''s position in the event store: the order of the hash chain.';
COMMENT ON COLUMN events.event_id IS 'The event''s own id (UUID).';
COMMENT ON COLUMN events.type IS 'Event type, past tense (CheckInRecorded, KeyResultRevised, …).';
COMMENT ON COLUMN events.aggregate_type IS 'Kind of item: cycle, objective, key_result, initiative or kpi.';
COMMENT ON COLUMN events.aggregate_id IS 'The item''s id (uuid5 of kind:key; the aggregates table gives the key).';
COMMENT ON COLUMN events.version IS 'The item''s version after this event (1 for the event that created it).';
COMMENT ON COLUMN events.recorded_at IS 'Transaction time: when the ledger recorded the event (UTC).';
COMMENT ON COLUMN events.effective_at IS 'Valid time: when the fact was true or in force (UTC).';
COMMENT ON COLUMN events.actor IS 'Who recorded the event: the authenticated account, web user or ingest:TOPIC.';
COMMENT ON COLUMN events.on_behalf_of IS 'Whom the actor said they recorded the event for (--on-behalf-of): a claim, not an identity; NULL if nobody was named.';
COMMENT ON COLUMN events.reason IS 'The reason given for the change (required for plan revisions after commit); NULL if none.';
COMMENT ON COLUMN events.data IS 'The event''s fields as JSON (docs/envelope.md).';
COMMENT ON COLUMN events.prev_hash IS 'Hash of the previous event in the chain (hex SHA-256).';
COMMENT ON COLUMN events.hash IS 'This event''s hash: sha256(prev_hash and the canonical envelope), hex.';
COMMENT ON COLUMN events.kafka_partition IS 'okr.ledger partition the event was read from.';
COMMENT ON COLUMN events.kafka_offset IS 'Offset in that partition.';

COMMENT ON TABLE check_ins IS 'One row per check-in on a key result: the value at its effective time, and when it was recorded.';
COMMENT ON COLUMN check_ins.aggregate_id IS 'The key result''s id.';
COMMENT ON COLUMN check_ins.key_result IS 'The key result''s key.';
COMMENT ON COLUMN check_ins.position IS 'Position of the CheckInRecorded event.';
COMMENT ON COLUMN check_ins.version IS 'The key result''s version after the check-in.';
COMMENT ON COLUMN check_ins.effective_at IS 'When the value was true (valid time; may be back-dated inside the cycle).';
COMMENT ON COLUMN check_ins.recorded_at IS 'When the check-in was recorded (transaction time).';
COMMENT ON COLUMN check_ins.value IS 'The key result''s value, in its unit.';
COMMENT ON COLUMN check_ins.confidence IS 'The owner''s confidence 0-1 of reaching the target; NULL if not given.';
COMMENT ON COLUMN check_ins.note IS 'Free text given with the check-in.';
COMMENT ON COLUMN check_ins.actor IS 'Who checked in.';
COMMENT ON COLUMN check_ins.on_behalf_of IS 'Whom the actor checked in for (--on-behalf-of); NULL if nobody was named.';
COMMENT ON COLUMN check_ins.source IS 'How the value was obtained (manual, import:FILE, …); NULL before event version 2.';

COMMENT ON TABLE kpi_readings IS 'One row per KPI reading: the value observed, when, and where it came from.';
COMMENT ON COLUMN kpi_readings.aggregate_id IS 'The KPI''s id.';
COMMENT ON COLUMN kpi_readings.kpi IS 'The KPI''s key.';
COMMENT ON COLUMN kpi_readings.position IS 'Position of the KpiReadingRecorded event.';
COMMENT ON COLUMN kpi_readings.version IS 'The KPI''s version after the reading.';
COMMENT ON COLUMN kpi_readings.observed_at IS 'When the value was observed (valid time).';
COMMENT ON COLUMN kpi_readings.recorded_at IS 'When the reading was recorded (transaction time).';
COMMENT ON COLUMN kpi_readings.value IS 'The observed value, in the KPI''s unit.';
COMMENT ON COLUMN kpi_readings.source IS 'Where the reading came from (manual, a feed, import:FILE).';
COMMENT ON COLUMN kpi_readings.reading_id IS 'The feed''s own id of the reading (deduplicates a feed''s resends); NULL if none.';
COMMENT ON COLUMN kpi_readings.actor IS 'Who recorded the reading (ingest:TOPIC for a feed).';
COMMENT ON COLUMN kpi_readings.on_behalf_of IS 'Whom the actor recorded the reading for (--on-behalf-of); NULL if nobody was named.';

COMMENT ON TABLE consumer_offsets IS 'Bookkeeping of the projection consumer: the next okr.ledger offset per partition, committed with the rows.';
COMMENT ON COLUMN consumer_offsets.topic IS 'The Kafka topic read (okr.ledger).';
COMMENT ON COLUMN consumer_offsets.partition IS 'Partition of the topic.';
COMMENT ON COLUMN consumer_offsets.next_offset IS 'The next offset to read in that partition.';
COMMENT ON COLUMN consumer_offsets.updated_at IS 'When the offset was last committed.';
COMMENT ON TABLE consumer_dead_letters IS 'Bookkeeping of the projection consumer: the records it sent to okr.dead-letter at or past its stored next offset (a record still waiting at the gate before them keeps that offset back), so it does not send them again when it reads them again.';
COMMENT ON COLUMN consumer_dead_letters.topic IS 'The Kafka topic read (okr.ledger).';
COMMENT ON COLUMN consumer_dead_letters.partition IS 'Partition of the topic.';
COMMENT ON COLUMN consumer_dead_letters.kafka_offset IS 'Offset of the dead-lettered record in that partition.';

COMMENT ON TABLE aggregates IS 'The key of every item, by id.';
COMMENT ON COLUMN aggregates.aggregate_id IS 'The item''s id (uuid5 of kind:key).';
COMMENT ON COLUMN aggregates.aggregate_type IS 'Kind of item: cycle, objective, key_result, initiative or kpi.';
COMMENT ON COLUMN aggregates.key IS 'The key people type (2026-Q4, rev-2x, kr-conv, wau).';

COMMENT ON TABLE projection_meta IS 'Bookkeeping: the layout version of this file and a digest of the code that set it up.';
COMMENT ON COLUMN projection_meta.schema_version IS 'Layout version (a file of another version is rebuilt from okr.ledger).';
COMMENT ON COLUMN projection_meta.digest IS 'Digest of the tables and macros of the code that set the file up.';

COMMENT ON MACRO okr_seconds IS 'Seconds from a to b, exactly as Python''s timedelta.total_seconds().';
COMMENT ON MACRO okr_toward IS 'Share 0-1 of the way from start s to goal g that value v has gone.';
COMMENT ON MACRO okr_past_threshold IS 'Credit of a threshold kind short units on the wrong side: 1 when met, else 0 or linear across a tolerance band.';
COMMENT ON MACRO kr_progress_of IS 'A key result''s 0-1 progress: kr_progress_of(kind, start, target, target_high, tolerance, value).';
COMMENT ON MACRO okr_elapsed IS 'Share 0-1 of the window [ws, we) elapsed at t.';
COMMENT ON MACRO okr_plan_points IS 'The planned path of a key result: start, its phases, then its target, as (at, value) points.';
COMMENT ON MACRO okr_segment_value IS 'The planned value at t on the straight line between two plan points.';
COMMENT ON MACRO okr_plan_value_at IS 'The planned value at t along a key result''s plan points.';
COMMENT ON MACRO okr_status IS 'on-track, at-risk or off-track, comparing actual with expected progress.';
COMMENT ON MACRO okr_status_at IS 'okr_status at an instant of a cycle ending at we: final once the cycle is over (its end is not in it), or while it is closed then (closed := true), even early.';
COMMENT ON MACRO okr_succeeded IS 'Whether an objective''s score counts as success for its type (committed 1.0, aspirational 0.7, learning not graded).';
COMMENT ON MACRO kpi_health_of IS 'green, amber or red for a KPI value under its direction and thresholds.';
COMMENT ON MACRO kpi_period_us IS 'A KPI cadence''s period in microseconds: a reading older than that is stale.';
COMMENT ON MACRO okr_order_key IS 'Time, then position, as one number (for arg_max over the latest fact).';
COMMENT ON MACRO okr_in_force IS 'Whether a version row is the one in force at valid time t as known at transaction time k.';
COMMENT ON MACRO okr_version_preference IS 'Which version of an item a fact at t is scored against (the latest in force, else the first).';
COMMENT ON MACRO TABLE objectives_at IS 'The objectives in force at as_of as known at known_at, in a cycle in force, with the cycle''s window and whether it is closed then (cycle_closed); only_cycle, only_team, only_owner keep those asked for (shown) and the objectives aligned below them.';
COMMENT ON MACRO TABLE key_result_inputs IS 'Every key result in force and not removed (under only_objectives, a list of keys), once, with its plan, its latest check-in, and its KPI in force with that KPI''s latest reading.';
COMMENT ON MACRO TABLE key_results_at IS 'The key results in force under an objective in force in a cycle in force (under only_objectives), scored: the key-result columns of scorecard_at.';
COMMENT ON MACRO TABLE scorecard_inputs IS 'What scorecard_at(as_of, known_at) scores, unscored: one row per key result in force with its objective and cycle, its latest check-in, and its KPI in force with that KPI''s latest reading; shown marks the objectives asked for.';
COMMENT ON MACRO TABLE scorecard_at IS 'The scorecard as of as_of (valid time) as known at known_at (transaction time): one row per key result in force, with its objective.';
COMMENT ON MACRO TABLE kr_progress IS 'Every check-in of a cycle''s key results, scored against the plan in force at its effective time.';
COMMENT ON MACRO TABLE kpi_series IS 'A KPI''s readings, each with its health under the thresholds in force when observed.';
COMMENT ON TABLE kpi_readings_at_ends IS 'The KPI readings observed in the 8 days before each cycle''s end (derived from kpi_readings and cycle_versions): where scorecard_at finds the value a finished cycle''s KPI-linked key result ended it with.';
COMMENT ON COLUMN kpi_readings_at_ends.cycle_end IS 'The end of a cycle (cycle_versions.end).';
COMMENT ON COLUMN kpi_readings_at_ends.aggregate_id IS 'The KPI''s id.';
COMMENT ON COLUMN kpi_readings_at_ends.position IS 'Position of the KpiReadingRecorded event.';
COMMENT ON COLUMN kpi_readings_at_ends.observed_at IS 'When the value was observed: in the 8 days before cycle_end (the end itself is the next cycle''s).';
COMMENT ON COLUMN kpi_readings_at_ends.recorded_at IS 'When the reading was recorded (transaction time).';
COMMENT ON COLUMN kpi_readings_at_ends.value IS 'The observed value, in the KPI''s unit.';
