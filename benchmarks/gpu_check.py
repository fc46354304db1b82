"""``make gpu-check``: what a CUDA machine must confirm, in one command, in under 8 minutes.

    make gpu-check                        # = bash scripts/gpu_check.sh = python -m benchmarks.gpu_check
    python -m benchmarks.gpu_check --budget 480 --results benchmarks/RESULTS.md

Stages, each a subprocess with its own time limit (a hung stage is killed, counted as a
failure, and the next one still runs):

1. **preflight** (in this process): CUDA is there, and which attention backends this GPU
   must have (below). A missing one is a failure, not a skip.
2. **tests**: ``pytest -m gpu`` over every test file that holds a ``gpu`` mark (varlen,
   flash-attn, xformers kernels against float64; bf16 autocast encoder per backend and
   a bf16 training run against the CPU fp32 sdpa reference; flex compiled; the foreach
   optimizer). A test skipped for an expected backend, or any failure, fails the check.
3. **throughput**: train and embed tokens/s, encoderkit vs transformers' ModernBERT,
   base preset (``benchmarks.train_throughput.run_case``).
4. **max batch**: the largest packed training batch of 512- and 8192-token sequences,
   base preset (``benchmarks.max_batch.search``).

One section with device, date, commit, command, verdict and tables is appended to
RESULTS.md (atomically); the exit status is 0 only if nothing failed (1 on failures, 2
when the machine cannot run the check at all: no CUDA, a package missing).

Expected backends: ``sdpa`` and ``flex`` on every CUDA GPU; ``varlen`` on sm80+ with
torch >= 2.10 (the first release whose documentation has ``torch.nn.attention.varlen``);
``flash`` / ``xformers`` when their package is importable (flash on sm80+ only) or when
named in ``EK_GPU_EXPECT`` (comma-separated, e.g. ``EK_GPU_EXPECT=flash,xformers``: say
so when you installed them, and a broken install fails instead of being skipped).
Throughput and memory targets (issue 10) are reported as met / not met; they do not
fail the check.
"""

from __future__ import annotations

import contextlib

import argparse
import datetime as _dt
import importlib
import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
VARLEN_TORCH = (2, 10)
PACKAGES = {"flash": "flash_attn", "xformers": "xformers"}
# seconds reserved for each stage out of the 8-minute budget (scaled with --budget); a
# stage may also use what the earlier ones left unused
LIMITS = {"tests": 180, "throughput": 150, "maxbatch": 90}
TRAIN_DISTS = ("var256", "fixed512", "fixed8192")
EMBED_DISTS = ("var256", "fixed8192")
MAXBATCH_DISTS = ("fixed512", "fixed8192")


class CannotRun(Exception):
    """The machine cannot run the check at all (exit 2)."""


@dataclass
class Report:
    command: str
    device: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)  # backend -> why it must work here
    stages: list = field(default_factory=list)  # (name, status, seconds, note)
    failures: list = field(default_factory=list)
    tests: dict = field(default_factory=dict)
    throughput: list = field(default_factory=list)
    maxbatch: list = field(default_factory=list)

    def fail(self, message: str) -> None:
        print(f"gpu-check: FAIL: {message}", file=sys.stderr, flush=True)
        self.failures.append(message)


