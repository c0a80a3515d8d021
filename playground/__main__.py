"""The same engine, headless:

    python -m playground labs [--json]
    python -m playground train LAB [--set key=value ...] [--change STEP:key=value ...] [--json]
    python -m playground bench [--quick] [--json] [--device cpu|cuda] [--case N ...]
    python -m playground check [--device cpu|cuda] [--out DIR] [--only LAB,...] [--json]
    python -m playground sweep LAB --grid key=v1,v2 [--random N --range key=lo:hi[:log]]
                               [--engine local|ray [--address ADDR]] [--json]
    python -m playground demos record [LAB ...] | check | list | thumbnails [LAB ...]
    python -m playground export RUN_ID [--as script|weights|onnx|zip] [-o PATH]
    python -m playground guides [--check]
    python -m playground i18n extract | check
"""
from __future__ import annotations

import argparse
import json
import sys


def _labs(args) -> int:
    from playground import params, registry

    out = []
    for name in registry.LABS:
        lab = registry.get(name)
        out.append({"name": name, "title": lab.TITLE, "section": lab.SECTION,
                    "presets": list(getattr(lab, "PRESETS", {})),
                    "params": [{"name": s.name, "type": s.kind, "default": params.to_text(s, s.default),
                                "lo": s.lo, "hi": s.hi, "choices": list(s.choices or []),
                                "help": s.help, "group": s.group} for s in params.specs(lab.Config)]})
    if args.json:
        print(json.dumps(out))
        return 0
    for lab in out:
        print(f"{lab['name']:<12} {lab['title']} ({lab['section']})")
        for p in lab["params"]:
            rng = (" | ".join(p["choices"]) if p["choices"] else
                   f"{p['lo']:g}..{p['hi']:g}" if p["lo"] is not None and p["hi"] is not None else "")
            print(f"    {p['name']:<16} {p['default']:<12} {rng:<40} {p['help']}")
    return 0


def _parse_sets(pairs: list[str]) -> tuple[dict, list[str]]:
    raw, errors = {}, []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            errors.append(f"--set expects key=value, got {pair!r}")
        else:
            raw[key.strip()] = value
    return raw, errors


def _parse_changes(items: list[str]) -> tuple[list[dict], list[str]]:
    """`--change 300:lr=0.001,dropout=0.2`: settings changed before step 300, as a run's
    changes made while it trained (its page's "Change while it trains", its export's replay)."""
    by_step: dict[int, dict] = {}
    errors = []
    for item in items:
        at, sep, pairs = item.partition(":")
        try:
            step = int(at.strip())
        except ValueError:
            step = -1
        values = dict(p.split("=", 1) for p in pairs.split(",") if "=" in p)
        if not sep or step < 0 or not values or any(not k.strip() for k in values):
            errors.append(f"--change expects STEP:key=value[,key=value], e.g. 300:lr=0.001; "
                          f"got {item!r}")
            continue
        by_step.setdefault(step, {}).update({k.strip(): v.strip() for k, v in values.items()})
    return [{"step": k, **v} for k, v in sorted(by_step.items())], errors


def _read_files(lab, raw: dict) -> list[str]:
    """On the command line a file field (`--set text_file=notes.txt`) names a path: the file is
    checked and stored as the page stores an upload, and the field holds its id."""
    from pathlib import Path

    from playground import params
    from playground.data import uploads

    errors = []
    for spec in params.specs(lab.Config):
        value = str(raw.get(spec.name, "")).strip()
        if not spec.upload or not value or params.UPLOAD_ID.fullmatch(value):
            continue
        path = Path(value).expanduser()
        try:
            raw[spec.name] = uploads.save(path.read_bytes(), uploads.MAX_BYTES,
                                          spec.holds or spec.upload[0])[0]
        except OSError as e:
            errors.append(f"{spec.name}: {value!r} cannot be read ({e.strerror or e}).")
        except uploads.BadUpload as e:
            errors.append(f"{spec.name}: {e}")
    return errors


