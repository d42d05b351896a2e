"""summary.html: self-contained, escaped, and the numbers of the run."""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser

from sos_inventory.report import html
from sos_inventory.runbook import action_of, problem_dict
from tests.unit.observe_sample import HOSTILE, sample_report


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def test_nothing_is_loaded_from_elsewhere() -> None:
    page = html.render(sample_report())
    tags = _parse(page).tags
    names = {name for name, _ in tags}
    assert not names & {"link", "img", "iframe", "object", "embed", "audio", "video", "source", "base"}
    assert all("src" not in attrs for _, attrs in tags)
    assert [attrs for name, attrs in tags if name == "script"] == [{}]  # ours, inline
    for _, attrs in tags:
        href = attrs.get("href")
        assert href is None or href.startswith("#"), href
    assert "url(" not in page and "@import" not in page


def test_input_text_is_escaped_everywhere() -> None:
    page = html.render(sample_report())
    assert HOSTILE not in page
    assert "<img" not in page
    parsed = _parse(page)
    text = "".join(parsed.text)
    assert 'SOS inventory returned an error when updating: <script>alert("x")</script>' in text
    assert f"box-{HOSTILE}" in text  # the unowned hostname, shown as text


def test_outcome_first_then_the_counts() -> None:
    report = sample_report()
    report.stopped = "the run's deadline passed: 3 applied, 1 failed, 0 not attempted"
    page = html.render(report)
    body = page.split("<body>", 1)[1]
    # The sample's one failed update of four says so in the headline.
    assert (
        body.index("Done, but 1 of 4 change(s) failed") < body.index("Stopped early") < body.index("Counts")
    )


def test_problems_with_their_action_and_ticket_draft() -> None:
    report = sample_report()
    page = html.render(report)
    (failed,) = [p for p in report.problems() if p.category.value == "sos_api_error"]
    ticket = problem_dict(failed, report.facts())["ticket"]
    assert ticket and "SOS API" in ticket
    assert "<details><summary>Ticket draft</summary><pre>" in page
    assert escape(ticket) in page
    assert escape(action_of(failed)) in page


def test_status_counts_before_and_after_the_applied_changes() -> None:
    counts = html.status_counts(sample_report())
    # A01, A02 Build -> Live applied; A03 Live -> Available failed (not counted).
    assert counts["ALC"] == {"Build": (6, 4), "Live": (4, 6), "Available": (0, 0)}
    assert counts["ALC_FR2"] == {"Build": (0, 0), "Live": (1, 1), "Available": (0, 0)}


def test_a_plan_shows_the_state_after_the_plan() -> None:
    counts = html.status_counts(sample_report("plan"))
    assert counts["ALC"] == {"Build": (6, 4), "Live": (4, 5), "Available": (0, 1)}
    assert "after the plan" in html.render(sample_report("plan"))


def test_a_jenkins_link_only_for_http_urls() -> None:
    report = sample_report()
    report.build_url = "javascript:alert(1)"
    assert "javascript:" not in "".join(str(a.get("href")) for _, a in _parse(html.render(report)).tags)
    report.build_url = "https://jenkins.example/job/sos-inventory-update/42/"
    assert 'href="https://jenkins.example/job/sos-inventory-update/42/"' in html.render(report)
