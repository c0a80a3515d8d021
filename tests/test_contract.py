"""Every registered lab meets the one contract the UI and the engine rely on."""
import dataclasses
import re

import pytest
import torch

from playground import guides, i18n, params, registry
from playground.engine import loop

LABS = registry.LABS
ARTIFACT_KINDS = {"plotly", "image", "markdown"}


@pytest.fixture(params=LABS)
def lab(request):
    return registry.get(request.param)


def test_lab_declares_what_the_page_shows(lab):
    name = lab.__name__.rsplit(".", 1)[-1]
    guide = guides.text(name)
    assert guide.startswith(f"# {lab.TITLE}\n"), name
    assert len(guides.intro(name)) > 100 and "(" in guides.intro(name)     # the idea, its paper
    assert [h for h in guides.REQUIRED if f"\n{h}\n" not in guide] == [], name
    assert lab.TITLE and lab.ICON and lab.TRY_THIS
    assert lab.SECTION in registry.SECTIONS
    for fn in ("load_data", "build", "train_step", "evaluate", "artifacts"):
        assert callable(getattr(lab, fn)), fn


def test_config_is_frozen_and_every_field_is_a_param_with_help(lab):
    assert dataclasses.is_dataclass(lab.Config)
    assert lab.Config.__dataclass_params__.frozen
    specs = params.specs(lab.Config)
    assert all(s.help for s in specs)
    names = {s.name for s in specs}
    assert {"seed", "device", "lr"} <= names
    # batch_size is optional: without it every step takes the whole training set (a graph's
    # labelled nodes, a race's racers)
    # how long it trains: epochs, steps, or the lab's own count of loop steps (steps_of)
    assert "epochs" in names or "steps" in names or hasattr(lab, "steps_of")


def test_defaults_and_presets_are_valid(lab):
    assert registry.parse_config(lab, {}) == (lab.Config(), [])
    for name, overrides in getattr(lab, "PRESETS", {}).items():
        cfg, errors = registry.parse_config(lab, overrides)
        assert errors == [], (name, errors)


def test_blueprint_gives_layers_parameters_and_memory_without_allocating(lab):
    from playground.engine import summary

    info = summary.describe(lab, lab.Config())
    # a race of points on a surface has parameters but no layers
    assert info["rows"] or lab.__name__.endswith(".fundamentals")
    assert info["params"] > 0 and info["bytes"] > 4 * info["params"]
    data = lab.load_data(lab.Config())
    state = lab.build(lab.Config(), data)
    assert info["params"] == sum(p.numel() for p in state.model.parameters())


def test_tiny_run_completes_with_tensor_metrics_and_artifacts(lab, store):
    # the contract, not the model's quality: the smallest settings that still exercise it
    fields = lab.Config.__dataclass_fields__
    small = {"resnet": {"depth": 2, "width": 8},
             "dqn": {"env_steps": 1000, "learning_starts": 200, "batch_size": 8,
                     "buffer_size": 500, "train_frequency": 10, "eval_episodes": 1}
             }.get(lab.__name__.rsplit(".", 1)[-1], {})
    length = {"epochs": 1} if "epochs" in fields else {"steps": 5} if "steps" in fields else {}
    cfg, errors = registry.parse_config(lab, {**small, **length})
    assert not errors, errors
    data = lab.load_data(cfg)
    state = lab.build(cfg, data)
    if data.n_examples is not None:          # the lab cuts (or, for an agent, makes) its batches
        batch = lab.draw_batch(data, 8, torch.Generator().manual_seed(0), state)
    else:
        batch = tuple(t[:8] for t in data.train)
    out = lab.train_step(state, batch)
    assert out and all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in out.values())
    with torch.no_grad():
        val = lab.evaluate(state, data)
        arts = lab.artifacts(state, data)
    assert all(k.startswith("val/") and isinstance(v, float) for k, v in val.items())
    assert arts and all(a["kind"] in ARTIFACT_KINDS and a["title"] for a in arts.values())
    # made here in English, each picture's words are shown in Chinese from the catalogue
    chinese = i18n.catalog("zh")
    for key, a in arts.items():
        words = a.get("words") or {}
        for part in ("title", "caption"):
            message = words.get(part) or a.get(part)
            assert not message or message in chinese, (key, part, message)
    compare = getattr(lab, "COMPARE", None)
    compare = compare(cfg) if callable(compare) else compare
    if compare:
        # the pictures a comparison puts side by side are ones this lab's runs draw
        assert set(compare.get("views", ())) <= set(arts), (compare.get("views"), list(arts))

    run_id = store.create(lab.__name__.rsplit(".", 1)[-1], params.to_dict(cfg))
    result = loop.run(lab, cfg, run_id, store)
    assert result.status == "completed", result.message
    assert store.model_path(run_id) is not None
    # a training loss (a GAN has two: its players')
    assert any(k.startswith("train/") and "loss" in k for r in store.metrics(run_id) for k in r)