# ---------------------------------------------------------------- expectations
def parse_version(text: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def named_in_env(value: str | None) -> set[str]:
    """``EK_GPU_EXPECT`` -> backend names; an unknown name is a usage error."""
    names = {n.strip() for n in (value or "").split(",") if n.strip()}
    bad = names - set(PACKAGES)
    if bad:
        raise CannotRun(f"EK_GPU_EXPECT names {sorted(bad)}; it takes a comma-separated subset "
                        f"of {sorted(PACKAGES)}")
    return names


def expected_backends(capability: tuple[int, int], torch_version: str, importable: set[str],
                      named: set[str]) -> dict[str, str]:
    """Backend -> why it must be available on this GPU (see the module docstring)."""
    out = {"sdpa": "every CUDA GPU", "flex": "every CUDA GPU (compiled FlexAttention)"}
    sm = f"sm{capability[0]}{capability[1]}"
    if capability >= (8, 0) and parse_version(torch_version) >= VARLEN_TORCH:
        out["varlen"] = f"{sm} >= sm80 and torch {torch_version} >= 2.10"
    for name in PACKAGES:
        if name in named:
            out[name] = "named in EK_GPU_EXPECT"
        elif name in importable and (name != "flash" or capability >= (8, 0)):
            out[name] = f"package {PACKAGES[name]} is installed"
    return out


def why_unavailable(name: str) -> str:
    """A one-line diagnosis for an expected backend that is not available."""
    try:
        if name == "varlen":
            from torch.nn.attention.varlen import varlen_attn  # noqa: F401
        elif name in PACKAGES:
            importlib.import_module(PACKAGES[name])
    except Exception as e:  # the import error itself is the diagnosis
        return f"import failed: {type(e).__name__}: {' '.join(str(e).split())[:300]}"
    return "imports, but the backend's is_available() is False on this device"


def preflight(report: Report) -> None:
    try:
        import torch
    except ImportError as e:
        raise CannotRun(f"torch does not import: {e}") from None
    if not torch.cuda.is_available():
        raise CannotRun(f"no CUDA device: torch {torch.__version__} (built for CUDA "
                        f"{torch.version.cuda}) reports torch.cuda.is_available() = False. "
                        "make gpu-check runs on a CUDA machine only; nothing was run and "
                        "RESULTS.md is unchanged")
    try:
        from encoderkit.core.attention import available_backends
        import transformers
    except ImportError as e:
        raise CannotRun(f"{e}: install the missing package (on this machine's Python, or as "
                        "wheels: make gpu-wheels, see scripts/gpu_check.sh)") from None
    dev = torch.device("cuda")
    cap = torch.cuda.get_device_capability(dev)
    props = torch.cuda.get_device_properties(dev)
    report.device = {"name": torch.cuda.get_device_name(dev), "capability": f"sm{cap[0]}{cap[1]}",
                     "memory_gib": round(props.total_memory / 2**30, 1), "torch": torch.__version__,
                     "cuda": torch.version.cuda, "transformers": transformers.__version__,
                     "python": sys.version.split()[0]}
    importable = {n for n, pkg in PACKAGES.items() if importlib.util.find_spec(pkg) is not None}
    report.expected = expected_backends(cap, torch.__version__, importable,
                                        named_in_env(os.environ.get("EK_GPU_EXPECT")))
    available = set(available_backends(dev))
    for name, why in report.expected.items():
        if name not in available:
            report.fail(f"attention backend {name!r} must be available here ({why}) but is not: "
                        f"{why_unavailable(name)}")
    if "varlen" not in report.expected and cap >= (8, 0):
        print(f"gpu-check: note: torch {torch.__version__} < 2.10: varlen not expected",
              flush=True)
    print(f"gpu-check: {report.device}", flush=True)
    print(f"gpu-check: expected backends {sorted(report.expected)}; available {sorted(available)}",
          flush=True)


# ---------------------------------------------------------------- stages
def run_stage(name: str, cmd: list[str], limit: float, env: dict | None = None) -> tuple[int | None, float, str]:
    """Run ``cmd`` in its own process group, echoing its output; kill the group after
    ``limit`` seconds. Returns (exit code or None on timeout, seconds, output tail)."""
    print(f"gpu-check: [{name}] {shlex.join(cmd)} (limit {limit:.0f} s)", flush=True)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"  {line}", end="", flush=True)
            lines.append(line)
            del lines[:-200]

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        rc: int | None = proc.wait(timeout=max(1.0, limit))
    except subprocess.TimeoutExpired:
        rc = None
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever the outcome, nothing of this stage outlives it
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(timeout=5)
    return rc, time.monotonic() - t0, "".join(lines[-40:])


def gpu_test_files() -> list[str]:
    files = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if "mark.gpu" in path.read_text(errors="replace"):
            files.append(str(path.relative_to(ROOT)))
    return files


