"""An analyst's day in a real browser, with a real worker executing the runs.

Log in, upload a JSONL dataset (preview and mapping first), create an eval config
with two metrics in the picker, start a run and watch the live status table
reach ``completed`` without reloading, open the run, filter to failing items and
read the judge's reason, make a more lenient config version, run it, compare the
two runs, export CSV.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re

import pytest
from playwright.sync_api import expect

from datasets.models import DatasetVersion
from runs.models import Run

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CAPITALS = [
    ("France", "Paris"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Japan", "Tokyo"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Egypt", "Cairo"),
    ("Chile", "Santiago"),
    ("Norway", "Oslo"),
    ("Cuba", "Havana"),
    ("Ghana", "Accra"),
    ("Iran", "Tehran"),
    ("Iraq", "Baghdad"),
    ("Mali", "Bamako"),
    ("Nepal", "Kathmandu"),
    ("Oman", "Muscat"),
    ("Qatar", "Doha"),
    ("Chad", "N'Djamena"),
    ("Fiji", "Suva"),
    ("Laos", "Vientiane"),
    ("Togo", "Lomé"),
    ("Yemen", "Sanaa"),
    ("Niger", "Niamey"),
    ("Gabon", "Libreville"),
]


def dataset_file(tmp_path):
    """24 questions: 10 answered exactly, 8 right but in lower case, 6 wrong.

    The wrong answers carry ``FAKE_SCORE: 1`` so the fake judge fails them
    with a reason; everything else it passes.
    """
    lines = []
    for i, (country, capital) in enumerate(CAPITALS):
        if i < 10:
            answer = capital
        elif i < 18:
            answer = capital.lower()
        else:
            answer = f"Probably Atlantis. FAKE_SCORE: 1 <b>{i}</b>"
        lines.append(
            json.dumps(
                {
                    "question": f"What is the capital of {country}?",
                    "gold": capital,
                    "bot": answer,
                    "topic": "geography",
                }
            )
        )
    path = tmp_path / "capitals.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw-for-tests")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def nav(page, name: str):
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def settled(page):
    """Wait until htmx has swapped and settled (new content gets its hx-* behaviour then)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def pick_metric(page, index: int, slug: str):
    """Choose a metric in picker row ``index`` and wait for its argument form to swap in."""
    settled(page)
    page.locator(f"#m-{index}-metric").select_option(slug)
    expect(page.locator(f'#m-{index}-args input[name="m-{index}-args-shown"]')).to_have_value(slug)


def start_config_run(page, live_server, shot, alias, screenshot=None):
    """Start a run from the config form and watch its row go to completed, no reload."""
    page.get_by_label("Alias").fill(alias)
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#run-form .message-success")).to_contain_text(alias)
    row = page.locator("#run-table tr", has_text=alias)
    expect(row).to_be_visible()
    if screenshot:
        # Mid-run, while the worker is still scoring (the fake judge is slowed down).
        expect(row.locator(".status")).to_have_text(re.compile("Pending|Running"), timeout=20_000)
        # For the picture only: prefer the row once the worker has picked the run up.
        with contextlib.suppress(AssertionError):
            expect(row).to_have_attribute("data-status", "running", timeout=6_000)
        shot(page, screenshot)
    expect(row).to_have_attribute("data-status", "completed", timeout=90_000)
    expect(row.locator(".count")).to_have_text("24/24")
    # Still the same document: the table updated itself by htmx polling.
    assert page.evaluate("window.__sameDocument") is True
    # And with nothing active, the table stopped polling.
    expect(page.locator("#run-table")).not_to_have_attribute("data-polling", "true")
    return Run.objects.get(alias=alias)


