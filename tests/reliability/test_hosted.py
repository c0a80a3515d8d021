"""Hosted mode (PLAYGROUND_HOSTED=1): caps shown and enforced, queue positions, and a load test
of eight visitors sharing one process."""
import threading
import time

import pytest

from tests.helpers import open_page, poll_until, run_id_of, texts


@pytest.fixture
def hosted(home, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOSTED", "1")
    return home


def _rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_caps_are_shown_and_enforced_in_the_form(hosted, store):
    at = open_page(query={"epochs": "500"})
    assert "Shared server: at most 200 epochs" in " ".join(c.value for c in at.caption)
    assert "Epochs must be at most 200, got 500" in texts(at, "warning")
    at.number_input(key="mlp.epochs").set_value(500).run()
    assert "Epochs must be at most 200" in texts(at, "error")
    assert at.button(key="mlp._train").disabled


@pytest.mark.parametrize("query, message", [
    ({"n_samples": "20000"}, "N samples must be at most 10000"),
    ({"dataset": "mnist", "hidden_sizes": "2048,2048"}, "this server allows at most 2,000,000"),
])
def test_size_caps_refuse_with_a_message(hosted, store, query, message):
    at = open_page(query=query)
    assert message in texts(at, "warning") + texts(at, "error")
    assert store.list() == []


def test_one_visitor_trains_one_run_at_a_time_with_three_waiting(hosted, store):
    """Four per visitor: a four-way comparison (RNN, LSTM, GRU and the bag of words on
    sentiment) fits, a fifth run does not."""
    at = open_page(query={"epochs": "200"})
    ids = []
    for _ in range(4):
        at.button(key="mlp._train").click().run()
        ids.append(run_id_of(at))
    assert [store.status(i)["status"] for i in ids[1:]] == ["queued"] * 3
    at.button(key="mlp._train").click().run()
    assert "most this server allows per visitor" in texts(at, "error")
    assert run_id_of(at) == ids[-1] and len(store.list()) == 4
    for run_id in ids:
        at.query_params["run"] = run_id
        at.run()
        at.button(key="mlp._stop").click().run()


def test_a_second_visitor_sees_their_queue_position(hosted, store):
    first = open_page(query={"epochs": "200"})
    first.button(key="mlp._train").click().run()
    second = open_page(query={"epochs": "5"})
    second.button(key="mlp._train").click().run()
    queued = run_id_of(second)
    if store.status(queued)["status"] == "queued":     # the first may already be done
        assert "position 1 in the queue" in texts(second, "info")
    first.button(key="mlp._stop").click().run()
    assert poll_until(second, lambda a: store.status(queued)["status"] == "completed")


@pytest.mark.slow
def test_eight_visitors_share_the_server(hosted, store):
    """Eight sessions press Train at once: every run completes (one trains, the others wait
    their turn), no page fails, memory stays under 2 GB and the pages answer within a second."""
    peak = {"rss": _rss_mb()}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], _rss_mb())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    datasets = ["spiral", "moons", "circles", "xor", "gaussians", "digits", "spiral", "moons"]
    visitors = [open_page(query={"dataset": d, "epochs": "4", "seed": str(i)})
                for i, d in enumerate(datasets)]
    for at in visitors:
        at.button(key="mlp._train").click().run()
    ids = [run_id_of(at) for at in visitors]
    assert len(set(ids)) == 8
    # a second tab on the last visitor's link, under load: the same run, still waiting
    tab = open_page(query={"run": ids[-1]})
    assert ids[-1] in " ".join(m.value for m in tab.markdown)
    if store.status(ids[-1])["status"] == "queued":
        assert "in the queue" in texts(tab, "info")
    rerun_s = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        statuses = [store.status(r)["status"] for r in ids]
        assert statuses.count("running") <= 1
        for at in visitors:
            t = time.perf_counter()
            at.run()
            rerun_s.append(time.perf_counter() - t)
            assert not at.exception
        if all(s == "completed" for s in statuses):
            break
    stop.set()
    elapsed = time.monotonic() - t0
    statuses = [store.status(r)["status"] for r in ids]
    print(f"\nload: 8 runs in {elapsed:.1f} s, peak RSS {peak['rss']:.0f} MB, "
          f"rerun max {max(rerun_s):.3f} s, median {sorted(rerun_s)[len(rerun_s) // 2]:.3f} s "
          f"over {len(rerun_s)} reruns")
    assert statuses == ["completed"] * 8
    assert peak["rss"] < 2048
    # the pages answer while the runs go on: nine reruns in ten well under a second, none stuck
    # (the first, which imports the page's modules, took 1.2 s beside a second busy process;
    # the hosted-load bench, case 7, measures the answer times)
    assert sorted(rerun_s)[int(0.9 * (len(rerun_s) - 1))] < 1.0, sorted(rerun_s)
    assert max(rerun_s) < 5.0, sorted(rerun_s)

    # a refresh (a new session on the same link) re-attaches to a finished run
    again = open_page(query={"run": ids[0]})
    assert ids[0] in " ".join(m.value for m in again.markdown)
    assert "Finished" in texts(again, "success")