def test_every_comparison_ends_with_a_table_and_a_verdict(lab, monkeypatch):
    """A comparison's runs are judged in a sentence: with no run finished it says so."""
    compare = getattr(lab, "COMPARE", None)
    cfgs = [lab.Config()]
    if callable(compare):          # one comparison per experiment (fundamentals) or task (rnn)
        field = next(s for s in params.specs(lab.Config) if s.name in ("experiment", "task"))
        cfgs = [dataclasses.replace(lab.Config(), **{field.name: e}) for e in field.choices]
    for cfg in cfgs:
        spec = compare(cfg) if callable(compare) else compare
        if not spec:
            continue
        assert callable(spec.get("table")), (lab.__name__, spec["label"])
        rows, verdict = spec["table"]([])
        assert isinstance(rows, list) and verdict, (lab.__name__, spec["label"])
        monkeypatch.setattr(i18n, "_provider", lambda: "zh")      # and says it in Chinese
        spec = compare(cfg) if callable(compare) else compare
        assert re.search(r"[\u4e00-\u9fff]", spec["table"]([])[1]), (lab.__name__, spec["label"])
        monkeypatch.setattr(i18n, "_provider", None)


@pytest.mark.parametrize("name", registry.LABS, ids=str)
def test_navigation_metadata_read_from_the_source_matches_the_module(name):
    meta, lab = registry.meta(name), registry.get(name)
    for key in (*registry.META, "__doc__"):
        assert getattr(meta, key) == getattr(lab, key), key


def test_every_guide_says_what_the_code_says_now():
    """Each guide's Try this, settings and metrics are read from its lab; a change to a lab
    without `python -m playground guides` fails here, naming the guides to write again."""
    assert guides.stale(registry.LABS) == []


def test_the_page_shows_the_guide_without_what_it_shows_elsewhere():
    for name in registry.LABS:
        more = guides.more(name)
        assert "## On the page" in more and "## Try this" not in more and "<!--" not in more


def test_sessions_reading_the_labs_sources_at_once_all_get_answers():
    """Streamlit runs each visitor's page in a thread of its own, and the first visits read the
    labs' sources at the same time (CPython 3.11's AST builder is not thread-safe)."""
    import threading

    from playground.labs import torch_names

    failures, answers = [], []
    for _ in range(5):
        torch_names.cache_clear()
        registry.meta.cache_clear()
        start = threading.Barrier(8)

        def visit():
            start.wait()
            try:
                answers.append(sum(len(torch_names(f"playground.labs.{n}"))
                                   + len(registry.meta(n).TITLE) for n in registry.LABS))
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(e))

        threads = [threading.Thread(target=visit) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not failures, failures[:3]
    assert len(answers) == 40 and len(set(answers)) == 1


def test_the_server_side_imports_no_torch():
    """Navigation, Home, every lab's face with what a page reads of it (its settings, presets,
    checks, comparisons, the words of EXPLORE and STEPS, which hooks its torch part has) and
    the UI's modules: none imports torch, scikit-learn or gymnasium - the Streamlit server
    draws, the worker computes."""
    import subprocess
    import sys

    code = """
import sys
from playground import params, registry
import playground.ui.app, playground.ui.home, playground.ui.page, playground.ui.runs
for n in registry.LABS:
    registry.meta(n)
    lab = registry.get(n)
    cfg = params.parse(lab.Config, {})[0]
    for name in ("CURVES", "COMPARE", "STAGE", "PLAIN_CURVES", "ACCEPTS_IMAGES", "HEADLINE",
                 "PRESETS", "EXPLORE", "STEPS", "DEMOS", "exportable"):
        getattr(lab, name, None)
    if getattr(lab, "check", None):
        lab.check(cfg)
    for hook in ("blueprint", "overview", "explore", "STEP_ACTIONS"):
        registry.has(n, hook)
print(sorted(m for m in ("torch", "sklearn", "gymnasium") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(__import__("pathlib").Path(__file__).parents[1]), timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]


def test_a_labs_looks_and_steps_are_in_its_torch_part(lab):
    """EXPLORE and STEPS are words in the face; what they do is the torch part's `explore`
    (`explore_text` for a typed look) and `STEP_ACTIONS` (one per button) with `show_steps`."""
    from playground.labs import torch_names

    torch_part = torch_names(lab.__name__)
    assert {"load_data", "build", "train_step", "evaluate", "artifacts"} <= torch_part
    ex = getattr(lab, "EXPLORE", None)
    if ex is not None:
        assert not any(callable(v) for k, v in ex.items() if k != "options"), ex
        assert ("explore" in torch_part) == ("field" in ex)
        assert ("explore_text" in torch_part) == ("text_label" in ex)
        assert {"field", "text_label"} & set(ex), ex
        assert all(f in {s.name for s in params.specs(lab.Config)} for f in ex.get("when", {}))
    steps = getattr(lab, "STEPS", None)
    if steps is not None:
        assert all(isinstance(a, str) for a in steps["actions"])
        assert list(lab.STEP_ACTIONS) == list(steps["actions"])
        assert callable(lab.show_steps)


def test_a_field_shown_only_under_some_settings_names_real_ones(lab):
    """`when` hides a field where it does not apply (the RNN's copy settings on the adding task):
    it must name another field and values that field can take, and hold for the defaults of a
    field the default settings use."""
    specs = {s.name: s for s in params.specs(lab.Config)}
    for spec in specs.values():
        for name, allowed in spec.when or ():
            assert name in specs and name != spec.name, (spec.name, name)
            other = specs[name]
            domain = other.choices or ((True, False) if other.kind == "bool" else None)
            assert domain and set(allowed) <= set(domain), (spec.name, name, allowed)