def test_analyst_walkthrough(
    page, live_server, worker, owner, org, judge_model, fake_llm, shot, tmp_path
):
    fake_llm.set(latency=0.3)

    # --- log in, dashboard ------------------------------------------------------------
    log_in(page, live_server, owner.username)
    shot(page, "01-dashboard-empty")

    # --- a dataset from a JSONL upload, with a preview and a column mapping -----------
    nav(page, "Datasets")
    page.get_by_role("link", name="New dataset").click()
    page.get_by_label("Name").fill("World capitals")
    page.get_by_label("Organization").select_option(label="Acme")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_role("heading", name="Upload records")).to_be_visible()

    page.get_by_label("File").set_input_files(str(dataset_file(tmp_path)))
    page.get_by_role("button", name="Preview and map columns").click()
    expect(page.locator("#upload-preview table")).to_be_visible()
    # Unusual column names: map them by hand.
    for role, column in (
        ("input", "question"),
        ("expected_output", "gold"),
        ("actual_output", "bot"),
    ):
        page.locator(f"#map-{role}").select_option(column)
        settled(page)  # each change re-previews; the badges follow the mapping
    expect(page.locator("#map-actual_output")).to_have_value("bot")
    expect(page.locator("#upload-preview thead")).to_contain_text("actual_output")
    expect(page.locator("#upload-preview tbody tr")).to_have_count(10)
    shot(page, "02-upload-preview")
    page.get_by_role("button", name="Import as version 1").click()
    expect(page.get_by_role("heading", name="World capitals")).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("Imported 24 records as version 1")
    expect(page.locator("#dataset-records tbody tr")).to_have_count(24)
    # The mapping held: expected outputs are the gold column.
    expect(page.locator("#dataset-records")).to_contain_text("Kathmandu")
    shot(page, "03-dataset-detail")

    # --- an eval config with two metrics ------------------------------------------------
    nav(page, "Eval configs")
    page.get_by_role("link", name="New eval config").click()
    page.get_by_label("Name", exact=True).fill("Capitals: strict")
    page.get_by_label("Dataset").select_option(label="World capitals")
    page.get_by_label("Organization").select_option(label="Acme")
    pick_metric(page, 0, "exact_match")
    expect(page.locator("#m-0-arg-case_sensitive")).to_be_checked()
    page.get_by_role("button", name="+ Add a metric").click()
    expect(page.locator("#m-1-metric")).to_be_visible()
    pick_metric(page, 1, "answer_correctness")
    page.get_by_label("Pass-rate threshold (%)").fill("60")
    page.get_by_label("Judge model").select_option("fake-judge")
    # Inline validation first: a repetitions value the form refuses, nothing saved.
    page.get_by_label("Repetitions").fill("0")
    page.get_by_role("button", name="Create eval config").click()
    expect(page.locator("#field-repetitions .field-error")).to_be_visible()
    page.get_by_label("Repetitions").fill("1")
    shot(page, "04-config-form")
    page.get_by_role("button", name="Create eval config").click()
    expect(page.get_by_role("heading", name="Capitals: strict")).to_be_visible()

    # --- run it and watch the status table --------------------------------------------
    page.get_by_role("link", name="Run v1").click()
    expect(page.get_by_label("Dataset version")).to_have_value(
        str(DatasetVersion.objects.get(dataset__name="World capitals").pk)
    )
    strict = start_config_run(page, live_server, shot, "strict-1", screenshot="05-run-live")
    assert strict.status == "completed" and strict.pass_rate == pytest.approx(41.67, abs=0.01)

    # --- the run: results, charts, failing items with the judge's reason ---------------
    page.locator("#run-table").get_by_role("link", name="strict-1").click()
    expect(page.locator("#run-status")).to_have_text("Completed")
    expect(page.locator("#run-results")).to_contain_text("answer_correctness")
    expect(page.locator("canvas[data-chart='distribution']")).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('canvas[data-chart]')].every(c => Chart.getChart(c))"
    )
    shot(page, "06-run-detail", height=1250)
    page.get_by_role("link", name=re.compile(r"^Failing \(14\)")).click()
    expect(page.locator("#run-items details.item")).to_have_count(14)
    expect(page).to_have_url(re.compile(r"show=failed"))
    wrong = page.locator("#run-items details.item", has_text="Atlantis").first
    wrong.locator("summary").click()
    expect(wrong).to_contain_text("fake judge: FAKE_SCORE")
    # Output is escaped: the <b> from the file shows as text.
    expect(wrong.locator("pre").nth(2)).to_contain_text("<b>")
    wrong.evaluate("el => el.scrollIntoView({block: 'center'})")
    shot(page, "07-failing-items", full_page=False)

    # --- a lenient version, a second run, the comparison -------------------------------
    page.get_by_role("link", name="Capitals: strict").click()
    page.get_by_role("link", name="New version").click()
    expect(page.locator("#m-0-arg-case_sensitive")).to_be_checked()
    page.locator("#m-0-arg-case_sensitive").uncheck()
    page.get_by_label("Note").fill("Ignore case")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator("#version-2")).to_contain_text("Ignore case")
    page.get_by_role("link", name="Run v2").click()
    lenient = start_config_run(page, live_server, shot, "lenient-2")
    assert lenient.pass_rate == pytest.approx(75.0)

    page.locator("#run-table").get_by_role("link", name="lenient-2").click()
    expect(page.locator("#run-status")).to_have_text("Completed")
    page.get_by_role("button", name="Pin as baseline").click()
    expect(page.locator(".baseline")).to_contain_text("Baseline of World capitals")
    page.get_by_role("link", name="Compare…").click()
    expect(page.get_by_role("heading", name="Compare runs")).to_be_visible()
    expect(page.locator("#compare-base")).to_have_value(str(strict.pk))
    expect(page.locator("#cmp-improved")).to_have_text("Improved: failed in A, passed in B (8)")
    expect(page.locator("#cmp-regressed")).to_have_text("Regressed: passed in A, failed in B (0)")
    expect(page.get_by_text("B is significantly better than A")).to_be_visible()
    shot(page, "08-compare")

    # --- export CSV ------------------------------------------------------------------------
    page.get_by_role("link", name="lenient-2").first.click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert len(rows) == 24
    assert rows[0]["exact_match.passed"] == "true"
    assert rows[20]["answer_correctness.reason"] == "fake judge: FAKE_SCORE"

    nav(page, "Dashboard")
    expect(page.locator("#run-table tr[data-status='completed']")).to_have_count(2)
    shot(page, "10-dashboard")

    # --- the same pages at phone width ------------------------------------------------------
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/runs/{lenient.pk}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "09-run-detail-phone")
    page.goto(f"{live_server.url}/runs/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_viewer_walks_the_pages_without_write_buttons(page, live_server, owner, viewer, org):
    from tests.runs.conftest import make_dataset

    rows = [{"input": f"q{i}", "expected_output": "a", "actual_output": "a"} for i in range(3)]
    dataset = make_dataset(owner=owner, organization=org, records=rows, name="Shared")
    log_in(page, live_server, viewer.username)
    page.goto(f"{live_server.url}/datasets/{dataset.pk}/")
    expect(page.get_by_role("heading", name="Shared")).to_be_visible()
    expect(page.get_by_role("link", name="Upload a new version")).to_have_count(0)
    expect(page.get_by_role("link", name="Run with its metrics")).to_have_count(0)
    # A forged post is refused and the page says so without breaking.
    status = page.evaluate(
        """async (url) => (await fetch(url, {method: 'POST', headers: {'X-CSRFToken':
        document.querySelector('[name=csrfmiddlewaretoken]').value}})).status""",
        f"{live_server.url}/datasets/{dataset.pk}/refresh/",
    )
    assert status == 403
    # The switcher: choosing "Personal" reloads the page in that scope.
    page.goto(f"{live_server.url}/datasets/")
    expect(page.locator("#dataset-table tbody")).to_contain_text("Shared")
    page.get_by_label("Working in").select_option("personal")
    page.get_by_role("button", name="Switch").click()
    expect(page.locator("#dataset-table tbody")).not_to_contain_text("Shared")
    expect(page.get_by_label("Working in")).to_have_value("personal")
    # In their personal space a viewer may create.
    expect(page.get_by_role("link", name="New dataset")).to_be_visible()


def test_metric_picker_works_from_the_keyboard(page, live_server, member):
    log_in(page, live_server, member.username)
    page.goto(f"{live_server.url}/configs/new/")
    page.locator("#m-0-metric").focus()
    page.keyboard.press("ArrowDown")  # the first metric: its argument form swaps in
    expect(page.locator('#m-0-args input[name="m-0-args-shown"]')).to_have_value("json_equal")
    settled(page)
    page.locator("#metric-add").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#m-1-metric")).to_be_visible()
    # Submitting from the keyboard with nothing else filled shows the errors in place.
    page.get_by_label("Name", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#field-name .field-error")).to_have_text("This field is required.")
    expect(page).to_have_url(f"{live_server.url}/configs/new/")
