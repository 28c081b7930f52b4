#!/usr/bin/env bash
# The unit suite under faketime at the instants where date arithmetic breaks: a quarter's last
# second, a new year's first minutes, 29 February and a DST change of the org zone the tests use
# (Europe/Berlin). The clock starts at each instant and runs on, so the suite also crosses it.
# The unit suite holds every date rule (cycles, check-ins "now", staleness, zones); the whole
# integration suite at four instants would cost too long, so it gets one run (below). Fuzz
# tests run a tenth of their examples (OKR_FUZZ_QUICK=1): the date is the subject.
# Tests marked real_clock are left out: they time a wait on the monotonic clock, and under
# libfaketime 0.9.10 such a wait (threading.Event.wait, sem_clockwait) never ends. Each instant
# gets at most TEST_DATES_LIMIT seconds (default 1200), and the first instant that overruns ends
# the run, so a new wait of that kind fails it in one line instead of hanging CI. The unit
# suite runs on TEST_WORKERS processes (pytest-xdist; 2 by default, as make test).
#
# Then ONE run of integration tests a year ahead: the integration test files that name a fixed
# quarter (a 20YY-Qn key, such as 2026-Q4) and test_readme.py (README.md's scenario is fixed in
# 2026-Q4, and its commands run as they are written), run with the clock moved to 15 February
# of next year, 10:00 UTC (mid-quarter, no DST change, after every cycle of this year). A test
# that adds a fixed cycle and then writes "now" into it (a check-in without --at) or reads
# "now" against it passes until the cycle ends and fails from the next day on: a date bomb.
# This run finds it a year early. The clock is moved by an offset (faketime -f +Ns), not set
# to an instant: every process (the test, each okr command, the broker) sees the same clock,
# so recording times still rise from one command to the next. Monotonic time is faked too:
# with FAKETIME_DONT_FAKE_MONOTONIC=1 libfaketime 0.9.10 refuses every time.sleep (EINVAL),
# and faked, a timed threading wait never ends, so tests marked real_clock are left out here
# too. It gets at most TEST_DATES_INTEGRATION_LIMIT seconds (default 900); 3.5 to 6.5 minutes
# on 2 workers (85 tests). TEST_DATES_INTEGRATION=0 skips it, TEST_DATES_UNIT=0 the unit runs,
# TEST_DATES_AHEAD="YYYY-MM-DD HH:MM:SS" (UTC) sets another instant; pytest args given to the
# script go to the unit runs only.
# Usage: scripts/test_dates.sh [pytest args…]   (PYTEST=… to use another pytest)
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=${PYTEST:-.venv/bin/pytest}
LIMIT=${TEST_DATES_LIMIT:-1200}
WORKERS=${TEST_WORKERS:-2}
command -v faketime >/dev/null 2>&1 \
  || { echo "test-dates: faketime is missing (apt-get install faketime)" >&2; exit 2; }

# "UTC instant|why it is hard" — the org zone is UTC+1 in winter, UTC+2 in summer.
INSTANTS=(
  "2026-12-31 22:59:59|the last second of 2026-Q4 (and of 2026) in Europe/Berlin: README's cycle ends"
  "2027-01-01 00:00:30|new year's first minute in UTC (Berlin is an hour into it)"
  "2028-02-29 11:00:00|29 February of a leap year"
  "2027-03-28 00:59:30|summer time starts in Europe/Berlin (02:00 -> 03:00 local)"
)
failed=()
[ "${TEST_DATES_UNIT:-1}" = "0" ] && INSTANTS=()
for entry in "${INSTANTS[@]}"; do
  at=${entry%%|*}
  echo "== $at UTC: ${entry#*|}"
  # The clock must really be faked (and run from the instant), or the run below proves nothing.
  seen=$(TZ=UTC faketime "$at" "$(dirname "$PYTEST")/python" -c '
import sys
from datetime import UTC, datetime
off = (datetime.now(UTC) - datetime.fromisoformat(sys.argv[1]).replace(tzinfo=UTC)).total_seconds()
print("ok" if 0 <= off < 300 else f"{off:.0f} s away from it")' "$at")
  if [ "${seen}" != "ok" ]; then
    echo "test-dates: faketime did not set the clock to $at UTC (${seen:-no answer})" >&2
    exit 2
  fi
  # FAKETIME_NO_CACHE=1: libfaketime reads FAKETIME at every clock call instead of every few
  # seconds, so a test that unsets it even for a moment (a cleared environment) fails at once
  # instead of now and then in CI (tests/unit/test_fuzz_cli.py tells how that happened).
  TZ=UTC FAKETIME_NO_CACHE=1 OKR_FUZZ_QUICK=1 timeout --kill-after=10 "$LIMIT" \
    faketime "$at" "$PYTEST" -q -p no:cacheprovider -n "$WORKERS" -m "not real_clock" \
    tests/unit "$@"
  rc=$?
  [ "$rc" -eq 0 ] || failed+=("$at")
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then  # the next instants would hang the same way
    echo "test-dates: the unit suite at $at UTC did not end within $LIMIT s (a wait faketime cannot fake?); the remaining instants are not run" >&2
    break
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'test-dates: the unit suite failed at %s UTC\n' "${failed[@]}" >&2
  exit 1
fi
[ "${#INSTANTS[@]}" -gt 0 ] && echo "test-dates: the unit suite passed at all ${#INSTANTS[@]} instants"

[ "${TEST_DATES_INTEGRATION:-1}" = "0" ] && exit 0
# A year ahead: 15 February of next year, 10:00 UTC, as an offset from the real clock.
ahead=${TEST_DATES_AHEAD:-"$(( $(date -u +%Y) + 1 ))-02-15 10:00:00"}
printf -v offset '%+ds' "$(( $(date -u -d "$ahead" +%s) - $(date -u +%s) ))"
# test_readme.py runs README.md, whose scenario is fixed in 2026-Q4.
mapfile -t dated < <(grep -lE '20[0-9]{2}-Q[1-4]' tests/integration/test_*.py
                     echo tests/integration/test_readme.py)
echo "== $ahead UTC (${offset}): the ${#dated[@]} integration test files naming a fixed quarter and README's"
seen=$(TZ=UTC faketime -f "$offset" "$(dirname "$PYTEST")/python" -c '
import sys, time
from datetime import UTC, datetime
off = (datetime.now(UTC) - datetime.fromisoformat(sys.argv[1]).replace(tzinfo=UTC)).total_seconds()
time.sleep(0.01)  # a sleep must work under this clock (it does not with monotonic time unfaked)
print("ok" if 0 <= off < 300 else f"{off:.0f} s away from it")' "$ahead")
if [ "${seen}" != "ok" ]; then
  echo "test-dates: faketime did not move the clock to $ahead UTC (${seen:-no answer})" >&2
  exit 2
fi
TZ=UTC FAKETIME_NO_CACHE=1 timeout --kill-after=10 "${TEST_DATES_INTEGRATION_LIMIT:-900}" \
  faketime -f "$offset" "$PYTEST" -q -p no:cacheprovider -n "$WORKERS" --dist worksteal \
  -m "not real_clock" "${dated[@]}"
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "test-dates: the integration tests at $ahead UTC did not end within ${TEST_DATES_INTEGRATION_LIMIT:-900} s (a wait faketime cannot fake? mark it real_clock)" >&2
  exit 1
elif [ "$rc" -ne 0 ]; then
  echo "test-dates: integration tests failed at $ahead UTC: a test that depends on today's date (a check-in \"now\" in a fixed cycle?)" >&2
  exit 1
fi
echo "test-dates: the integration tests naming a fixed quarter and README's passed at $ahead UTC"
