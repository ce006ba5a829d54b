"""The review page in a real browser: Debian's chromium, headless, driven by Selenium through /usr/bin/chromedriver.

Skipped, with the reason, where selenium, chromium or chromedriver is missing (``.ci/run`` installs them
where it may). With ``QAGEN_WRITE_SCREENSHOTS=1`` the test on the sample corpus also saves the page's
views to ``examples/review/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import CORPUS, read_jsonl

from qagen.cli import main

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "examples" / "review"
HOSTILE = "</script><img src=x onerror=alert(1)>"
# Read as the module loads: the tests' clean environment removes every QAGEN_ variable before each test.
WRITE_SCREENSHOTS = os.environ.get("QAGEN_WRITE_SCREENSHOTS") == "1"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)", allow_module_level=True)

from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

# Without the background-networking flags chromium tries to reach its services, which a closed network refuses.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1280,1000")


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, downloads: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser, page: Path) -> None:
    browser.get_log("browser")  # what an earlier page logged is not this one's
    browser.get(page.resolve().as_uri())


def _console_errors(browser) -> list[dict]:
    return [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def _count(browser, view: str = "pairs") -> int:
    return int(browser.find_element(By.ID, f"{view}-count").get_attribute("data-total"))


def _listed_ids(browser) -> list[str]:
    """The ids of every pair the list shows, page after page."""
    ids = []
    while True:
        ids += [card.get_attribute("data-id") for card in browser.find_elements(By.CSS_SELECTOR, "#pairs-list article.pair")]
        following = browser.find_element(By.CSS_SELECTOR, "nav.pager button.next")
        if not following.is_enabled():
            return ids
        following.click()


def _card(browser, pair_id: str):
    return browser.find_element(By.CSS_SELECTOR, f'article.pair[data-id="{pair_id}"]')


def _screenshot(browser, name: str) -> None:
    if WRITE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / name))


def _wait_for_file(path: Path, seconds: float = 10.0) -> str:
    deadline = time.monotonic() + seconds  # a bound on waiting, not an assertion about speed
    while time.monotonic() < deadline:
        if path.is_file() and not path.with_name(path.name + ".crdownload").exists():
            return path.read_text(encoding="utf-8")
        time.sleep(0.1)
    raise AssertionError(f"{path} was not downloaded")


def test_the_page_lists_filters_and_exports_decisions_that_apply_applies(browser, downloads: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = Path("out")  # relative, as a user types it: the page's heading (and the screenshots) show "out"
    assert main([str(CORPUS), "-o", str(out), "-q"]) == 0
    pairs = read_jsonl(out / "pairs.jsonl")
    rejects = read_jsonl(out / "rejects.jsonl")
    _open(browser, out / "review.html")
    assert _console_errors(browser) == []
    _screenshot(browser, "pairs.png")

    assert _count(browser) == len(pairs) > 50  # more than one page of 50
    # The supporting words: marked in the chunk, each a word of the answer; a figure stays one word ("9.40").
    figures: set[str] = set()
    for pair in pairs[:50]:
        marked = [m.get_attribute("textContent") for m in _card(browser, pair["id"]).find_elements(By.CSS_SELECTOR, ".chunk-text mark")]
        assert bool(marked) == (pair["kind"] == "grounded")
        assert all(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", pair["answer"], re.IGNORECASE) for word in marked), pair["id"]
        figures.update(set(re.findall(r"\d+\.\d+", pair["answer"])) & set(marked))
    assert figures  # the sample's first page has prices and shares: "4.5", "9.40"
    assert _listed_ids(browser) == [p["id"] for p in pairs]

    # Filters narrow the list: a word of one question, then the I-don't-know kind.
    word = "Kellimore"
    search = browser.find_element(By.ID, "pairs-search")
    search.send_keys(word)
    having = [p for p in pairs if word.lower() in (p["question"] + p["answer"] + p["source"] + (p["section"] or "")).lower()]
    assert 0 < _count(browser) == len(having) < len(pairs)
    search.clear()
    search.send_keys(" ")  # clear() fires no input event; a lone space matches nothing, so type and remove it
    search.send_keys("\b")
    assert _count(browser) == len(pairs)
    Select(browser.find_element(By.ID, "pairs-kind")).select_by_value("idk")
    assert 0 < _count(browser) == sum(1 for p in pairs if p["kind"] == "idk") < len(pairs)
    Select(browser.find_element(By.ID, "pairs-kind")).select_by_value("")

    # Rejects and coverage.
    browser.find_element(By.ID, "tab-rejects").click()
    assert _count(browser, "rejects") == len(rejects) > 0
    _screenshot(browser, "rejects.png")
    browser.find_element(By.ID, "tab-coverage").click()
    chunks = read_jsonl(out / "chunks.jsonl")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chunk-chart rect")) == len(chunks)
    _screenshot(browser, "coverage.png")
    browser.find_element(By.ID, "tab-run").click()
    assert "pairs kept" in browser.find_element(By.ID, "view").text
    browser.find_element(By.ID, "tab-pairs").click()

    # Decisions: keep one, drop one, edit one (two pairs of one chunk and a third).
    kept, dropped, edited = pairs[0], pairs[1], pairs[2]
    _card(browser, kept["id"]).find_element(By.CSS_SELECTOR, "button.act-keep").click()
    _card(browser, dropped["id"]).find_element(By.CSS_SELECTOR, "button.act-drop").click()
    _card(browser, edited["id"]).find_element(By.CSS_SELECTOR, "button.act-edit").click()
    question = _card(browser, edited["id"]).find_element(By.CSS_SELECTOR, "textarea.edit-question")
    question.clear()
    new_question = "What exactly does this part of the documents state?"
    question.send_keys(new_question)
    _card(browser, edited["id"]).find_element(By.CSS_SELECTOR, "button.save").click()
    assert "active" in _card(browser, dropped["id"]).find_element(By.CSS_SELECTOR, "button.act-drop").get_attribute("class")
    assert browser.find_element(By.ID, "export").text == "Export decisions (3)"
    browser.find_element(By.ID, "export").click()
    exported = _wait_for_file(downloads / "decisions.jsonl")
    assert [json.loads(line) for line in exported.splitlines()] == [
        {"pair_id": kept["id"], "action": "keep"},
        {"pair_id": dropped["id"], "action": "drop"},
        {"pair_id": edited["id"], "action": "edit", "question": new_question, "answer": edited["answer"]},
    ]
    assert exported.endswith("\n") and _console_errors(browser) == []

    decisions = tmp_path / "decisions.jsonl"
    shutil.move(downloads / "decisions.jsonl", decisions)
    assert main(["apply", str(out), str(decisions), "-q"]) == 0
    after = {p["id"]: p for p in read_jsonl(out / "pairs.jsonl")}
    assert dropped["id"] not in after and kept["id"] in after
    assert after[edited["id"]]["question"] == new_question
    assert any(r["pair_id"] == dropped["id"] and r["stage"] == "review" for r in read_jsonl(out / "rejects.jsonl"))

    # The page apply wrote shows the stored decisions as they load, and a dropped pair can be taken back.
    _open(browser, out / "review.html")
    assert browser.find_element(By.ID, "export").text == "Export decisions (3)"
    assert "active" in _card(browser, edited["id"]).find_element(By.CSS_SELECTOR, "button.act-edit").get_attribute("class")
    browser.find_element(By.ID, "tab-rejects").click()
    Select(browser.find_element(By.ID, "rejects-stage")).select_by_value("review")
    assert _count(browser, "rejects") == 1
    browser.find_element(By.CSS_SELECTOR, f'article.reject[data-pair="{dropped["id"]}"] button.act-restore').click()
    browser.find_element(By.ID, "export").click()
    exported = _wait_for_file(downloads / "decisions.jsonl")
    assert {"pair_id": dropped["id"], "action": "keep"} in [json.loads(line) for line in exported.splitlines()]
    shutil.move(downloads / "decisions.jsonl", decisions)
    assert main(["apply", str(out), str(decisions), "-q"]) == 0
    assert dropped["id"] in {p["id"] for p in read_jsonl(out / "pairs.jsonl")}
    assert _console_errors(browser) == []


def test_hostile_document_text_shows_as_text_and_a_chunk_that_gave_nothing_stands_out(browser, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gate.md").write_text(
        f"# Gate\n\nThe harbour gate opens at 06:40 every weekday {HOSTILE} and closes at 22:15.\n\n"
        "The ferry Heather Bell sails from the gate at 07:00 daily.\n", encoding="utf-8")
    (corpus / "rules.txt").write_text("----\n****\n", encoding="utf-8")  # no sentence: the offline generator gives nothing
    out = tmp_path / "o"
    assert main([str(corpus), "-o", str(out), "-q"]) == 0
    _open(browser, out / "review.html")  # an alert would stop the driver here
    assert browser.find_elements(By.TAG_NAME, "img") == []
    shown = [box.text for box in browser.find_elements(By.CSS_SELECTOR, ".chunk-text")]
    assert shown and all(HOSTILE in text for text in shown)

    browser.find_element(By.ID, "tab-coverage").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chunk-chart rect.none")) == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chunk-chart rect.kept")) == 1
    rows = browser.find_elements(By.CSS_SELECTOR, "#empty-chunks tr")[1:]
    assert [row.find_elements(By.TAG_NAME, "td")[1].text for row in rows] == ["rules.txt"]
    assert "null" not in browser.find_element(By.ID, "view").text.splitlines()  # no part left out shows as the word
    browser.find_element(By.ID, "tab-run").click()
    assert "null" not in browser.find_element(By.ID, "view").text.splitlines()
    assert _console_errors(browser) == []
