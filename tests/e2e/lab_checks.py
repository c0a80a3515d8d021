"""What each lab page shows around the journey's runs (tests/e2e/test_journey.py), checked on the
journey's own page so that no run is trained twice: `before` on the form before the first Train,
`trained` once that run ended (its views, a look into the finished model: an upload classified,
a typed word or question, sampling again, a greedy episode replayed, slow motion), `compared`
once the lab's comparison has its verdict, `again` just before Train again.

Each check takes (page, settings, tmp_path): `settings` maps the journey's form labels to the
values it set. With UPDATE_SCREENSHOTS=1 they write the README's pictures (assets/)."""
from __future__ import annotations

import re
from urllib.parse import unquote

import numpy as np
from PIL import Image

from tests.e2e.support import ASSETS, CONNECTED, UPDATE, picture


def _see(page, *titles: str, exact: bool = True) -> None:
    from playwright.sync_api import expect

    for title in titles:
        expect(page.get_by_text(title, exact=exact).first).to_be_visible()


def _cost(page, settings, tmp_path) -> None:
    """The model's size and cost, before any run (summary.describe)."""
    _see(page, "multiply-adds per example", exact=False)


# -- Fundamentals: the race, then the race again by hand ----------------------------------------

def _fundamentals_trained(page, settings, tmp_path) -> None:
    from playwright.sync_api import expect

    _see(page, "The race on the rosenbrock surface", "Distance to the minimum's loss")
    # the step each racer came within the tolerance (momentum at 666 from the default start)
    expect(page.get_by_text(re.compile(r"momentum: step \d+")).first).to_be_visible()
    picture(page, tmp_path / "fundamentals.png", "fundamentals.png", 2000)
    expect(page.get_by_text("Slow motion: the race, one step per click")).to_be_visible()
    page.get_by_text("Step through it by hand").click()
    expect(page.get_by_text(re.compile("Every racer on the start"))).to_be_visible()
    step = page.get_by_role("button", name="One step", exact=True)
    for n in (1, 2, 3):
        step.click()
        expect(page.get_by_text(f"Steps taken by hand: {n} x one step.")).to_be_visible()
    expect(page.get_by_text("Step 3: how steep, how far")).to_be_visible()
    page.get_by_role("button", name="Ten steps", exact=True).click()
    expect(page.get_by_text("Step 13: how steep, how far")).to_be_visible()
    page.get_by_text("Slow motion: the race, one step per click").evaluate(
        "e => e.scrollIntoView({block: 'start'})")
    picture(page, tmp_path / "steps.png", "fundamentals_steps.png", 1700)


# -- CNN: filters, feature maps, then an uploaded drawing classified ----------------------------

def _cnn_trained(page, settings, tmp_path) -> None:
    from playwright.sync_api import expect

    _see(page, "First-layer filters", "Feature maps of test image 0", exact=False)
    # a "7" drawn dark on white, as a user's pen drawing would be
    img = np.full((64, 64), 255, np.uint8)
    img[12:18, 14:50] = 0
    for k in range(36):
        img[18 + k:24 + k, 44 - k // 2:50 - k // 2] = 0
    drawing = tmp_path / "seven.png"
    Image.fromarray(img).save(drawing)
    page.locator("input[type=file]").set_input_files(str(drawing))
    expect(page.get_by_text("Prediction:")).to_be_visible()
    expect(page.get_by_text("What the model sees")).to_be_visible()
    picture(page, tmp_path / "cnn.png", "cnn_training.png", 2000)


# -- ResNet: a replay, then "Train it yourself" gives the form that trains again ----------------

def _resnet_again(page, settings, tmp_path) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name="Replay demo").click()
    expect(page.get_by_text(re.compile("Replay of a recorded run")).first).to_be_visible()
    page.get_by_role("button", name="Train it yourself").first.click()
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled()
    sidebar = page.locator('[data-testid="stSidebar"]')
    for label, value in settings.items():
        expect(sidebar.get_by_label(label, exact=True)).to_have_value(str(value))
    expect(sidebar.get_by_label("Depth", exact=True)).not_to_have_value("0")
    expect(page.get_by_text("Fix these settings to train")).to_have_count(0)


# -- Distillation: teacher vs student before, the three-way comparison, the Runs page -----------

DISTILL_RUN = r"\d{8}-\d{6}-distill-[0-9a-f]{6}"


def _distill_before(page, settings, tmp_path) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_text("Teacher vs student")).to_be_visible(timeout=90_000)
    expect(page.get_by_text(re.compile(r"The student is [\d.]+x smaller"))).to_be_visible()


