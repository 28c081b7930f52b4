"""okr serve, the pages of one item (objective, KPI, initiative), the key result's chart, the
review and retro of a cycle, the global audit feed and the audit-bundle download: roles, 404s,
time travel, and stored text shown as data on every one.

One ledger and one app for the module (tests/support/web.py and web_pages.py seed it)."""

import io
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from okr.record.signing import existing_public_key_pem
from okr.settings import Settings
from okr.web.app import create_app
from tests.fuzzing import live_window
from tests.integration.conftest import Broker, Env
from tests.support.hostile_text import raw_controls
from tests.support.web import seeded_home
from tests.support.web_pages import seed_pages

pytestmark = pytest.mark.integration

PAGES = ("/objective/o-eng", "/objective/o-child", "/objective/o-sales", "/kpi/wau",
         "/initiative/i-chat", "/kr/k-eng", "/kr/k-kpi", "/review", "/review/live",
         "/retro?a=live&b=live", "/audit", "/audit?kind=objective", "/trail/k-eng")


@dataclass
class Site:
    settings: Settings
    environ: dict[str, str]
    tokens: dict[str, str]
    app: TestClient
    times: dict[str, datetime]

    def signed_in(self, name: str) -> TestClient:
        c = TestClient(self.app.app, follow_redirects=False)
        r = c.post("/signin", data={"token": self.tokens[name], "next": "/"})
        assert r.status_code == 303, r.text
        return c


