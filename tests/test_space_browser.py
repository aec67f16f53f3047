"""The Space in a real browser: headless Debian Chromium driven by Playwright uses every tab through the page and
saves a screenshot of each (plus the limit message) to the test's tmp folder."""

import shutil
import socket

import pytest
from playwright.sync_api import expect, sync_playwright

from spaces_demo.app import DEFAULT_CORPUS_MESSAGE, build_demo, launch
from spaces_demo.registry import MINILM_HUB_ID, ModelRegistry

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's, installed by the README's set-up
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LABELS = [MINILM_HUB_ID, f"{MINILM_HUB_ID} (2)"]  # the packaged model offered twice: named by its Hub id
RESULT_TIMEOUT_MS = 120_000  # a wait for the page, not a test time limit: model loading on a busy 2-core CI box
expect.set_options(timeout=RESULT_TIMEOUT_MS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def space_url(minilm_path):
    demo = build_demo(ModelRegistry([str(minilm_path), str(minilm_path)]))
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield url
    finally:
        demo.close()


@pytest.fixture
def page(space_url):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(RESULT_TIMEOUT_MS)
        page.goto(space_url)
        yield page
        browser.close()


def first_row(page, table_id: str) -> str:
    return page.locator(f"#{table_id} .virtual-row[data-index='0']").inner_text()


def header(page, table_id: str) -> list[str]:
    cells = page.locator(f"#{table_id} th[role=columnheader]")
    expect(cells.first).to_be_attached()
    return [cells.nth(i).get_attribute("title") for i in range(cells.count())]


def plot(page, plot_id: str):
    """The drawn chart of a native plot (Vega renders into a canvas or an svg)."""
    return page.locator(f"#{plot_id} canvas, #{plot_id} svg.marks").first


DRAWING = """plotId => {
    const svg = document.querySelector(`#${plotId} svg.marks`);
    const box = element => element.getBoundingClientRect().toJSON();
    return {svg: box(svg), title: box(svg.querySelector(".role-title-text")),
            frame: box(svg.querySelector(".role-frame > g > path.background")),
            points: [...svg.querySelectorAll("g.role-mark path")].map(box)};
}"""


def assert_drawn_whole_at(page, plot_id: str, width: int) -> None:
    """At a viewport `width` px wide, the chart's title and every point lie inside its drawing (nothing cut)."""
    page.set_viewport_size({"width": width, "height": 1000})
    page.wait_for_function(f"() => document.querySelector('#{plot_id} svg.marks').getBoundingClientRect().width "
                           f"< {width}")
    page.wait_for_timeout(500)  # Vega redraws after the resize
    drawing = page.evaluate(DRAWING, plot_id)
    svg, title, frame = drawing["svg"], drawing["title"], drawing["frame"]
    assert svg["left"] <= title["left"] and title["right"] <= svg["right"], (title, svg)
    assert drawing["points"]
    outside = [p for p in drawing["points"] if p["left"] < frame["left"] - 0.5 or p["right"] > frame["right"] + 0.5
               or p["top"] < frame["top"] - 0.5 or p["bottom"] > frame["bottom"] + 0.5]
    assert not outside, (outside[:3], frame)


def test_every_tab_works_in_a_browser(page, tmp_path):
    # Before any result, tables show their real headers (not Gradio's "1 2 3").
    assert header(page, "similarity-table") == [*LABELS, "text"]
    # Sentence similarity: a paraphrase and an unrelated sentence, table and chart.
    page.get_by_label("Source sentence").fill("A cat naps on the couch.")
    page.get_by_label("Sentences to compare (one per line)").fill(
        "A kitten is sleeping on the sofa.\nThe quarterly earnings report disappointed investors."
    )
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page.locator("#similarity-table .virtual-row")).to_have_count(2)
    expect(page.locator("#similarity-table")).to_contain_text("A kitten is sleeping on the sofa.")
    expect(plot(page, "similarity-plot")).to_be_visible()
    assert header(page, "similarity-table") == [*LABELS, "text"]
    expect(page.locator("#similarity-plot")).to_contain_text("all-MiniLM-L6-v2 (2)")  # the legend tells models apart
    page.screenshot(path=tmp_path / "1_similarity.png", full_page=True, animations="disabled")

    # Oversized input: the limit message appears and the page keeps working.
    page.get_by_label("Source sentence").fill("x" * 1001)
    page.get_by_role("button", name="Compare", exact=True).click()
    toast = page.locator(".toast-wrap")
    expect(toast).to_contain_text("source sentence has 1,001 characters; the limit is 1,000")
    page.screenshot(path=tmp_path / "2_limit_message.png", animations="disabled")
    toast.get_by_test_id("toast-close").click()
    expect(toast).not_to_contain_text("limit")

    # Asymmetric QA: the right answer ranks first.
    page.get_by_role("tab", name="Asymmetric QA").click()
    assert header(page, "qa-ranking") == ["rank", "score", "answer"]
    page.get_by_label("Question").fill("At what temperature does water boil?")
    page.get_by_label("Candidate answers (one per line)").fill(
        "The Eiffel Tower is in Paris.\nWater boils at 100 degrees Celsius at sea level.\nPenguins live in the south."
    )
    page.get_by_role("button", name="Rank answers").click()
    expect(page.locator("#qa-ranking .virtual-row")).to_have_count(3)
    assert "Water boils at 100 degrees Celsius" in first_row(page, "qa-ranking")
    page.screenshot(path=tmp_path / "3_qa.png", full_page=True, animations="disabled")

    # Search / cluster on an uploaded corpus: the planted item comes first, then a cluster plot.
    page.get_by_role("tab", name="Search / cluster").click()
    expect(page.locator("#corpus-info")).to_contain_text(DEFAULT_CORPUS_MESSAGE)
    corpus = tmp_path / "upload.txt"
    planted = "The violinist tuned her instrument before the recital."
    others = [
        "Knead the dough for ten minutes.", "Bake the bread until golden.", "Whisk the eggs with sugar.",
        "The rocket reached orbit.", "Mars has two moons.", "The telescope found a comet.",
        "The striker scored a goal.", "The team won the final.", "She ran a marathon.",
        "The drummer kept the beat.", "The choir sang a hymn.",
    ]  # fmt: skip
    corpus.write_text("\n".join([*others[:5], planted, *others[5:]]), encoding="utf-8")
    page.locator("#corpus-file input[type=file]").set_input_files(corpus)
    expect(page.locator("#corpus-info")).not_to_contain_text("default corpus")  # no stale message after an upload
    page.get_by_label("Query").fill("Who got the violin ready for the concert?")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#corpus-info")).to_contain_text("12 texts from upload.txt")
    expect(page.locator("#search-hits .virtual-row")).to_have_count(5)
    assert planted in first_row(page, "search-hits")
    page.get_by_role("button", name="Cluster corpus").click()
    expect(plot(page, "cluster-plot")).to_be_visible()
    expect(page.locator("#cluster-table .virtual-row")).to_have_count(8)
    page.screenshot(path=tmp_path / "4_search_cluster.png", full_page=True, animations="disabled")
    assert_drawn_whole_at(page, "cluster-plot", 420)  # a phone's width
    page.screenshot(path=tmp_path / "4_search_cluster_420px.png", full_page=True, animations="disabled")
    page.set_viewport_size({"width": 1400, "height": 1000})

    # Gender bias: the set's overall share and per-occupation chart, then one's own anchor and propositions.
    page.get_by_role("tab", name="Gender bias").click()
    page.get_by_role("button", name="Run the evaluation set").click()
    expect(page.locator("#bias-overall .virtual-row")).to_have_count(2)
    expect(page.locator("#bias-overall")).to_contain_text("624")
    expect(plot(page, "bias-plot")).to_be_visible()
    assert header(page, "bias-table") == ["occupation", "percent women", *LABELS]
    assert 300 < page.locator("#bias-plot").bounding_box()["height"] < 700  # not a 1,300 px column of bars
    assert_drawn_whole_at(page, "bias-plot", 420)
    page.screenshot(path=tmp_path / "5_gender_bias_420px.png", full_page=True, animations="disabled")
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.get_by_label("Anchor").fill("The kitten sleeps in the sun.")
    page.get_by_label("Proposition A").fill("A small cat is sleeping.")
    page.get_by_label("Proposition B").fill("The bank raised interest rates.")
    page.get_by_role("button", name="Compare A and B").click()
    expect(page.locator("#bias-pair .virtual-row")).to_have_count(2)
    assert first_row(page, "bias-pair").split()[-1] == "A"
    page.screenshot(path=tmp_path / "5_gender_bias.png", full_page=True, animations="disabled")

    saved = sorted(path.stem for path in tmp_path.glob("*.png"))
    assert saved == ["1_similarity", "2_limit_message", "3_qa", "4_search_cluster", "4_search_cluster_420px",
                     "5_gender_bias", "5_gender_bias_420px"]
    print(f"screenshots in {tmp_path}")