def _distill_compared(page, settings, tmp_path) -> None:
    from playwright.sync_api import expect

    ids = re.findall(DISTILL_RUN, unquote(page.url.split("compare=")[1]))[:3]
    assert len(set(ids)) == 3, page.url
    expect(page.get_by_text(re.compile(r"^Distillation (helped|did not help|made no)"))
           ).to_be_visible()
    _see(page, "Soft targets of test image 0", "KL per class", exact=False)
    picture(page, tmp_path / "distill.png", "distill_comparison.png", 2600)
    # after training, the inspector looks at any test image without retraining
    picker = page.get_by_test_id("stMain").get_by_role("spinbutton", name="Test image")
    picker.fill("5")
    picker.press("Enter")
    _see(page, "Soft targets of test image 5", exact=False)

    # the Runs page overlays the three runs and shows what differs (a page of its own: the
    # journey's page stays on the comparison, to train again)
    runs, errors = page.context.new_page(), []
    runs.on("pageerror", lambda e: errors.append(str(e)))
    runs.set_default_timeout(120_000)
    runs.goto(f"{page.url.split('/distill')[0]}/runs?runs={','.join(ids)}")
    runs.wait_for_selector(CONNECTED)
    expect(runs.get_by_text("mode", exact=True).first).to_be_attached(timeout=60_000)
    expect(runs.locator("[data-testid='stPlotlyChart']").first).to_be_visible(timeout=90_000)
    picture(runs, tmp_path / "runs.png", "runs_page.png", 1800)
    assert not errors, errors
    runs.close()


# -- RNN: the three cells side by side, the LSTM's own pictures ---------------------------------

def _rnn_compared(page, settings, tmp_path) -> None:
    from playwright.sync_api import expect

    assert re.search(r"[?&]compare=(\d{8}-\d{6}-rnn-[0-9a-f]{6}(%2C|,)?){3}", page.url), page.url
    expect(page.get_by_text("Comparison: RNN vs LSTM vs GRU")).to_be_visible()
    expect(page.get_by_text("Best here:")).to_be_visible()          # the table, once all ended
    _see(page, "Gradient of the loss w.r.t. each input step", "GRU gates over time",
         "Predicted vs true sums", exact=False)
    picture(page, tmp_path / "rnn.png", "rnn_compare.png", 3300)


# -- Word2Vec: the corpus before, the word map, then a typed word's neighbours -----------------

def _word2vec_before(page, settings, tmp_path) -> None:
    _see(page, "The corpus")


def _word2vec_trained(page, settings, tmp_path) -> None:
    _see(page, "Word map (PCA of the word vectors)", "Analogies: b - a + c", exact=False)
    box = page.get_by_role("textbox", name="Type a word")
    box.fill("berlin")
    box.press("Enter")
    _see(page, "Nearest neighbours of 'berlin'", exact=False)
    picture(page, tmp_path / "word2vec.png", "word2vec.png", 3600)


# -- Transformer: attention, then a typed question answered from the finished weights -----------

def _transformer_trained(page, settings, tmp_path) -> None:
    from playwright.sync_api import expect

    _see(page, "Attention on test example 0", "Accuracy per answer position", exact=False)
    # plotly drew the grid: one heatmap per layer and head
    expect(page.locator(".js-plotly-plot .heatmaplayer").first).to_be_visible()
    box = page.get_by_role("textbox", name=re.compile("Type a question"))
    box.fill("12345678")
    box.press("Enter")
    _see(page, "The model's answer")
    expect(page.get_by_text("8 7 6 5 4 3 2 1")).to_be_visible()    # it learnt to reverse
    picture(page, tmp_path / "transformer.png", "transformer.png", 3400)


# -- GAN: the ring over D's heatmap, then one player at a time by hand -------------------------

def _gan_trained(page, settings, tmp_path) -> None:
    from playwright.sync_api import expect

    _see(page, "Real vs generated, and what D thinks", "8 fixed noise vectors, followed",
         "Modes covered", exact=False)
    expect(page.locator(".js-plotly-plot .heatmaplayer").first).to_be_visible()
    page.get_by_text("Step through it by hand").click()
    expect(page.get_by_text("The run as it ended")).to_be_visible()
    for n in (1, 2):
        page.get_by_role("button", name="One G step").click()
        expect(page.get_by_text(f"Steps taken by hand: {n} x one g step.")).to_be_visible()
    page.get_by_role("button", name="One D step").click()
    expect(page.get_by_text("2 x one g step, 1 x one d step")).to_be_visible()
    if UPDATE:
        size = page.viewport_size
        page.set_viewport_size({"width": 1400, "height": 1250})
        page.wait_for_timeout(1500)
        heading = page.get_by_text("Slow motion: one player at a time")
        heading.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(500)
        top = max(0, heading.bounding_box()["y"] - 10)
        page.screenshot(path=str(ASSETS / "gan_steps.png"),
                        clip={"x": 300, "y": top, "width": 1100, "height": 1240 - top})
        page.set_viewport_size(size)
    picture(page, tmp_path / "gan.png", "gan.png", 2600)