@pytest.fixture(scope="module")
def site(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    environ, settings, ledger, tokens = seeded_home(
        tmp_path_factory.mktemp("pages") / "home", broker.bootstrap)
    times = seed_pages(ledger)
    app = create_app(settings)
    yield Site(settings, environ, tokens, TestClient(app), times)
    app.state.site.close()
    ledger.close()


def text_of(html: str, id_: str) -> str:
    found = re.search(rf'id="{id_}"[^>]*>(.*?)</', html, re.S)
    assert found, f"no #{id_} in the page"
    return found.group(1)


def test_every_new_page_needs_a_signed_in_user(site: Site) -> None:
    anonymous = TestClient(site.app.app, follow_redirects=False)
    for path in (*PAGES, "/audit/bundle?cycle=live"):
        r = anonymous.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin"), path


def test_a_viewer_reads_every_new_page_and_stored_text_stays_data(site: Site) -> None:
    vic = site.signed_in("vic")
    for path in PAGES:
        r = vic.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        html = r.text
        assert "<script>" not in html and "<b>bold</b>" not in html, path
        assert raw_controls(html.replace("\n", "")) == [], path  # ESC, U+202E made visible
        assert " style=" not in html and "<style" not in html, path  # the CSP allows neither
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in vic.get("/objective/o-child").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in vic.get("/kpi/wau").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in vic.get("/initiative/i-chat").text
    assert "eased &lt;script&gt;" in vic.get("/review/live").text
    assert "split &lt;script&gt;" in vic.get("/audit?kind=objective").text


def test_the_objective_page_shows_type_owner_alignment_key_results_and_initiatives(
        site: Site) -> None:
    html = site.signed_in("vic").get("/objective/o-eng").text
    assert "committed" in text_of(html, "okr-type")
    assert 'href="/kr/k-eng"' in html and 'href="/objective/o-child"' in html  # child
    assert 'href="/initiative/i-chat"' in html and 'href="/trail/o-eng"' in html
    assert 'id="objective-rollup"' in html  # it has an objective aligned under it
    child = site.signed_in("vic").get("/objective/o-child").text
    assert 'id="parent-link"' in child and 'href="/kpi/wau"' in child


def test_the_kpi_page_charts_readings_on_bands_and_names_linked_key_results(
        site: Site) -> None:
    html = site.signed_in("vic").get("/kpi/wau").text
    assert text_of(html, "kpi-value").startswith("80 users")
    assert text_of(html, "kpi-health") == "amber"
    chart = re.search(r'id="kpi-chart">(.*?)</figure>', html, re.S)
    assert chart and chart.group(1).count("<rect") == 3  # green, amber and red bands
    assert chart.group(1).count("<circle") == 2  # both readings
    assert 'href="/kr/k-kpi"' in html
    assert "(on behalf of ops &lt;script&gt;" in html  # beside the actor, escaped


def test_the_key_result_chart_draws_actual_expected_check_ins_and_the_revision(
        site: Site) -> None:
    html = site.signed_in("vic").get("/kr/k-eng").text
    chart = re.search(r'id="kr-chart">(.*?)</figure>', html, re.S)
    assert chart, "no chart"
    svg = chart.group(1)
    assert svg.count("<polyline") == 2  # expected, actual
    assert svg.count("<circle") == 2  # the two check-ins, at their effective times
    # the eased target, while behind, is a red marker with its text as a tooltip
    assert re.search(r'<line [^>]*stroke="#d64545"[^>]*><title>target 10 → 5</title>', svg)
    assert 'href="/initiative/i-chat"' in html and 'id="objective-link"' in html


def test_the_initiative_page_names_status_owner_and_key_result(site: Site) -> None:
    html = site.signed_in("vic").get("/initiative/i-chat").text
    assert text_of(html, "initiative-status") == "planned"
    assert 'id="kr-link"' in html and 'href="/trail/i-chat"' in html
    # its key result scored alone (its cycle and team) is the whole scorecard's card
    s = site.app.app.state.site
    now = datetime.now(UTC)
    page = s.initiative("i-chat", now, now)
    assert page["kr"] is not None
    assert page["kr"] == next(kr for c in s.scorecard(now, now) for kr in c["key_results"]
                              if kr["key"] == page["initiative"]["key_result"])


def test_the_review_of_a_cycle_with_no_objectives_says_there_is_nothing_to_score(
        tmp_path: Path, broker: Broker) -> None:
    """As `okr review` says it: not "mean score –" (a score of nothing)."""
    _, settings, ledger, tokens = seeded_home(tmp_path / "home", broker.bootstrap)
    start, end = live_window()
    ledger.add_cycle("empty", start, end)
    ledger.close()
    app = create_app(settings)
    try:
        c = TestClient(app, follow_redirects=False)
        assert c.post("/signin", data={"token": tokens["vic"], "next": "/"}).status_code == 303
        found = re.search(r'id="review-summary">(.*?)</p>', c.get("/review/empty").text, re.S)
        assert found, "no review summary on the page"
        summary = found.group(1)
        assert "nothing to score: no objectives" in summary and "mean score" not in summary
    finally:
        app.state.site.close()


def test_the_review_page_says_what_okr_review_says(site: Site) -> None:
    from okr.cli.context import State
    from okr.cli.report import headline, revision_text, score_rows
    from okr.cli.review_cmds import build_zoned

    html = site.signed_in("vic").get("/review/live").text
    model, zone = build_zoned(State(_settings=site.settings), "live", None, None)
    assert f'id="review-summary">{headline(model, zone)}</p>' in html
    # the initiatives column, read through the projection (review_facts held none before)
    (eng,) = [r for r in score_rows(model) if r["key_result"] == "k-eng"]
    assert eng["initiatives"].startswith("i-chat Chat ")
    (moved,) = [r for r in model["revisions"] if r["goalpost_moved"]]
    line = re.search(r"<li>[^<]*<a href=\"/trail/k-eng\">.*?</li>", html, re.S)
    assert line and revision_text(moved) in line.group(0) and "goalpost moved" in line.group(0)
    assert 'id="calibration"' in html and "0.9" not in text_of(html, "calibration")
    assert html.count('<figure class="chart">') == len(
        [kr for c in model["objectives"] for kr in c["key_results"]]) + len(model["guardrails"])
    retro = site.signed_in("vic").get("/retro", params={"a": "live", "b": "live"}).text
    assert 'id="retro"' in retro and "goalposts moved" in retro


def test_as_of_and_known_at_show_earlier_values_on_the_new_pages(site: Site) -> None:
    vic = site.signed_in("vic")
    then = {"known_at": site.times["before_second"].isoformat()}
    now_obj, then_obj = vic.get("/objective/o-eng").text, vic.get("/objective/o-eng",
                                                                   params=then).text
    assert re.search(r'<td>3 → 5 ', now_obj) and re.search(r'<td>1 → 5 ', then_obj)
    assert text_of(vic.get("/kpi/wau", params=then).text, "kpi-value").startswith("40 users")
    # the links of a past view keep it
    assert 'href="/kr/k-eng?as_of=&amp;known_at=' in then_obj
    review_then = vic.get("/review/live", params=then).text
    assert "<td>1</td>" in review_then and "<td>3</td>" not in review_then


def test_a_trail_links_back_to_its_items_page(site: Site) -> None:
    vic = site.signed_in("vic")
    for key, page in (("o-eng", "/objective/o-eng"), ("k-eng", "/kr/k-eng"),
                      ("wau", "/kpi/wau"), ("i-chat", "/initiative/i-chat"),
                      ("live", "/review/live")):
        assert f'<a href="{page}" class="item-link">' in vic.get(f"/trail/{key}").text, key


def test_unknown_keys_are_404_with_one_line(site: Site) -> None:
    vic = site.signed_in("vic")
    for path, line in (("/objective/nope", "objective &#39;nope&#39; not found"),
                       ("/kpi/nope", "KPI &#39;nope&#39; not found"),
                       ("/initiative/nope", "initiative &#39;nope&#39; not found"),
                       ("/review/nope", "cycle &#39;nope&#39; not found")):
        r = vic.get(path)
        assert r.status_code == 404, path
        assert text_of(r.text, "error") == line
    # in force later than the view: not found then, and the line says when
    day = live_window()[0].date().isoformat()
    r = vic.get("/objective/o-child", params={"as_of": day})
    assert r.status_code == 404
    assert text_of(r.text, "error").startswith(f"objective &#39;o-child&#39; not found as of {day}")
    assert "as known at" in text_of(r.text, "error")
    r = vic.get("/kr/k-kpi", params={"as_of": day})  # its key result, added with it
    assert r.status_code == 404
    assert text_of(r.text, "error").startswith(f"key result &#39;k-kpi&#39; not found as of {day}")
    assert "as known at" in text_of(r.text, "error")
    api = site.app.get("/api/v1/key-results/k-kpi", params={"as_of": day},
                       headers={"Authorization": f"Bearer {site.tokens['vic']}"})
    assert api.status_code == 404, api.text
    assert api.json()["detail"].startswith(f"key result 'k-kpi' not found as of {day}")
    assert "as known at" in api.json()["detail"]
    assert vic.get("/kr/nope").status_code == 404  # now: the plain line
    assert text_of(vic.get("/kr/nope").text, "error") == "key result &#39;nope&#39; not found"
    assert vic.get("/audit", params={"before": "x"}).status_code == 400
    assert vic.get("/audit", params={"kind": "nope"}).status_code == 400


def test_the_audit_feed_is_newest_first_paged_and_filtered(site: Site) -> None:
    vic = site.signed_in("vic")
    html = vic.get("/audit", params={"limit": "10"}).text
    positions = [int(p) for p in re.findall(r'<tr id="event-(\d+)">', html)]
    assert len(positions) == 10 and positions == sorted(positions, reverse=True)
    older = re.search(r'id="older" href="/audit\?before=(\d+)&amp;limit=10"', html)
    assert older and int(older.group(1)) == positions[-1]
    rest = [int(p) for p in re.findall(r'<tr id="event-(\d+)">',
                                       vic.get(f"/audit?before={older.group(1)}&limit=10").text)]
    assert rest == list(range(positions[-1] - 1, positions[-1] - 11, -1))
    every = [int(p) for p in re.findall(r'<tr id="event-(\d+)">', vic.get("/audit").text)]
    assert every == list(range(max(every), 0, -1))  # all fit on one page of 50
    assert vic.get("/audit", params={"limit": "0"}).status_code == 400
    newest = vic.get("/audit?kind=key_result").text
    assert "CheckInRecorded" in newest and "UserAdded" not in newest
    assert 'href="/trail/k-eng"' in newest
    readings = vic.get("/audit", params={"kind": "kpi"}).text
    assert "KpiReadingRecorded" in readings  # a changed time said as the page says times:
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+00:00", readings)
    assert re.search(r"<strong>effective_at</strong>: .*?→ .*?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                     readings)
    mine = vic.get("/audit", params={"actor": "web:nobody"}).text
    assert "No events." in mine


def test_only_auditors_and_admins_download_a_bundle_and_it_verifies(site: Site,
                                                                    tmp_path: Path) -> None:
    for name in ("vic", "mia"):
        r = site.signed_in(name).get("/audit/bundle", params={"cycle": "live"})
        assert r.status_code == 403 and "auditors and admins" in r.text
    assert 'id="bundle-form"' not in site.signed_in("vic").get("/audit").text
    aud = site.signed_in("aud")
    assert 'id="bundle-form"' in aud.get("/audit").text
    r = aud.get("/audit/bundle", params={"cycle": "live"})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-disposition"] == 'attachment; filename="okr-bundle-live.tar.gz"'
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    bundle = tmp_path / "okr-bundle-live"
    assert (bundle / "events.jsonl").read_bytes().count(b"\n") > 5
    pem = existing_public_key_pem(site.settings.signing_key_file)
    assert pem is not None
    (tmp_path / "mine.pem").write_text(pem, encoding="utf-8")
    offline = {**site.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
               "OKR_HOME": str(tmp_path / "nowhere")}
    auditor = Env(tmp_path / "nowhere", offline)
    proc = auditor.run("audit", "verify", "--bundle", str(bundle), "--public-key",
                       str(tmp_path / "mine.pem"), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # an edit to the downloaded bundle is found by the same check
    lines = (bundle / "events.jsonl").read_bytes().splitlines()
    lines[1] = lines[1].replace(b'"actor":"', b'"actor":"x')
    (bundle / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    proc = auditor.run("audit", "verify", "--bundle", str(bundle), "--public-key",
                       str(tmp_path / "mine.pem"), "--json")
    assert proc.returncode == 1
    assert aud.get("/audit/bundle", params={"cycle": "nope"}).status_code == 404


def test_a_key_results_chart_reads_only_its_facts_and_draws_what_the_whole_review_does(
        site: Site) -> None:
    """The key-result page reviews the facts of that key result alone (its cycle, objective,
    KPI, initiatives): its series, revisions and initiatives are the cycle review's; its cards
    (scored for its cycle and team alone) are the whole organisation's scorecard's."""
    s = site.app.app.state.site
    now = datetime.now(UTC)
    whole = {kr["key"]: (c, kr) for c in s.scorecard(now, now) for kr in c["key_results"]}
    for key in ("k-eng", "k-kpi", "k-sales"):
        v = s.key_result_view(key, now, now)
        assert (v.card, v.kr) == whole[key]
        alone = v.review
        assert alone is not None
        cycle = s.review("live", now, now, [c["effective_at"] for c in v.check_ins])
        assert alone["progress"][key] == cycle["progress"][key], key
        assert [r for r in alone["revisions"] if r["key"] == key] == \
            [r for r in cycle["revisions"] if r["key"] == key]
        mine = [kr for c in alone["objectives"] for kr in c["key_results"]]
        assert [kr["key"] for kr in mine] == [key]
        assert mine == [kr for c in cycle["objectives"] for kr in c["key_results"]
                        if kr["key"] == key]


def test_the_trail_and_the_feed_read_their_items_facts_alone_and_say_what_the_whole_log_does(
        site: Site) -> None:
    """A fact changes its own item only, so the diffs worked out from the facts of the items
    shown are those of a walk over the whole log."""
    from okr.domain.trail import trail_rows

    s = site.app.app.state.site
    s.scorecard(datetime.now(UTC), datetime.now(UTC))  # brought up to date
    everything = s.read(lambda p: list(p.facts()))
    for key in ("k-eng", "wau", "o-child", "live", "vic"):
        ids = {f.aggregate_id for f in everything if f.data.get("key") == key}
        assert s.trail(key) == trail_rows(everything, lambda f, ids=ids: f.aggregate_id in ids), key
    for kind in (None, "key_result", "kpi"):
        feed = s.audit_feed(None, kind, None, 7)
        shown = {r["position"] for r in feed.rows}
        assert len(shown) == (3 if kind == "kpi" else 7)  # wau: added, read twice
        assert feed.rows == trail_rows(everything, lambda f, s=shown: f.position in s)[::-1]


def test_a_filtered_scorecard_page_scores_in_the_sql_and_shows_what_filtering_all_does(
        site: Site) -> None:
    """The scorecard page asks the SQL for one cycle, team or owner (scoring only those and the
    objectives below them) and lists the choices without scoring: what it shows and offers is
    what filtering the whole organisation's scorecard shows and offers, at several instants."""
    s = site.app.app.state.site
    now = datetime.now(UTC)
    assert s.scorecard(now, now)  # brought up to date
    checked = 0
    for at in (now - timedelta(days=90), now - timedelta(days=20), now):
        whole = s.scorecard(at, now)
        _, choices = s.scorecard_page(at, now, None, None, None)
        assert choices == {"cycles": sorted({c["cycle"] for c in whole}),
                           "teams": sorted({c["team"] for c in whole if c["team"]}),
                           "owners": sorted({c["owner"] for c in whole})}
        for field, values in (("cycle", choices["cycles"]), ("team", choices["teams"]),
                              ("owner", choices["owners"])):
            for value in values:
                wanted = {"cycle": None, "team": None, "owner": None, field: value}
                shown, _ = s.scorecard_page(at, now, **wanted)
                assert shown == [c for c in whole if c[field] == value], (at, field, value)
                checked += 1
    assert checked >= 5


def test_the_review_page_counts_back_dated_check_ins_as_okr_review_does(site: Site) -> None:
    """The web review page listed no back-dated check-in at all (the terminal, Markdown and
    HTML reviews do): it says the total and one line per batch, as `okr review` does."""
    from markupsafe import escape

    from okr.cli.context import State
    from okr.cli.output import visible
    from okr.cli.report import backdated_lines, backdated_total
    from okr.cli.review_cmds import build

    html = site.signed_in("vic").get("/review/live").text
    model = build(State(_settings=site.settings), "live", None, None)
    assert model["backdated"], "the seed has a check-in recorded days after its time"
    section = re.search(r'<section id="backdated">(.*?)</section>', html, re.S)
    assert section, "no back-dated section on the review page"
    _, zone = site.app.app.state.site.zoned_review("live", datetime.now(UTC),
                                                  datetime.now(UTC))
    assert backdated_total(model) in section.group(1)
    items = re.findall(r"<li>(.*?)</li>", section.group(1), re.S)
    person = site.app.app.state.site.zone  # the server's, as the page says recording times
    assert items == [str(escape(visible(line)))
                     for line in backdated_lines(model, zone, person=person)]
    assert items and all(line.startswith("back-dated: ") for line in items)
    each = site.signed_in("vic").get("/review/live", params={"all": "1"}).text  # as --all
    section = re.search(r'<section id="backdated">(.*?)</section>', each, re.S)
    assert section and re.findall(r"<li>(.*?)</li>", section.group(1), re.S) == [
        str(escape(visible(line)))
        for line in backdated_lines(model, zone, every=True, person=person)]


def test_the_review_page_shows_the_sections_of_okr_review_as_it_says_them(site: Site) -> None:
    """The page lacked the team and department tables and check-in habits, said its
    percentages as 0.93 where `okr review` says 93%, and the cycle as instants with an
    exclusive end where the CLI says its days in its zone: one content, said alike."""
    from markupsafe import escape

    from okr.cli.output import visible
    from okr.cli.report import header, sections, span

    s = site.app.app.state.site
    html = site.signed_in("vic").get("/review/live").text
    now = datetime.now(UTC)
    r, zone = s.zoned_review("live", now, now)
    said = sections(r, zone, s.zone)
    assert re.findall(r"<h2>(.*?)</h2>", html) == [
        t for sec in said for t in (sec.title, *(("Progress over time",)
                                                  if sec.key == "revisions" else ()))]
    when = re.search(r'<p class="when">(.*?)</p>', html, re.S)
    assert when and when.group(1).startswith(str(escape(span(r, zone)))), when
    assert when.group(1).split("; as of ")[0] == str(escape(header(r, zone, s.zone))).split(
        "; as of ")[0]
    for sec in said:
        if sec.key in ("teams", "departments", "calibration", "habits", "guardrails") \
                and sec.rows:
            table = re.search(rf'<table class="list" id="{sec.key}">(.*?)</table>', html, re.S)
            assert table, sec.key
            cells = [re.findall(r"<td>(.*?)</td>", row)
                     for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]]
            assert cells == [[str(escape(visible(c))) for c in row] for row in sec.rows], sec.key
    assert any(sec.key == "habits" and sec.rows for sec in said)