def classify_tests(junit_xml: str, expected: dict[str, str]) -> tuple[dict, list[str]]:
    """Counts of a pytest JUnit report, and the problems in it: failures, errors, and
    skips that are not allowed (a skip naming an expected backend, or naming none)."""
    counts = {"passed": 0, "failed": 0, "skipped": 0, "allowed_skips": []}
    problems: list[str] = []
    seen_backends: set[str] = set()
    from encoderkit.core.attention import BACKENDS

    for case in ET.fromstring(junit_xml).iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        params = set(re.findall(r"[A-Za-z0-9_]+", case.get("name", "").partition("[")[2]))
        failed = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if failed is not None:
            counts["failed"] += 1
            message = " ".join((failed.get("message") or failed.text or "").split())[:300]
            problems.append(f"{test_id} failed: {message}")
        elif skipped is not None:
            counts["skipped"] += 1
            message = " ".join((skipped.get("message") or "").split())
            named = {b for b in BACKENDS if b in params or re.search(rf"\b{b}\b", message)}
            if "no local window" in message:  # a property of the backend, not of the install
                counts["allowed_skips"].append(test_id)
            elif named and not (named & set(expected)):
                counts["allowed_skips"].append(test_id)
            else:
                problems.append(f"{test_id} was skipped ({message}) but must run on this GPU")
        else:
            counts["passed"] += 1
            seen_backends |= params & set(BACKENDS)
    for name in expected:
        if name not in seen_backends:
            problems.append(f"no gpu test passed with the {name!r} backend")
    return counts, problems


def stage_tests(report: Report, limit: float) -> None:
    files = gpu_test_files()
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-rs", f"--junitxml={junit}"]
        if importlib.util.find_spec("xdist") is not None:
            cmd += ["-n", "4", "--dist", "loadfile"]  # the compile-heavy files in parallel
        rc, secs, tail = run_stage("tests", cmd + files, limit)
        if rc is None:
            report.fail(f"gpu tests timed out after {limit:.0f} s")
        if not junit.is_file():
            report.stages.append(("tests", "FAIL", secs, "no report"))
            report.fail(f"pytest wrote no report (exit {rc}): {tail[-800:]}")
            return
        counts, problems = classify_tests(junit.read_text(), report.expected)
    counts["files"] = files
    report.tests = counts
    for p in problems:
        report.fail(p)
    if rc not in (0, None) and not problems:
        report.fail(f"pytest exited {rc}: {tail[-800:]}")
    ok = rc == 0 and not problems
    report.stages.append(("tests", "ok" if ok else "FAIL", secs,
                          f"{counts['passed']} passed, {counts['failed']} failed, "
                          f"{counts['skipped']} skipped ({len(counts['allowed_skips'])} allowed)"))