# -- VAE: the code map, the decoded plane, the prior's samples ---------------------------------

def _vae_trained(page, settings, tmp_path) -> None:
    _see(page, "The code of every test image", "Decoded all over the code plane",
         "Samples from the prior N(0, I)", "k-NN accuracy of the codes", exact=False)
    picture(page, tmp_path / "vae.png", "vae.png", 2800)


# -- Diffusion: the schedule before, the way from noise after, then sampling again --------------

def _diffusion_t(settings) -> int:
    return int(settings.get("T (noise steps)", 1000))


def _diffusion_before(page, settings, tmp_path) -> None:
    _see(page, f"The noise schedule (linear, T = {_diffusion_t(settings)})",
         "The forward process: the data as noise is added", exact=False)


def _diffusion_trained(page, settings, tmp_path) -> None:
    from playwright.sync_api import expect

    _see(page, "Samples over the data",
         f"The learned noise field at t = {max(1, _diffusion_t(settings) // 10)}",
         "From noise to data: the same points at each t", "Denoising, step by step")
    _see(page, "Energy distance to held-out data", exact=False)
    expect(page.locator(".js-plotly-plot .slider-container").first).to_be_attached()
    # sample the finished model again through other DDIM steps: quality against sampling time
    # (computed in the server - DDPM's T steps among them - so a busy core slows it a lot)
    steps_box = page.get_by_label("Sampling steps").last
    steps_box.fill("10" if int(settings.get("Sampling steps", 50)) != 10 else "20")
    steps_box.press("Enter")
    expect(page.get_by_text("Quality against sampling time")).to_be_visible(timeout=180_000)
    expect(page.get_by_text(re.compile(r"Pictures made in [\d.]+ s"))).to_be_visible()
    page.get_by_text("Quality against sampling time").evaluate("e => e.scrollIntoView()")
    picture(page, tmp_path / "diffusion.png", "diffusion.png", 3000)


# -- GNN: the karate club from its two leaders --------------------------------------------------

def _gnn_trained(page, settings, tmp_path) -> None:
    from playwright.sync_api import expect

    _see(page, "The graph, coloured by prediction", "Every node's hidden layer, in 2-D (PCA)")
    _see(page, "Validation-node accuracy", exact=False)
    expect(page.get_by_text(re.compile(r"the 2 labelled nodes")).first).to_be_visible()
    # the graph is drawn: 34 members and 78 links in one plotly chart
    page.wait_for_function("""() => [...document.querySelectorAll(
        '.js-plotly-plot .scatterlayer .trace')].some(t => t.querySelectorAll('.point').length
        === 34)""")
    picture(page, tmp_path / "gnn.png", "gnn.png", 2200)


# -- DQN: the returns, the latest greedy episode replayed, the greedy action over the state -----

def _dqn_trained(page, settings, tmp_path) -> None:
    from playwright.sync_api import expect

    _see(page, "Return of every training episode", "The latest greedy episode, replayed",
         "The greedy action over the state", "Return (test: greedy)")
    expect(page.get_by_text(re.compile(r"Evaluation episode 1 \(seed 10000\): \d+ steps"))
           ).to_be_visible()
    play = page.get_by_text("▶ Play").first
    expect(play).to_be_attached()
    play.click()
    expect(page.locator(".js-plotly-plot .slider-container").first).to_be_attached()
    picture(page, tmp_path / "dqn.png", "dqn.png", 2400)


LAB_CHECKS = {
    "fundamentals": {"trained": _fundamentals_trained},
    "cnn": {"before": _cost, "trained": _cnn_trained},
    "resnet": {"again": _resnet_again},
    "distill": {"before": _distill_before, "compared": _distill_compared},
    "rnn": {"before": _cost, "compared": _rnn_compared},
    "word2vec": {"before": _word2vec_before, "trained": _word2vec_trained},
    "transformer": {"before": _cost, "trained": _transformer_trained},
    "gan": {"trained": _gan_trained},
    "vae": {"trained": _vae_trained},
    "diffusion": {"before": _diffusion_before, "trained": _diffusion_trained},
    "gnn": {"trained": _gnn_trained},
    "dqn": {"trained": _dqn_trained},
}
