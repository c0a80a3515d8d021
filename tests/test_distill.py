"""Knowledge distillation: teacher, student from scratch and distilled student, compared
honestly."""
import statistics

import pytest
import torch

from playground import params, registry
from playground.engine import hosting, loop
from playground.engine.jobs import JobManager
from playground.engine.runs import RunInfo
from playground.labs import distill
from tests.helpers import open_page, poll_until, texts, wait_for

FAST = {"teacher_epochs": 10, "epochs": 30}


def _cfg(**overrides):
    cfg, errors = registry.parse_config(distill, overrides)
    assert not errors, errors
    return cfg


def _three_way(manager, cfg) -> list[str]:
    ids = []
    while (item := distill.COMPARE["plan"](cfg, list(ids))) is not None:
        ids.append(item if isinstance(item, str) else manager.submit("distill", cfg=item))
    return ids


def _finished(store, lab_name, **overrides) -> str:
    lab = registry.get(lab_name)
    cfg, errors = registry.parse_config(lab, overrides)
    assert not errors, errors
    run_id = store.create(lab_name, params.to_dict(cfg))
    assert loop.run(lab, cfg, run_id, store).status == "completed"
    return run_id


# ---------------------------------------------------------------------------------------------
# The loss

def test_soft_loss_is_zero_when_the_student_matches_its_teacher():
    z = torch.randn(16, 10)
    y = torch.randint(0, 10, (16,))
    _, soft, hard = distill.distillation_loss(z, z.clone(), y, temperature=5.0, alpha=0.9)
    assert soft.abs().item() < 1e-6 and hard.item() > 0


def test_t_squared_keeps_the_soft_gradient_comparable_across_temperatures():
    torch.manual_seed(0)
    teacher = torch.randn(64, 10) * 3
    y = torch.randint(0, 10, (64,))

    def grad_norm(t, scaled=True):
        z = torch.randn(64, 10, generator=torch.Generator().manual_seed(1)).requires_grad_()
        _, soft, _ = distill.distillation_loss(z, teacher, y, temperature=t, alpha=1.0)
        (soft if scaled else soft / (t * t)).backward()
        return z.grad.norm().item()

    scaled = grad_norm(2.0) / grad_norm(20.0)
    unscaled = grad_norm(2.0, False) / grad_norm(20.0, False)
    assert 0.2 < scaled < 5            # comparable with the T² factor...
    assert unscaled > 30               # ...and two orders of magnitude apart without it


# ---------------------------------------------------------------------------------------------
# Data and models

def test_students_see_the_transfer_set_without_the_dropped_class_and_the_teacher_sees_all():
    teacher = distill.load_data(_cfg(mode="teacher", transfer_size=200, drop_class=3))
    student = distill.load_data(_cfg(mode="scratch", transfer_size=200, drop_class=3))
    assert student.n_train == 200 and teacher.n_train > 800
    assert not (student.train[1] == 3).any() and (teacher.train[1] == 3).any()
    assert (student.test[1] == 3).any()                       # still tested on it
    assert torch.equal(student.test[1], teacher.test[1])


def test_scratch_and_distilled_students_start_from_the_same_weights(store):
    teacher = _finished(store, "distill", **FAST)
    scratch = _cfg(mode="scratch")
    distilled = _cfg(mode="distill", teacher_run=teacher)
    a = distill.build(scratch, distill.load_data(scratch)).model.state_dict()
    b = distill.build(distilled, distill.load_data(distilled)).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_distilled_batches_carry_the_teachers_logits(store):
    teacher = _finished(store, "distill", **FAST)
    data = distill.load_data(_cfg(mode="distill", teacher_run=teacher))
    x, y, logits = data.train
    assert logits.shape == (len(y), 10)
    agreement = (logits.argmax(1) == y).float().mean().item()
    assert agreement > 0.9                           # a trained teacher, not random logits


# ---------------------------------------------------------------------------------------------
# Settings a user can get wrong

def test_distilling_without_a_teacher_says_how_to_get_one(home):
    _, errors = registry.parse_config(distill, {"mode": "distill"})
    assert "three-way comparison" in errors[0]


@pytest.mark.parametrize("teacher_run, message", [
    ("not-a-run", "is not a run id"),
    ("20260101-000000-mlp-abcdef", "There is no run"),
])
def test_a_bad_teacher_run_is_refused_before_training(home, teacher_run, message):
    _, errors = registry.parse_config(distill, {"mode": "distill", "teacher_run": teacher_run})
    assert message in " ".join(errors)


def test_a_teacher_of_another_dataset_is_refused(store):
    teacher = _finished(store, "mlp", epochs=2)                     # a spiral MLP
    _, errors = registry.parse_config(distill, {"mode": "distill", "teacher_run": teacher})
    assert "learnt spiral, not digits" in " ".join(errors)