def stage_bench(report: Report, name: str, limit: float, extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.json"
        cmd = [sys.executable, "-m", "benchmarks.gpu_check", "--stage", name, "--json", str(out), *extra]
        rc, secs, tail = run_stage(name, cmd, limit)
        rows = json.loads(out.read_text()) if out.is_file() else []
    setattr(report, name, rows)
    if rc != 0:
        why = f"timed out after {limit:.0f} s" if rc is None else f"exit {rc}"
        report.fail(f"{name} stage {why}: {tail[-800:]}")
    report.stages.append((name, "ok" if rc == 0 else "FAIL", secs, f"{len(rows)} case(s)"))


# ---------------------------------------------------------------- stage workers (subprocesses)
def worker_throughput(args: argparse.Namespace) -> list[dict]:
    import gc

    import torch

    from benchmarks import train_throughput as tt

    rows = []
    for mode, dists in (("train", args.train_dists), ("embed", args.embed_dists)):
        ns = tt.parse(["--mode", mode, "--size", args.size, "--tokens", str(args.tokens),
                       "--batches", "4", "--rounds", "3", "--warmup", "2", "--device", args.device])
        for dist in dists:
            r = {"mode": mode, **tt.run_case(ns, args.size, dist, torch.device(args.device))}
            rows.append(r)
            print(f"{mode} {args.size} {dist}: encoderkit {r['encoderkit']:,.0f} tok/s, "
                  f"transformers {r['transformers']:,.0f} tok/s ({r['attn_hf']}), "
                  f"{r['ratio']:.2f}x", flush=True)
            _dump(args.json, rows)  # what finished survives a timeout of a later case
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    return rows


def worker_maxbatch(args: argparse.Namespace) -> list[dict]:
    import torch

    from benchmarks import max_batch as mb
    from benchmarks import modernbert_compare as mc
    from encoderkit.core import EncoderConfig
    from encoderkit.train.optim import StableAdamW, param_groups

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    dom = mc.genomic_domain()
    model = mc.build_encoderkit(EncoderConfig.preset(args.size), device)
    opt = StableAdamW(param_groups(model, 1e-5), lr=1e-4)
    rows = []
    for dist in args.maxbatch_dists:
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        best, capped = mb.search(model, opt, dist, device, args.start, args.cap, args.resolution, dom)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan")
        rows.append({"size": args.size, "dist": dist, "tokens": best, "capped": capped, "peak_gib": peak})
        print(f"max batch {args.size} {dist}: {best:,} tokens{' (cap)' if capped else ''}", flush=True)
        _dump(args.json, rows)
    return rows


def _dump(path: str, rows: list[dict]) -> None:
    from benchmarks.environment import environment

    tmp = f"{path}.tmp"
    env = environment()  # a worker's rows are all its own: each records the threads it ran with
    with open(tmp, "w") as f:
        json.dump([{"environment": env, **r} for r in rows], f)
    os.replace(tmp, path)


# ---------------------------------------------------------------- RESULTS.md
def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=ROOT, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(report: Report, seconds: float, now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    d = report.device
    verdict = "PASS" if not report.failures else f"FAIL ({len(report.failures)} problem(s))"
    lines = ["", f"## GPU check (`make gpu-check`): {verdict}", "",
             f"- device: {d.get('name')} ({d.get('capability')}, {d.get('memory_gib')} GiB); "
             f"torch {d.get('torch')} (CUDA {d.get('cuda')}), transformers {d.get('transformers')}, "
             f"Python {d.get('python')}",
             f"- date: {now.strftime('%Y-%m-%d %H:%M UTC')}; commit {_commit()}; total {seconds:.0f} s",
             f"- command: `{report.command}`",
             "- expected attention backends: " + ", ".join(f"{k} ({v})" for k, v in report.expected.items()),
             "", "| stage | result | seconds | note |", "|---|---|---|---|"]
    lines += [f"| {n} | {s} | {t:.0f} | {note} |" for n, s, t, note in report.stages]
    if report.failures:
        lines += ["", "Problems:", ""] + [f"- {f}" for f in report.failures]
    allowed = report.tests.get("allowed_skips") or []
    if allowed:
        from encoderkit.core.attention import BACKENDS

        named = sorted({m for t in allowed for m in re.findall(r"[a-z]+", t.partition("[")[2])
                        if m in BACKENDS})
        lines += ["", f"Allowed skips: {len(allowed)} (backends not expected here: "
                  f"{', '.join(named) or 'none'}; or no local window)"]
    if report.throughput:
        lines += ["", "| mode | size | lengths | encoderkit tok/s | transformers tok/s (attn) | ratio "
                  "| MFU ours | MFU HF | backend |", "|---|---|---|---|---|---|---|---|---|"]
        for r in report.throughput:
            mfu = lambda k: f"{100 * r[k]:.1f}%" if r.get(k) else "n/a"  # noqa: E731
            lines.append(f"| {r['mode']} | {r['size']} | {r['dist']} | {r['encoderkit']:,.0f} | "
                         f"{r['transformers']:,.0f} ({r['attn_hf']}) | {r['ratio']:.2f}x | "
                         f"{mfu('encoderkit_mfu')} | {mfu('transformers_mfu')} | {r['backend']} |")
    if report.maxbatch:
        lines += ["", "| size | lengths | largest training batch (tokens) | peak GiB |", "|---|---|---|---|"]
        lines += [f"| {r['size']} | {r['dist']} | {r['tokens']:,}{' (cap, no OOM)' if r['capped'] else ''} "
                  f"| {r['peak_gib']:.1f} |" for r in report.maxbatch]
    targets = target_lines(report)
    if targets:
        lines += ["", "Targets (issue 10; reported, not enforced):", ""] + targets
    return "\n".join(lines) + "\n"


def target_lines(report: Report) -> list[str]:
    out = []
    for r in report.throughput:
        if r["mode"] == "train" and r["size"] == "base" and r["dist"] in ("var256", "fixed512"):
            ok = r["ratio"] >= 1.3 and (r.get("encoderkit_mfu") or 0) >= 0.4
            mfu = f"{100 * r['encoderkit_mfu']:.1f}%" if r.get("encoderkit_mfu") else "n/a"
            out.append(f"- base {r['dist']} training >= 1.3x transformers and MFU >= 40%: "
                       f"{'met' if ok else 'NOT met'} ({r['ratio']:.2f}x, MFU {mfu})")
    for r in report.maxbatch:
        if r["dist"] == "fixed8192":
            out.append(f"- base trains 8192-token sequences in packed batches >= 64k tokens: "
                       f"{'met' if r['tokens'] >= 65536 else 'NOT met'} ({r['tokens']:,})")
    return out


def append_atomically(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else "# encoderkit benchmark results\n"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(old.rstrip("\n") + "\n" + text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- main
def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=480.0, help="seconds for everything (default 8 min)")
    p.add_argument("--results", type=Path, default=RESULTS, help="markdown file the section is appended to")
    p.add_argument("--skip-bench", action="store_true", help="preflight and tests only")
    p.add_argument("--size", default="base", help="EncoderConfig preset of the benchmarks")
    p.add_argument("--tokens", type=int, default=65536, help="real tokens per throughput batch")
    p.add_argument("--train-dists", nargs="+", default=list(TRAIN_DISTS))
    p.add_argument("--embed-dists", nargs="+", default=list(EMBED_DISTS))
    p.add_argument("--maxbatch-dists", nargs="+", default=list(MAXBATCH_DISTS))
    p.add_argument("--start", type=int, default=65536, help="max batch: first budget tried")
    p.add_argument("--cap", type=int, default=2_097_152, help="max batch: stop doubling here")
    p.add_argument("--resolution", type=int, default=65536, help="max batch: bisection step")
    p.add_argument("--stage", choices=["throughput", "maxbatch"], help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    # the stage workers on another device: only for checking this harness on a CPU
    p.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        from benchmarks.modernbert_compare import DISTRIBUTIONS
    except ImportError:  # no torch: preflight says so
        DISTRIBUTIONS = None
    for opt in ("train_dists", "embed_dists", "maxbatch_dists"):
        bad = [d for d in getattr(args, opt) if DISTRIBUTIONS is not None and d not in DISTRIBUTIONS]
        if bad:
            p.error(f"--{opt.replace('_', '-')} must be among {sorted(DISTRIBUTIONS)}. Got {bad}.")
    if args.budget <= 0:
        p.error(f"--budget must be positive seconds. Got {args.budget}.")
    if args.stage and not args.json:
        p.error("--stage needs --json")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.stage:  # a stage worker, started by the parent below
        rows = (worker_throughput if args.stage == "throughput" else worker_maxbatch)(args)
        _dump(args.json, rows)
        return 0
    t0 = time.monotonic()
    report = Report(command="python -m benchmarks.gpu_check " + shlex.join(sys.argv[1:] if argv is None else argv))
    try:
        preflight(report)
    except CannotRun as e:
        print(f"gpu-check: CANNOT RUN: {e}", file=sys.stderr, flush=True)
        return 2
    report.stages.append(("preflight", "ok" if not report.failures else "FAIL", time.monotonic() - t0,
                          f"{len(report.expected)} backend(s) expected"))
    bench_args = ["--size", args.size, "--tokens", str(args.tokens), "--train-dists", *args.train_dists,
                  "--embed-dists", *args.embed_dists, "--maxbatch-dists", *args.maxbatch_dists,
                  "--start", str(args.start), "--cap", str(args.cap), "--resolution", str(args.resolution),
                  "--device", args.device]
    plan = [("tests", lambda lim: stage_tests(report, lim))]
    if not args.skip_bench:
        plan += [(name, lambda lim, n=name: stage_bench(report, n, lim, bench_args))
                 for name in ("throughput", "maxbatch")]
    scale = args.budget / 480.0
    for i, (name, run) in enumerate(plan):
        # a stage may use all the time left except what the later stages are reserved
        reserved = sum(LIMITS[n] * scale for n, _ in plan[i + 1:])
        limit = args.budget - (time.monotonic() - t0) - reserved
        if limit < 10:
            report.stages.append((name, "FAIL", 0.0, "not run: time budget spent"))
            report.fail(f"{name} not run: the {args.budget:.0f} s budget was spent")
            continue
        run(limit)
    seconds = time.monotonic() - t0
    append_atomically(args.results, render(report, seconds))
    verdict = "PASS" if not report.failures else f"FAIL: {len(report.failures)} problem(s)"
    print(f"gpu-check: {verdict} in {seconds:.0f} s; section appended to {args.results}", flush=True)
    for f in report.failures:
        print(f"  - {f}", file=sys.stderr)
    return 0 if not report.failures else 1


if __name__ == "__main__":
    sys.exit(main())
