"""The CPU-checkable parts of ``make gpu-check`` (benchmarks/gpu_check.py): a machine
without CUDA is refused loudly, which backends a GPU must have, how a pytest report's
skips are judged, the RESULTS.md section, and that a hung stage is killed with its
children. The GPU stages themselves need a CUDA machine."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check as gc

ROOT = Path(gc.__file__).resolve().parent.parent


def test_no_cuda_is_refused_loudly_and_results_stay_unchanged(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    results = tmp_path / "RESULTS.md"
    results.write_text("# results\n\nearlier section\n")
    assert gc.main(["--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert "CANNOT RUN: no CUDA device" in err and "torch.cuda.is_available() = False" in err
    assert results.read_text() == "# results\n\nearlier section\n"


def test_bad_arguments_are_usage_errors(capsys):
    for argv in (["--budget", "0"], ["--train-dists", "var257"], ["--stage", "throughput"]):
        with pytest.raises(SystemExit) as e:
            gc.parse(argv)
        assert e.value.code == 2, argv
    assert "var257" in capsys.readouterr().err


@pytest.mark.parametrize("cap,version,importable,named,want", [
    ((9, 0), "2.11.0+cu130", set(), set(), {"sdpa", "flex", "varlen"}),
    ((9, 0), "2.9.1+cu128", set(), set(), {"sdpa", "flex"}),  # varlen not shipped yet
    ((7, 5), "2.11.0", {"flash", "xformers"}, set(), {"sdpa", "flex", "xformers"}),  # no sm80
    ((8, 0), "2.10.0", {"flash"}, set(), {"sdpa", "flex", "varlen", "flash"}),
    ((9, 0), "2.11.0", set(), {"flash", "xformers"}, {"sdpa", "flex", "varlen", "flash", "xformers"}),
])
def test_expected_backends(cap, version, importable, named, want):
    assert set(gc.expected_backends(cap, version, importable, named)) == want


def test_ek_gpu_expect_is_parsed_and_checked():
    assert gc.named_in_env(" flash, xformers ,") == {"flash", "xformers"}
    assert gc.named_in_env(None) == set()
    with pytest.raises(gc.CannotRun, match="flash-attn"):
        gc.named_in_env("flash-attn")


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.core.test_attention" name="test_backend_matches_float64_reference[32-None-varlen-cuda]"/>
<testcase classname="tests.core.test_gpu_precision" name="test_bf16_autocast_encoder_on_cuda_matches_cpu_fp32_sdpa[sdpa]"/>
<testcase classname="tests.core.test_gpu_precision" name="test_bf16_autocast_encoder_on_cuda_matches_cpu_fp32_sdpa[flex]"/>
<testcase classname="tests.core.test_attention" name="test_backend_matches_float64_reference[32-None-xformers-cuda]">
  <skipped type="pytest.skip" message="xformers needs CUDA + package">skip</skipped></testcase>
<testcase classname="tests.core.test_attention" name="test_backend_matches_float64_reference[32-24-flash-cuda]">
  <skipped type="pytest.skip" message="flash has no local window">skip</skipped></testcase>
<testcase classname="tests.core.test_attention" name="test_backend_matches_float64_reference[64-None-flash-cuda]">
  <skipped type="pytest.skip" message="flash needs CUDA + package">skip</skipped></testcase>
<testcase classname="tests.train.test_gpu_train" name="test_bf16_training_on_cuda_matches_cpu_fp32">
  <failure message="AssertionError: Tensor-likes are not close!">trace</failure></testcase>
<testcase classname="tests.train.test_gpu_train" name="test_foreach_stableadamw_on_cuda_matches_cpu_loop">
  <skipped type="pytest.skip" message="needs CUDA">skip</skipped></testcase>
</testsuite></testsuites>"""


def test_skips_of_expected_backends_and_failures_are_problems():
    expected = {"sdpa": "", "flex": "", "varlen": "", "flash": "installed"}
    counts, problems = gc.classify_tests(JUNIT, expected)
    assert (counts["passed"], counts["failed"], counts["skipped"]) == (3, 1, 4)
    # xformers is not expected here; a backend without a local window is not a fault
    assert len(counts["allowed_skips"]) == 2
    text = "\n".join(problems)
    assert "[64-None-flash-cuda] was skipped (flash needs CUDA + package)" in text
    assert "test_bf16_training_on_cuda_matches_cpu_fp32 failed: AssertionError" in text
    assert "test_foreach_stableadamw_on_cuda_matches_cpu_loop was skipped (needs CUDA)" in text
    assert "no gpu test passed with the 'flash' backend" in text
    assert len(problems) == 4
    # the same report on a GPU without flash-attn: only the failure and the CUDA skip remain
    _, problems = gc.classify_tests(JUNIT, {"sdpa": "", "flex": "", "varlen": ""})
    assert len(problems) == 2