# ---------------------------------------------------------------------------------------------
# Teachers from other pages, and the run that waits for its teacher

def test_an_mlp_run_of_the_mlp_page_can_teach(store, manager):
    teacher = _finished(store, "mlp", dataset="digits", hidden_sizes="64", epochs=20, lr=0.003)
    run_id = manager.submit("distill", {"mode": "distill", "teacher_run": teacher, **FAST})
    result = manager.wait(run_id, timeout=60)
    assert result.status == "completed", result.message
    assert result.metrics["val/acc"] > 0.8


def test_a_teacher_trained_on_another_split_is_refused_with_the_split_to_use(store, manager):
    teacher = _finished(store, "cnn", epochs=1)           # digits with the CNN page's 0.8 split
    run_id = manager.submit("distill", {"mode": "distill", "teacher_run": teacher})
    result = manager.wait(run_id, timeout=60)
    assert result.status == "failed"
    assert "another split" in result.message and "train ratio 0.8" in result.message
    assert store.status(run_id)["fix"] == {"seed": 0, "train_ratio": 0.8}


def test_a_distilled_student_waits_for_its_teacher_even_with_free_slots(store):
    manager = JobManager(store, caps=hosting.Caps(running=2))
    try:
        # long enough to be seen running (a few seconds), short enough not to cost the suite
        teacher = manager.submit("distill", {"mode": "teacher", "teacher_epochs": 120})
        student = manager.submit("distill", {"mode": "distill", "teacher_run": teacher, **FAST})
        assert wait_for(lambda: store.status(teacher)["status"] == "running")
        assert store.status(student)["status"] == "queued"      # a slot is free, yet it waits
        assert manager.position(student) == 1
        assert manager.wait(teacher, timeout=120).status == "completed"
        assert manager.wait(student, timeout=60).status == "completed"
    finally:
        manager.shutdown()


def test_a_student_whose_teacher_is_cancelled_fails_with_a_message(store, manager):
    teacher = manager.submit("distill", {"mode": "teacher", "teacher_epochs": 400})
    student = manager.submit("distill", {"mode": "distill", "teacher_run": teacher})
    assert wait_for(lambda: store.status(teacher)["status"] == "running")
    manager.cancel(teacher)
    result = manager.wait(student, timeout=30)
    assert result is not None and result.status == "failed"
    assert f"needs run {teacher}" in result.message and "cancelled" in result.message


# ---------------------------------------------------------------------------------------------
# The comparison and its verdict

def test_a_digit_the_students_never_saw_is_still_learnt_from_the_teacher(manager):
    """Hinton et al.'s experiment: with its bias raised, the distilled student recognises most
    3s though no 3 was in its training data; the student from scratch recognises none."""
    ids = _three_way(manager, _cfg(**distill.PRESETS["Digit 3 never seen by the students"]))
    finals = [manager.wait(i, timeout=120).metrics for i in ids]
    scratch, distilled = finals[1], finals[2]
    assert scratch["val/acc_dropped"] < 0.05 and scratch["val/acc_dropped_bias"] < 0.2
    assert distilled["val/acc_dropped_bias"] > 0.6
    assert distilled["val/acc_dropped"] > scratch["val/acc_dropped"]
    rows, verdict = distill.comparison_table(
        list(zip(distill.COMPARE["names"], [manager.store.info(i) for i in ids])))
    assert "which neither student saw" in verdict

def _info(lab, config, **final):
    status = {"status": "completed", "final": final, "params": 100}
    return RunInfo("20260101-000000-distill-abcdef", lab, config, status, 0.0)


def test_the_verdict_says_so_when_distillation_does_not_help():
    cfg = params.to_dict(distill.Config())
    runs = [("teacher", _info("distill", {**cfg, "mode": "teacher"}, **{"val/acc": 0.97})),
            ("student from scratch", _info("distill", {**cfg, "mode": "scratch"},
                                           **{"val/acc": 0.93, "val/errors": 63})),
            ("distilled student", _info("distill", {**cfg, "mode": "distill"},
                                        **{"val/acc": 0.92, "val/errors": 72}))]
    rows, verdict = distill.comparison_table(runs)
    assert verdict.startswith("Distillation did not help")
    assert "72 test errors against 63" in verdict
    assert [r["test errors"] for r in rows[1:]] == [63, 72]