def _train(args) -> int:
    from playground import registry

    raw, errors = _parse_sets(args.set or [])
    schedule, wrong = _parse_changes(args.change or [])
    errors += wrong
    try:
        lab = registry.get(args.lab)
        errors += _read_files(lab, raw)
        errors += registry.parse_config(lab, raw)[1]
    except registry.UnknownLab as e:
        errors.append(str(e))
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        return 2

    from playground.engine import device
    from playground.engine.jobs import InvalidConfig, JobManager

    manager = JobManager(executor="thread")      # no page to compete with: no worker to start
    try:
        run_id = manager.submit(args.lab, raw, schedule=schedule)
    except InvalidConfig as e:
        for m in e.messages:
            print(f"error: {m}", file=sys.stderr)
        return 2
    print(f"run {run_id} on {device.describe()}", file=sys.stderr)
    try:
        while manager.wait(run_id, timeout=0.5) is None:
            snap = manager.snapshot(run_id)
            if snap.get("total_steps"):
                eta = snap.get("eta_s")
                print(f"\r  step {snap.get('step', 0)}/{snap['total_steps']}"
                      f"  {100 * snap.get('progress', 0):5.1f}%"
                      f"  {snap.get('samples_per_s', 0):,.0f} samples/s"
                      + (f"  ETA {eta:.0f} s " if eta is not None else ""), end="", file=sys.stderr)
    except KeyboardInterrupt:
        manager.cancel(run_id)
        manager.wait(run_id, timeout=10)
    result = manager.wait(run_id)
    print(file=sys.stderr)
    print(f"{result.status}: {result.message}", file=sys.stderr)
    summary = {k: v for k, v in result.as_dict().items() if k not in ("message", "steps")}
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in sorted(result.metrics.items()):
            print(f"  {k:<16} {v:.4f}")
    return 0 if result.status == "completed" else 1


def _guides(args) -> int:
    """Write each lab guide's sections that come from its code (docs/labs/<lab>.md), or with
    --check only say which are out of date."""
    from playground import guides, registry

    stale = guides.stale(registry.LABS)
    if args.check:
        for name, lang in stale:
            print(f"{guides.path(name, lang)} is out of date: python -m playground guides",
                  file=sys.stderr)
        return 1 if stale else 0
    for name, lang in stale:
        guides.path(name, lang).write_text(guides.refresh(name, lang=lang), encoding="utf-8")
        print(f"wrote {guides.path(name, lang)}", file=sys.stderr)
    return 0


def _i18n(args) -> int:
    """extract: the catalogues' template from the code, merged into each language; check: what
    is untranslated or broken."""
    from playground import i18n, i18n_tools

    if args.action == "extract":
        for lang, left in i18n_tools.extract().items():
            print(f"{i18n.po_path(lang)}: {left} untranslated", file=sys.stderr)
        return 0
    bad = [f"{lang}: {p}" for lang in i18n.LANGUAGES if lang != i18n.DEFAULT
           for p in i18n_tools.problems(lang)]
    for line in bad:
        print(line, file=sys.stderr)
    return 1 if bad else 0


def _check(args) -> int:
    from playground import check

    report = check.run(args.device, args.out, set(filter(None, args.only.split(","))) or None,
                       progress=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(report, default=str))
    return 0 if report["passed"] else 1


def _bench(args) -> int:
    from playground import bench

    result = bench.run_bench(quick=args.quick, device=args.device,
                             progress=lambda m: print(m, file=sys.stderr, flush=True),
                             cases=set(args.case) if args.case else None)
    print(bench.format_table(result), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, default=str))
    return 0


def _export(args) -> int:
    from pathlib import Path

    from playground import export
    from playground.engine.runs import NoSuchRun, RunStore

    store = RunStore()
    try:
        info = store.info(args.run_id)
        if not store.exists(args.run_id):
            raise NoSuchRun(f"no such run: {args.run_id}")
        if args.what == "script":
            data, name = export.run_script(store, args.run_id).encode(), f"train_{info.lab}.py"
        elif args.what == "onnx":
            data, name = export.onnx_bytes(store, args.run_id), f"{args.run_id}.onnx"
        elif args.what == "zip":
            data, name = export.bundle(store, args.run_id), f"{args.run_id}.zip"
        else:
            export.run_script(store, args.run_id)          # the same checks: completed, weights
            data, name = store.model_path(args.run_id).read_bytes(), f"{args.run_id}.pt"
    except (NoSuchRun, export.NotExportable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.output or name)
    out.write_bytes(data)
    print(f"wrote {out} ({len(data):,} bytes)", file=sys.stderr)
    return 0


