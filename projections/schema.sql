-- okr-ledger DuckDB projection: tables, then the macros analysts call.
-- Documented in docs/schema.md. Times are TIMESTAMPTZ (UTC). Structural changes (targets,
-- owners, links…) take effect when recorded, so a version row's valid_from/valid_to span both
-- valid and transaction time; check-ins and KPI readings carry their own effective time next
-- to the time the ledger recorded them.

CREATE TABLE IF NOT EXISTS events (
    position        BIGINT NOT NULL,
    event_id        VARCHAR NOT NULL,
    type            VARCHAR NOT NULL,
    aggregate_type  VARCHAR NOT NULL,
    aggregate_id    VARCHAR NOT NULL,
    version         INTEGER NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    effective_at    TIMESTAMPTZ NOT NULL,
    actor           VARCHAR NOT NULL,
    on_behalf_of    VARCHAR,           -- whom the actor recorded it for; NULL: nobody named
    reason          VARCHAR,
    data            JSON NOT NULL,
    prev_hash       VARCHAR NOT NULL,
    hash            VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset    BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS check_ins (
    aggregate_id VARCHAR NOT NULL,
    key_result   VARCHAR,
    position     BIGINT NOT NULL,
    version      INTEGER NOT NULL,
    effective_at TIMESTAMPTZ NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,
    value        DOUBLE NOT NULL,
    confidence   DOUBLE,
    note         VARCHAR,
    actor        VARCHAR NOT NULL,
    on_behalf_of VARCHAR,           -- whom the actor checked in for; NULL: nobody named
    source       VARCHAR            -- how the value was obtained; NULL before event version 2
);

CREATE TABLE IF NOT EXISTS kpi_readings (
    aggregate_id VARCHAR NOT NULL,
    kpi          VARCHAR,
    position     BIGINT NOT NULL,
    version      INTEGER NOT NULL,
    observed_at  TIMESTAMPTZ NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,
    value        DOUBLE NOT NULL,
    source       VARCHAR,
    reading_id   VARCHAR,
    actor        VARCHAR NOT NULL,
    on_behalf_of VARCHAR            -- whom the actor recorded it for; NULL: nobody named
);

-- The readings observed in the 8 days before a cycle's end, once per cycle end (derived from
-- kpi_readings and the cycles, kept with them in the same transaction): a finished cycle's
-- KPI-linked key results keep the latest reading at their cycle's end, which scorecard_at
-- looks up here rather than among every reading of the history.
CREATE TABLE IF NOT EXISTS kpi_readings_at_ends (
    cycle_end    TIMESTAMPTZ NOT NULL,
    aggregate_id VARCHAR NOT NULL,
    position     BIGINT NOT NULL,
    observed_at  TIMESTAMPTZ NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,
    value        DOUBLE NOT NULL
);

CREATE TABLE IF NOT EXISTS consumer_offsets (
    topic       VARCHAR NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Records a consumer sent to the dead-letter topic at or past its stored next offset (one
-- waiting at the gate before them keeps that offset back): read again, they are not sent again.
CREATE TABLE IF NOT EXISTS consumer_dead_letters (
    topic        VARCHAR NOT NULL,
    partition    INTEGER NOT NULL,
    kafka_offset BIGINT NOT NULL,
    PRIMARY KEY (topic, partition, kafka_offset)
);

-- The key of every aggregate (ids are uuid5 of kind:key; this table spares the hashing).
CREATE TABLE IF NOT EXISTS aggregates (
    aggregate_id   VARCHAR PRIMARY KEY,
    aggregate_type VARCHAR NOT NULL,
    key            VARCHAR NOT NULL
);