def test_the_papers_figures_appear_only_for_the_hinton_setting():
    preset = distill.PRESETS["Hinton et al. 2015 (MNIST, 2x1200 -> 2x800, T=20)"]
    hinton = params.to_dict(_cfg(**preset))
    runs = [(n, _info("distill", {**hinton, "mode": m}, **{"val/acc": 0.9, "val/errors": 1}))
            for n, m in zip(distill.COMPARE["names"], distill.MODES)]
    rows, _ = distill.comparison_table(runs)
    assert [r[distill.PAPER_COLUMN] for r in rows] == pytest.approx([0.9933, 0.9854, 0.9926])
    other = params.to_dict(distill.Config())
    rows, _ = distill.comparison_table([
        (n, _info("distill", {**other, "mode": m}, **{"val/acc": 0.9}))
        for n, m in zip(distill.COMPARE["names"], distill.MODES)])
    assert all(distill.PAPER_COLUMN not in r for r in rows)


@pytest.mark.slow
def test_three_way_comparison_on_the_page_completes_with_a_table_that_matches_the_runs(home, store):
    at = open_page("app_pages/40_distill.py", {k: str(v) for k, v in FAST.items()})
    assert not at.exception, at.exception
    assert "Teacher vs student" in texts(at, "markdown")          # the overview before Train
    at.button(key="distill._compare").click().run()
    ids = at.query_params["compare"].split(",") if isinstance(at.query_params["compare"], str) \
        else at.query_params["compare"][0].split(",")
    assert len(ids) == 3
    assert poll_until(at, lambda a: all(store.status(i)["status"] == "completed" for i in ids),
                      timeout=120)
    at.run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "model" in d.value.columns)
    assert list(table["model"]) == ["teacher", "student from scratch", "distilled student"]
    for (_, row), run_id in zip(table.iterrows(), ids):
        final = store.status(run_id)["final"]
        assert row["test accuracy"] == pytest.approx(final["val/acc"])
        assert row["test errors"] == int(final["val/errors"])
        assert row["parameters"] == store.status(run_id)["params"]
    assert table["parameters"][0] > 10 * table["parameters"][1]       # the compression shows
    assert any(v.startswith("Distillation") for v in texts(at, "info").splitlines())
    assert store.config(ids[2])["config"]["teacher_run"] == ids[0]


@pytest.mark.slow
def test_cpu_preset_distilled_student_beats_scratch_on_mnist10k_over_two_seeds(store, mnist_dir):
    preset = distill.PRESETS["CPU-sized MNIST (10k)"]
    manager = JobManager(store)
    accs = {"teacher": [], "scratch": [], "distill": []}
    try:
        for seed in (0, 1):
            ids = _three_way(manager, _cfg(**preset, seed=seed))
            for mode, run_id in zip(distill.MODES, ids):
                result = manager.wait(run_id, timeout=300)
                assert result.status == "completed", result.message
                accs[mode].append(result.metrics["val/acc"])
    finally:
        manager.shutdown()
    mean = {k: statistics.mean(v) for k, v in accs.items()}
    print("CPU preset, mean test accuracy over 2 seeds:", mean)
    assert mean["teacher"] > 0.95
    assert mean["distill"] >= mean["scratch"]


def test_the_teacher_can_be_picked_from_finished_runs_of_other_pages(store):
    teacher = _finished(store, "mlp", dataset="digits", hidden_sizes="64", epochs=20, lr=0.003)
    _finished(store, "mlp", epochs=2)            # a spiral run is listed too; check() refuses it
    at = open_page("app_pages/40_distill.py", {k: str(v) for k, v in FAST.items()})
    picker = at.selectbox(key="distill.teacher_run")
    assert teacher in picker.options[1:] or any(teacher in o for o in picker.options)
    picker.set_value(teacher).run()
    assert f"MLP 64 (run {teacher[-6:]})" in texts(at, "markdown")     # the real teacher's cost
    at.selectbox(key="distill.mode").set_value("distill").run()
    assert not at.error, texts(at, "error")
    at.button(key="distill._train").click().run()
    run_id = at.query_params["run"] if isinstance(at.query_params["run"], str) \
        else at.query_params["run"][0]
    assert poll_until(at, lambda a: store.status(run_id)["status"] == "completed", timeout=60)
    assert store.config(run_id)["config"]["teacher_run"] == teacher
    assert store.status(run_id)["final"]["val/acc"] > 0.8


def test_a_finished_students_soft_targets_can_be_inspected_on_any_test_image(store):
    teacher = _finished(store, "distill", **FAST)
    student = _finished(store, "distill", mode="distill", teacher_run=teacher, epochs=10)
    at = open_page("app_pages/40_distill.py", {"run": student})
    assert "Soft targets of test image 0" in texts(at, "markdown")      # the run's own artefact
    at.number_input(key=f"distill._explore.{student}").set_value(7).run()
    assert not at.exception, at.exception
    assert "Soft targets of test image 7" in texts(at, "markdown")
    bars = [c for c in at.get("plotly_chart")
            if "teacher, T = 4" in c.proto.spec and "student, T = 4" in c.proto.spec]
    assert len(bars) >= 2                         # the run's image 0 and the chosen image 7
    assert "KL per class" in texts(at, "markdown")