def _demos(args) -> int:
    from playground import demos, registry

    if args.action == "check":
        problems = demos.check()
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        count = sum(len(demos.demos_of(lab)) for lab in registry.LABS)
        print(f"{count} demos of {len(registry.LABS)} labs, {demos.size_mb():.1f} MB"
              + ("" if problems else ": all load"), file=sys.stderr)
        return 1 if problems else 0
    if args.action == "list":
        for lab in registry.LABS:
            for name in demos.demos_of(lab):
                d = demos.load(lab, name)
                print(f"{lab:<13} {name:<16} {len(d.runs)} run(s), {d.duration:5.1f} s  "
                      f"{d.title}")
        return 0
    labs = args.labs or list(registry.LABS)
    unknown = [lab for lab in labs if lab not in registry.LABS]
    if unknown:
        print(f"error: unknown lab(s) {', '.join(unknown)}; labs: {', '.join(registry.LABS)}",
              file=sys.stderr)
        return 2
    if args.action == "thumbnails":
        try:
            demos.draw_thumbnails([(lab, n) for lab in labs for n in demos.demos_of(lab)],
                                  log=lambda m: print(m, file=sys.stderr, flush=True))
        except demos.DemoError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    failed = []
    for lab in labs:
        try:
            demos.record_lab(lab, log=lambda m: print(m, file=sys.stderr, flush=True))
        except demos.DemoError as e:
            print(f"error: {e}", file=sys.stderr)
            failed.append(lab)
    print(f"demos: {demos.size_mb():.1f} MB in all", file=sys.stderr)
    return 1 if failed else 0


def _sweep(args) -> int:
    from dataclasses import replace

    from playground import params, registry, sweeps

    errors, grid, ranges = [], {}, {}
    fixed, problems = _parse_sets(args.set or [])
    errors += problems
    try:
        specs = {s.name: s for s in params.specs(registry.get(args.lab).Config)}
    except registry.UnknownLab as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for pair in args.grid or []:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            errors.append(f"--grid expects key=v1,v2 (key=8,8;32,32 for a list), got {pair!r}")
        else:
            grid[key] = sweeps.split_values(specs[key], text) if key in specs else [text]
    for pair in args.range or []:
        key, sep, text = pair.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError(f"--range expects key=lo:hi[:log], got {pair!r}")
            ranges[key.strip()] = sweeps.parse_range(text)
        except ValueError as e:
            errors.append(str(e))
    metric, _, mode = (args.objective or "").partition(":")
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else []
    except ValueError:
        errors.append(f"--seeds expects whole numbers such as 0,1,2, got {args.seeds!r}")
        seeds = []
    plan = sweeps.Plan(args.lab, grid=grid, ranges=ranges, random=args.random or 0,
                       fixed=fixed, seeds=seeds, objective=metric, mode=mode,
                       budget=args.budget, parallel=args.parallel, early_stop=args.early_stop,
                       engine=args.engine)
    try:
        sweeps.validate(plan)
    except sweeps.SweepError as e:
        errors += e.messages
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        return 2

    if args.engine == "ray":
        from playground import sweep_ray
        from playground.engine.runs import RunStore

        record = sweeps.new_record(plan, sweeps.expand(plan))
        print(f"sweep {record['sweep_id']}: {len(record['runs'])} runs of {args.lab} on Ray "
              f"({args.address or 'a local instance'})", file=sys.stderr)
        try:
            record = sweep_ray.run_ray(plan, RunStore(), address=args.address,
                                       num_cpus=args.cpus, record=record)
        except KeyboardInterrupt:
            sweeps.cancel(record["sweep_id"])
            raise
        return _sweep_report(args, record)

    from playground.engine import hosting
    from playground.engine.jobs import JobManager

    # the runs the sweep may train at once are the manager's slots on this process's device
    manager = JobManager(executor="thread", caps=replace(hosting.caps(), running=args.parallel,
                                                          queued=max(32, args.parallel)))

    def progress(record):
        c, best = record["counts"], record.get("best")
        done = sum(v for k, v in c.items() if k in sweeps.TERMINAL)
        line = f"\r  sweep {record['sweep_id']}: {done}/{len(record['runs'])} runs ended"
        if best:
            line += f", best {record['objective']['metric']} {best['objective']:.4g}"
        print(line + "   ", end="", file=sys.stderr, flush=True)

    record = sweeps.new_record(plan, sweeps.expand(plan))
    print(f"sweep {record['sweep_id']}: {len(record['runs'])} runs of {args.lab}, objective "
          f"{record['objective']['metric']} ({record['objective']['mode']})", file=sys.stderr)
    try:
        record = sweeps.run_local(plan, manager, record=record, progress=progress)
    except KeyboardInterrupt:
        sweeps.cancel(record["sweep_id"])
        record = sweeps.run_local(plan, manager, record=record)
    finally:
        manager.shutdown()
    print(file=sys.stderr)
    return _sweep_report(args, record)


