"""`make demo`: a realistic quarter run through the real `okr` command, end to end.

It uses a fresh data directory (demo-out/okr-home), the current quarter (so back-dated
check-ins stay inside the cycle and never in the future), and the embedded local broker.
The plan is typed late — today, weeks into the quarter, as teams often do: typed while the
cycle is in planning, it is in force from the quarter's start, so the back-dated check-ins
count and the review's progress charts draw from the first week (checked at the end).
Every command is printed before it runs, like a transcript a newcomer can copy.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from okr.domain.periods import cycle_of, named_window

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-out"
HOME = OUT / "okr-home"
OKR = str(Path(sys.executable).parent / "okr")


def okr(*args: str, check: bool = True, quiet: bool = False
        ) -> subprocess.CompletedProcess[str]:
    """Run one okr command, echo it and its output (unless quiet)."""
    if not quiet:
        print(f"\n$ okr {shlex.join(args)}", flush=True)
    proc = subprocess.run([OKR, *args], text=True, capture_output=True,
                          env={**os.environ, "OKR_HOME": str(HOME)})
    if not quiet:
        sys.stdout.write(proc.stdout)
        sys.stdout.write(proc.stderr)
    if check and proc.returncode != 0:
        raise SystemExit(f"demo failed: okr {shlex.join(args)} exited {proc.returncode}")
    return proc


def day(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def main() -> None:
    now = datetime.now(UTC)
    cycle = cycle_of(now)
    window = named_window(cycle)
    assert window is not None
    # Back-dated instants inside the cycle, spread over the part already elapsed.
    elapsed = now - window.start

    def at(share: float) -> str:
        return day(window.start + timedelta(seconds=elapsed.total_seconds() * share))

    if HOME.exists():
        shutil.rmtree(HOME)
    HOME.mkdir(parents=True)
    print(f"okr-ledger demo — data directory {HOME}, cycle {cycle}")

    okr("cycle", "add", cycle)
    okr("objective", "add", "rev-2x", "Double revenue by year's end", "--cycle", cycle,
        "--owner", "ana", "--team", "sales", "--type", "committed", "--level", "company")
    okr("objective", "add", "eng-1", "Ship a faster checkout", "--cycle", cycle, "--owner", "ben",
        "--team", "eng", "--type", "aspirational", "--parent", "rev-2x")
    okr("kr", "add", "kr-conv", "Website conversion up 20%", "--objective", "rev-2x", "--kind",
        "increase", "--start", "2.0", "--target", "2.4", "--unit", "%")
    okr("kr", "add", "kr-intl", "Close 2 international contracts", "--objective", "rev-2x",
        "--kind", "increase", "--start", "0", "--target", "2", "--weight", "2")
    okr("kr", "add", "kr-p95", "Checkout p95 below 800 ms", "--objective", "eng-1", "--kind",
        "decrease", "--start", "1400", "--target", "800", "--unit", "ms")
    okr("initiative", "add", "live-chat", "Implement live chat on website", "--kr", "kr-conv")
    okr("kpi", "add", "wau", "Weekly active users", "--unit", "users", "--direction", "up",
        "--target", "15000", "--green", "14000", "--red", "12000", "--cadence", "weekly",
        "--tag", "lagging", "--effective", day(window.start), "--reason",
        "tracked since before the quarter; typed today")
    okr("kr", "add", "kr-wau", "Grow weekly active users to 15k", "--objective", "rev-2x",
        "--kind", "increase", "--start", "12000", "--target", "15000", "--unit", "users",
        "--kpi", "wau")
    okr("kpi", "record", "wau", "13250", "--at", at(0.3), "--source", "analytics")
    okr("cycle", "commit", cycle)
    okr("checkin", "kr-conv", "2.2", "--confidence", "0.6", "--note", "chat launched",
        "--at", at(0.5))
    okr("checkin", "kr-intl", "1", "--confidence", "0.5", "--note", "first contract signed",
        "--at", at(0.7))
    okr("checkin", "kr-p95", "1100", "--confidence", "0.4", "--at", at(0.6))
    okr("initiative", "status", "live-chat", "done")
    okr("kpi", "record", "wau", "14100", "--at", at(0.9), "--source", "analytics")
    print("\n# A revision after commit needs a reason — without one, nothing is written:")
    okr("kr", "revise", "kr-conv", "--target", "2.3", check=False)
    okr("kr", "revise", "kr-conv", "--target", "2.3", "--reason", "market slowdown")
    okr("show", "kr-conv")
    okr("show", "rev-2x")
    print("\n# Every write above is an event on Kafka (published right after each command):")
    okr("relay", "--once", "--checkpoint")
    okr("consume", "--once")
    print("\n# Browse what the ledger holds (cycles, objectives, krs, initiatives, kpis), by cycle,"
          "\n# team, owner or status, now or at any --as-of / --known-at:")
    okr("list", "objectives", "--cycle", cycle)
    okr("list", "krs", "--cycle", cycle, "--team", "sales")
    okr("scorecard")
    print("\n# What needs attention now, per owner and team: key results without a check-in"
          "\n# within the check-in cadence (weekly) and KPIs that are red or stale. While"
          "\n# 'okr up' runs, the same reminders go to okr.notifications for a chat bridge:")
    okr("due")
    okr("due", "--owner", "ben", "--json")
    print("\n# Mid-quarter as we know it now (the plan typed late is in force from the start),"
          "\n# then as it was known that day (nothing had been typed yet):")
    okr("scorecard", "--as-of", at(0.55))
    okr("scorecard", "--as-of", at(0.55), "--known-at", at(0.55))
    okr("history", "kr-conv")
    okr("audit", "trail", "kr-conv")
    okr("audit", "verify")
    okr("sql", "SELECT type, count(*) AS events FROM events GROUP BY type ORDER BY events DESC")
    okr("review", cycle)
    report = OUT / f"review-{cycle}.html"
    okr("review", cycle, "--format", "html", "--out", str(report))
    # The plan was typed late: its review still draws every key result from week one.
    progress = json.loads(okr("review", cycle, "--json", quiet=True).stdout)["progress"]
    short = {k: len(s) for k, s in progress.items() if len(s) < 2}
    if len(progress) < 4 or short:
        raise SystemExit(f"demo failed: the review's progress charts do not draw ({progress})")
    print("\n# Next quarter starts from this one's unfinished work (each copy names its origin):")
    following = cycle_of(window.end)
    okr("cycle", "add", following)
    okr("cycle", "carry", cycle, following, "--unfinished-only")
    okr("list", "krs", "--cycle", following)
    print("\n# Users of the web app are ledger events too; a token is shown once:")
    okr("user", "add", "ana", "--role", "admin")
    okr("user", "add", "ben", "--role", "member", "--team", "growth")
    token = json.loads(okr("token", "create", "ana", "--json", quiet=True).stdout)["token"]
    okr("broker", "stop")
    print(f"\ndemo finished: data in {HOME}")
    print(f"review report: {report}")
    print(f"web app: run  OKR_HOME={shlex.quote(str(HOME))} {OKR} up --web  then open "
          "http://127.0.0.1:8000/ and sign in with this token (shown once):")
    print(f"  {token}")


if __name__ == "__main__":
    main()