def test_a_real_pytest_report_of_the_gpu_tests_on_cpu(tmp_path):
    """pytest's own JUnit output for the gpu files (everything skipped without CUDA):
    every skip of an expected backend is caught."""
    junit = tmp_path / "junit.xml"
    files = gc.gpu_test_files()
    assert {"tests/core/test_attention.py", "tests/core/test_gpu_precision.py",
            "tests/train/test_gpu_train.py", "tests/test_perf_compile.py"} <= set(files)
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", f"--junitxml={junit}",
                    "tests/core/test_gpu_precision.py"], cwd=ROOT, capture_output=True,
                   timeout=120, check=False)
    counts, problems = gc.classify_tests(junit.read_text(), {"sdpa": "", "flex": "", "varlen": ""})
    assert counts["passed"] == 0 and counts["skipped"] == 5
    # sdpa, flex, varlen skipped (must run) and never passed; flash, xformers allowed
    assert len(counts["allowed_skips"]) == 2 and len(problems) == 6


def _report() -> gc.Report:
    r = gc.Report(command="python -m benchmarks.gpu_check")
    r.device = {"name": "NVIDIA H200", "capability": "sm90", "memory_gib": 139.8, "torch": "2.11.0",
                "cuda": "13.0", "transformers": "5.17.0", "python": "3.12.3"}
    r.expected = {"sdpa": "every CUDA GPU", "varlen": "sm90 >= sm80 and torch 2.11.0 >= 2.10"}
    r.stages = [("preflight", "ok", 3.0, ""), ("tests", "FAIL", 120.0, "9 passed, 1 failed")]
    r.failures = ["tests/x.py::test_y failed: boom"]
    r.throughput = [{"mode": "train", "size": "base", "dist": "var256", "encoderkit": 200000.0,
                     "transformers": 100000.0, "attn_hf": "sdpa", "ratio": 2.0,
                     "encoderkit_mfu": 0.45, "transformers_mfu": 0.2, "backend": "varlen"},
                    {"mode": "train", "size": "base", "dist": "fixed512", "encoderkit": 120000.0,
                     "transformers": 100000.0, "attn_hf": "sdpa", "ratio": 1.2,
                     "encoderkit_mfu": 0.5, "transformers_mfu": 0.4, "backend": "varlen"}]
    r.maxbatch = [{"size": "base", "dist": "fixed8192", "tokens": 196608, "capped": False,
                   "peak_gib": 120.5}]
    return r


def test_results_section_is_appended_atomically(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# results\n\nearlier section\n")
    gc.append_atomically(results, gc.render(_report(), 400.0))
    text = results.read_text()
    assert text.startswith("# results\n\nearlier section\n")
    assert "## GPU check (`make gpu-check`): FAIL (1 problem(s))" in text
    for line in ("- device: NVIDIA H200 (sm90, 139.8 GiB); torch 2.11.0 (CUDA 13.0)",
                 "- command: `python -m benchmarks.gpu_check`", "| tests | FAIL | 120 |",
                 "- tests/x.py::test_y failed: boom",
                 "| train | base | var256 | 200,000 | 100,000 (sdpa) | 2.00x | 45.0% | 20.0% | varlen |",
                 "| base | fixed8192 | 196,608 | 120.5 |",
                 "- base var256 training >= 1.3x transformers and MFU >= 40%: met (2.00x, MFU 45.0%)",
                 "- base fixed512 training >= 1.3x transformers and MFU >= 40%: NOT met (1.20x",
                 "packed batches >= 64k tokens: met (196,608)"):
        assert line in text, line
    assert [p.name for p in tmp_path.iterdir()] == ["RESULTS.md"]  # no temp file left


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_hung_stage_is_killed_with_its_children():
    code = textwrap.dedent("""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        print("child", child.pid, flush=True)
        time.sleep(120)
    """)
    rc, secs, tail = gc.run_stage("hang", [sys.executable, "-c", code], limit=3)
    assert rc is None and secs < 30
    child = int(tail.split("child", 1)[1].split()[0])
    for _ in range(100):  # SIGKILL is sent; the kernel may take a moment to finish it off
        if _state(child) in (None, "Z"):  # gone, or dead and awaiting its reaper
            break
        time.sleep(0.05)
    assert _state(child) in (None, "Z"), os.system(f"ps -o pid,stat,cmd -p {child}")


@pytest.mark.slow
def test_whole_check_on_cpu_stand_ins(tmp_path, monkeypatch):
    """main() end to end with a faked preflight and the stage workers on CPU (tiny
    model): every stage runs in its subprocess, the gpu tests are all skipped without
    CUDA, so the verdict is FAIL, exit 1, and the section holds every table."""
    def fake_preflight(report):
        report.device = {"name": "CPU stand-in", "capability": "-", "memory_gib": 0}
        report.expected = {}

    monkeypatch.setattr(gc, "preflight", fake_preflight)
    monkeypatch.setattr(gc, "gpu_test_files", lambda: ["tests/train/test_gpu_train.py"])
    results = tmp_path / "RESULTS.md"
    rc = gc.main(["--results", str(results), "--budget", "900", "--device", "cpu", "--size", "tiny",
                  "--tokens", "1024", "--train-dists", "var256", "--embed-dists", "var256",
                  "--maxbatch-dists", "fixed512", "--start", "512", "--cap", "1024",
                  "--resolution", "512"])
    text = results.read_text()
    assert rc == 1
    assert "): FAIL (2 problem(s))" in text and text.count("was skipped (needs CUDA)") == 2
    for row in ("| preflight | ok |", "| tests | FAIL |", "| throughput | ok |", "| maxbatch | ok |",
                "| train | tiny | var256 |", "| embed | tiny | var256 |",
                "| tiny | fixed512 | 1,024 (cap, no OOM) |"):
        assert row in text, row
