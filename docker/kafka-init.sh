#!/usr/bin/env bash
# SCRAM users, okr's topics and the ACLs for docker/compose.yaml. Runs in the kafka
# container's network namespace and talks to the loopback-only INTERNAL listener (whose
# ANONYMOUS principal is the only super user). Idempotent: every step may run again.
#
#   okr-relay   the relay: the ONLY principal that may write okr.ledger and okr.checkpoints
#   okr-reader  the projection consumer and one-off CLI commands: read the log, write dead letters
#   okr-ingest  the KPI feed ingest: reads okr.kpi-readings, writes dead letters
#   okr-feed    external KPI feeds: write okr.kpi-readings, nothing else
#   okr-notify  the reminders (okr notify): write okr.notifications, nothing else
#
# Every topic okr uses (its topic_* settings), each with the partitions okr itself gives the
# topics it creates (OKR_PARTITIONS; tests/unit/test_docker_compose.py holds the two together).
set -euo pipefail

BIN=/opt/kafka/bin
SERVER=127.0.0.1:9094
PARTITIONS=${OKR_PARTITIONS:-6}
LEDGER=okr.ledger CHECKPOINTS=okr.checkpoints DEAD=okr.dead-letter READINGS=okr.kpi-readings
NOTIFICATIONS=okr.notifications
TOPICS=("$LEDGER" "$CHECKPOINTS" "$DEAD" "$READINGS" "$NOTIFICATIONS")

for user in relay reader ingest feed notify; do
  var="OKR_${user^^}_PASSWORD"
  password=${!var:?$var is not set}
  "$BIN/kafka-configs.sh" --bootstrap-server "$SERVER" --alter --entity-type users \
    --entity-name "okr-$user" --add-config "SCRAM-SHA-512=[password=$password]"
done

for topic in "${TOPICS[@]}"; do
  "$BIN/kafka-topics.sh" --bootstrap-server "$SERVER" --create --if-not-exists \
    --topic "$topic" --partitions "$PARTITIONS" --replication-factor 1 \
    --config retention.ms=-1 --config cleanup.policy=delete
done

acl() { "$BIN/kafka-acls.sh" --bootstrap-server "$SERVER" --add --force "$@"; }

# Everyone okr runs may see okr's topics (the clients list them before they start).
for user in relay reader ingest; do
  for topic in "${TOPICS[@]}"; do
    acl --allow-principal "User:okr-$user" --operation Describe --topic "$topic"
  done
done
# The relay writes the log and the checkpoints, and reads them back (it counts what the
# topic holds before deciding to republish).
for topic in "$LEDGER" "$CHECKPOINTS"; do
  acl --allow-principal User:okr-relay --operation Write --operation Read --topic "$topic"
done
# Readers read the log and the checkpoints; a record they reject goes to the dead letters.
for topic in "$LEDGER" "$CHECKPOINTS"; do
  acl --allow-principal User:okr-reader --operation Read --topic "$topic"
done
acl --allow-principal User:okr-reader --allow-principal User:okr-ingest \
  --operation Write --topic "$DEAD"
# The ingest reads the feed topic (assigned partitions, its own offsets kept next to the
# event store: no consumer group).
acl --allow-principal User:okr-ingest --operation Read --topic "$READINGS"
# Feeds write readings only.
acl --allow-principal User:okr-feed --operation Write --operation Describe --topic "$READINGS"
# The notify service publishes the reminders, and only them; readers (a chat or mail bridge)
# read them.
acl --allow-principal User:okr-notify --operation Write --operation Describe \
  --topic "$NOTIFICATIONS"
acl --allow-principal User:okr-reader --operation Read --topic "$NOTIFICATIONS"

echo "kafka-init: users, topics and ACLs in place"