def test_the_distillation_teachers_epochs_are_capped_like_epochs(hosted):
    from playground import registry
    from playground.labs import distill

    _, errors = registry.parse_config(distill, {"teacher_epochs": 300})
    assert "Teacher epochs must be at most 200, got 300" in errors
    _, errors = registry.parse_config(
        distill, distill.PRESETS["Hinton et al. 2015 (MNIST, 2x1200 -> 2x800, T=20)"])
    assert any("this server allows at most 2,000,000" in e for e in errors)


def test_a_corpus_is_capped_in_words(hosted):
    from playground import registry
    from playground.labs import word2vec

    _, errors = registry.parse_config(word2vec, {"corpus": "wiki", "corpus_tokens": 400_000})
    assert "Corpus tokens must be at most 200000, got 400000" in errors, errors


def test_a_three_way_comparison_fits_one_visitors_queue(hosted, store):
    at = open_page("app_pages/40_distill.py", {"teacher_epochs": "5", "epochs": "5"})
    at.button(key="distill._compare").click().run()
    assert not at.error, texts(at, "error")
    ids = at.query_params["compare"]
    ids = (ids if isinstance(ids, str) else ids[0]).split(",")
    assert len(ids) == 3 and len(store.list()) == 3
    assert poll_until(at, lambda a: all(store.status(i)["status"] == "completed" for i in ids))


def test_a_visitors_asks_count_against_their_share_of_the_server(tmp_path):
    """Hosted, the model work a visitor's pages ask for (looks, steps, exports) is counted: past
    `server_seconds` in ten minutes their next ask is refused with the wait, while another
    visitor, and the check before Train (no owner), still get answers."""
    from playground.engine import asks
    from playground.engine.hosting import Caps
    from playground.engine.jobs import JobManager
    from playground.engine.runs import RunStore

    class Slow:
        """Answers every ask after 0.6 s of work, as a worker sampling would."""
        def ask(self, kind, args, timeout, sticky=""):
            time.sleep(0.6)
            return {"kind": kind}

        def shutdown(self, timeout=0):
            pass

    mgr = JobManager(RunStore(tmp_path / "runs"), caps=Caps(hosted=True, server_seconds=1),
                     executor=Slow())
    assert mgr.ask("explore", {}, owner="a") == {"kind": "explore"}
    assert mgr.ask("steps", {}, owner="a") == {"kind": "steps"}      # 0.6 s used of 1
    with pytest.raises(asks.TooMuch, match=r"used 1 s .*\(at most 1 s\): try again in \d+ s"):
        mgr.ask("explore", {}, owner="a")
    assert mgr.ask("explore", {}, owner="b") == {"kind": "explore"}
    assert mgr.ask("check", {}) == {"kind": "check"}