def _sweep_report(args, record: dict) -> int:
    from playground import sweeps

    for r in sweeps.ranked(record):
        swept = " ".join(f"{k}={r['settings'].get(k)}" for k in record["swept"])
        obj = "-" if r["objective"] is None else f"{r['objective']:.4f}"
        print(f"  {obj:>9}  {r['status']:<10} {swept}  {r['run_id'] or ''}",
              file=sys.stderr if args.json else sys.stdout)
    if args.json:
        keep = ("sweep_id", "lab", "objective", "status", "swept", "best", "counts")
        print(json.dumps({**{k: record.get(k) for k in keep},
                          "runs": [{k: r.get(k) for k in ("run_id", "settings", "status",
                                                           "objective", "stopped_early")}
                                   for r in record["runs"]]}))
    return 0 if record["status"] == "completed" else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m playground", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("labs", help="list the labs and their parameters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_labs)
    p = sub.add_parser("train", help="train one lab in the foreground")
    p.add_argument("lab")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a parameter, e.g. --set hidden_sizes=8,8 (repeatable)")
    p.add_argument("--change", action="append", metavar="STEP:KEY=VALUE",
                   help="change a setting the lab lets change while training, before that step, "
                        "e.g. --change 300:lr=0.001 (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last line")
    p.set_defaults(fn=_train)
    p = sub.add_parser("guides", help="write the labs' guides' sections read from their code")
    p.add_argument("--check", action="store_true", help="only report guides out of date")
    p.set_defaults(fn=_guides)
    p = sub.add_parser("i18n", help="the translation catalogues: extract from the code, check")
    p.add_argument("action", choices=("extract", "check"))
    p.set_defaults(fn=_i18n)
    p = sub.add_parser("bench", help="measure the engine against the tutorial loop and a bare loop")
    p.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    p.add_argument("--json", action="store_true", help="print the whole table as one JSON object")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--case", action="append", choices=("1", "2", "3", "4", "5", "6", "7", "8", "9"),
                   help="run only this case (repeatable); 6, 7 and 8 need Chromium")
    p.set_defaults(fn=_bench)
    p = sub.add_parser("check", help="the acceptance check of a device: every lab trains, "
                                     "and a trained run's pictures, weights and tools work")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--out", default=None, help="a folder for check.json")
    p.add_argument("--only", default="", help="only these labs (comma-separated), no extras")
    p.add_argument("--json", action="store_true", help="print the report as the last line")
    p.set_defaults(fn=_check)
    p = sub.add_parser("sweep", help="many runs of one lab: a grid or a random search")
    p.add_argument("lab")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                   help="values to try, e.g. --grid lr=0.001,0.01 (a list setting: "
                        "--grid hidden_sizes=8,8;32,32); repeatable, every combination runs")
    p.add_argument("--random", type=int, metavar="N", help="a random search of N runs")
    p.add_argument("--range", action="append", metavar="KEY=LO:HI[:log]",
                   help="a range the random search samples (log-uniform with :log, or where "
                        "the setting is log)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting every run shares")
    p.add_argument("--seeds", help="repeat every setting over these seeds, e.g. 0,1,2")
    p.add_argument("--objective", help="METRIC[:max|min] (default: the lab's headline metric)")
    p.add_argument("--budget", type=int, default=64, help="most runs the sweep may make (64)")
    p.add_argument("--parallel", type=int, default=1, help="runs training at once (1)")
    p.add_argument("--early-stop", default="none", choices=("none", "median", "asha"),
                   help="median: stop a run that is worse than the median of the others at the "
                        "same point of their training; asha: successive halving (Ray only)")
    p.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="local: this process's job queue; ray: Ray Tune trials "
                        "(pip install -r requirements-ray.txt)")
    p.add_argument("--address", help="Ray: an existing cluster (default: start a local one)")
    p.add_argument("--cpus", type=int, help="Ray: CPUs of the local instance (default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last line")
    p.set_defaults(fn=_sweep)
    p = sub.add_parser("export", help="a finished run as a standalone script, weights, ONNX or zip")
    p.add_argument("run_id")
    p.add_argument("--as", dest="what", default="script",
                   choices=("script", "weights", "onnx", "zip"))
    p.add_argument("-o", "--output", help="file to write (default: a name from the run)")
    p.set_defaults(fn=_export)
    p = sub.add_parser("demos", help="recorded demos: record them from real runs, check, list, "
                                     "draw the gallery's thumbnails")
    p.add_argument("action", choices=("record", "check", "list", "thumbnails"))
    p.add_argument("labs", nargs="*", help="record, thumbnails: only these labs (default: all)")
    p.set_defaults(fn=_demos)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
