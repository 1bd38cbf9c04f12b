"""The generation benchmark runs end to end on its small config and reports consistent numbers."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch


SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_generate.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_generate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_reports_identical_greedy_tokens_and_consistent_ratios(bench, capsys):
    threads = torch.get_num_threads()
    try:
        bench.main(["--quick", "--new_tokens", "6", "--prompt", "5", "--repeats", "2", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert results["greedy_identical"] is True
    assert results["new_tokens"] == 6 and results["repeats"] == 2 and results["threads"] == 1
    assert results["ours_tokens_per_s"] > 0 and results["openai_gpt_tokens_per_s"] > 0
    assert results["plain_tokens_per_s"] > 0
    assert results["speedup"] == pytest.approx(results["ours_tokens_per_s"] / results["openai_gpt_tokens_per_s"], 0.01)
    bound = results["copy_bandwidth_gb_per_s"] * 1e9 / results["weight_bytes_per_token"]
    assert results["bandwidth_bound_tokens_per_s"] == pytest.approx(bound, rel=0.01)


@pytest.mark.parametrize("flag", ["--repeats", "--new_tokens", "--threads"])
def test_benchmark_rejects_non_positive_counts(bench, flag):
    with pytest.raises(SystemExit):
        bench.parse_args([flag, "0"])
