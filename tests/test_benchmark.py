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


# ---------------------------------------------------------------------------------------------------------------
# benchmarks.run (issue 14): the quick mode end to end, in worker processes, and the JSON's arithmetic.

ROOT = Path(__file__).resolve().parents[1]
QUICK_ARGS = [
    "--quick",
    "--lengths",
    "synthetic",  # tests never read the machine's shared data
    "--threads",
    "1",
    "--repeats",
    "1",
    "--new_tokens",
    "6",
    "--prompt",
    "4",
    "--max_time",
    "5",
    "--max_step_seconds",
    "120",  # the small training rows run even on a busy machine
]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    import os
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("bench")
    record = ROOT / "benchmarks" / "RESULTS.md"
    before = record.read_bytes() if record.exists() else None
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "benchmarks.run", *QUICK_ARGS]
    command += ["--output", str(out / "results.json"), "--record", str(out / "RESULTS.md")]
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    after = record.read_bytes() if record.exists() else None
    assert before == after, "the quick run must not write the repository's benchmarks/RESULTS.md"
    return json.loads((out / "results.json").read_text()), (out / "RESULTS.md").read_text(), completed.stdout


@pytest.mark.slow  # the quick run: about a minute on 2 busy cores, mostly process start-up
def test_quick_run_has_every_row(quick_run):
    report, _, _ = quick_run
    names = {row["name"] for row in report["rows"]}
    assert names == {
        "training small float32",
        "training small bfloat16",
        "fine-tuning: dynamic padding + length grouping vs padding to 512",
        "fine-tuning: auxiliary LM over the plain head",
        "fine-tuning: ours vs openai-gpt's classifier, grouped batches",
        "generation float32 batch 1",
        "generation float32 batch 8",
        "generation bfloat16 batch 1",
        "generation bfloat16 batch 8",
    }
    assert report["failures"] == []
    for key in ("cpu", "cores", "torch", "transformers"):
        assert report["machine"][key]
    assert set(report["machine_limits"]["matmul_flops_per_s"]) == {"float32", "bfloat16"}
    assert report["machine_limits"]["read_bandwidth_bytes_per_s"] > 0


@pytest.mark.slow  # the quick run: about a minute on 2 busy cores, mostly process start-up
def test_quick_run_training_ratios_and_model_flops(quick_run):
    report, _, _ = quick_run
    limits = report["machine_limits"]["matmul_flops_per_s"]
    for row in (row for row in report["rows"] if row["section"] == "training"):
        assert row["skipped"] is None, row["skipped"]
        ours, theirs = row["results"]["ours"], row["results"]["openai-gpt"]
        blocked = row["results"]["ours+block_causal"]
        assert row["ratio"] == pytest.approx(ours["tokens_per_s"] / theirs["tokens_per_s"], rel=1e-9)
        assert row["block_causal_ratio"] == pytest.approx(blocked["tokens_per_s"] / theirs["tokens_per_s"], rel=1e-9)
        for result in (ours, blocked, theirs):
            assert result["tokens_per_s"] == pytest.approx(result["tokens"] / result["seconds"], rel=1e-9)
            mfu = result["tokens_per_s"] * row["flops_per_token"] / limits[row["dtype"]]
            assert result["mfu"] == pytest.approx(mfu, rel=1e-6)
            assert result["peak_rss_mb"] > 0 and result["loss"] > 0


@pytest.mark.slow  # the quick run: about a minute on 2 busy cores, mostly process start-up
def test_quick_run_finetuning_ratios(quick_run):
    report, _, _ = quick_run
    padding, auxiliary, versus = (row for row in report["rows"] if row["section"] == "finetuning")
    ours, theirs = versus["results"]["ours"], versus["results"]["openai-gpt"]
    assert versus["ratio"] == pytest.approx(ours["examples_per_s"] / theirs["examples_per_s"], rel=1e-9)
    assert ours["padded_tokens"] == theirs["padded_tokens"] and ours == padding["results"]["grouped"]
    rates = {name: result["examples_per_s"] for name, result in padding["results"].items()}
    assert padding["ratio"] == pytest.approx(rates["grouped"] / rates["pad512"], rel=1e-9)
    assert padding["random_ratio"] == pytest.approx(rates["random"] / rates["pad512"], rel=1e-9)
    # Padding to 512 pads; length grouping pads less than random batches.
    fractions = {name: result["padding_fraction"] for name, result in padding["results"].items()}
    assert fractions["pad512"] > fractions["random"] >= fractions["grouped"] >= 0
    plain, aux = auxiliary["results"]["plain"], auxiliary["results"]["auxiliary"]
    assert auxiliary["ratio"] == pytest.approx(aux["examples_per_s"] / plain["examples_per_s"], rel=1e-9)
    assert auxiliary["overhead"] == pytest.approx(plain["examples_per_s"] / aux["examples_per_s"] - 1, rel=1e-9)
    assert plain["examples"] == aux["examples"] and plain["padded_tokens"] == aux["padded_tokens"]


@pytest.mark.slow  # the quick run: about a minute on 2 busy cores, mostly process start-up
def test_quick_run_generation_ratios_bounds_and_greedy_outputs(quick_run):
    report, _, _ = quick_run
    bandwidth = report["machine_limits"]["read_bandwidth_bytes_per_s"]
    for row in (row for row in report["rows"] if row["section"] == "generation"):
        results = row["results"]
        assert row["skipped_implementations"] == {}  # the quick shape runs everything
        assert set(results) == {"ours", "ours+cpu_decoding", "openai-gpt", "gpt2"}
        assert row["ratio"] == pytest.approx(
            results["ours"]["tokens_per_s"] / results["openai-gpt"]["tokens_per_s"], rel=1e-9
        )
        assert row["ratio_gpt2"] == pytest.approx(
            results["ours"]["tokens_per_s"] / results["gpt2"]["tokens_per_s"], rel=1e-9
        )
        assert row["bound_tokens_per_s"] == pytest.approx(row["batch"] * bandwidth / row["weight_bytes"], rel=1e-6)
        bytes_per_parameter = 4 if row["dtype"] == "float32" else 2
        assert row["weight_bytes"] % bytes_per_parameter == 0
        for result in results.values():
            assert result["tokens_per_s"] == pytest.approx(result["tokens"] / result["seconds"], rel=1e-9)
            if result["projected"]:  # stopped at max_time: the whole length's time from the run's own clock
                assert result["new_tokens"] < row["new_tokens"]
                assert result["tokens"] == row["batch"] * row["new_tokens"]
                expected = result["prompt_seconds"] + (row["new_tokens"] - 1) * result["step_seconds"]
                assert result["seconds"] == pytest.approx(expected, rel=1e-9)
            else:
                assert result["tokens"] == row["batch"] * result["new_tokens"]
                assert result["seconds"] == result["measured_seconds"]
            assert result["fraction_of_bound"] == pytest.approx(
                result["tokens_per_s"] / row["bound_tokens_per_s"], rel=1e-6
            )
        if row["dtype"] == "float32":  # same weights, same greedy tokens (bf16 rounding may differ between kernels)
            for check in row["greedy_vs_ours"].values():
                assert check["identical"] and check["compared_tokens"] >= 1


@pytest.mark.slow  # the quick run: about a minute on 2 busy cores, mostly process start-up
def test_quick_run_goals_agree_with_their_values(quick_run):
    report, _, _ = quick_run
    assert len(report["goals"]) == 4 + 2 + 2 + 4 * 2  # training x4, fine-tuning x2, bandwidth x2, GPT-2 x8
    for goal in report["goals"]:
        if goal["value"] is None:
            assert goal["met"] is None
        elif "auxiliary" in goal["goal"]:
            assert goal["met"] == (goal["value"] <= goal["target"])
        else:
            assert goal["met"] == (goal["value"] >= goal["target"])


@pytest.mark.slow  # the quick run: about a minute on 2 busy cores, mostly process start-up
def test_quick_run_prints_and_records_the_table(quick_run):
    report, recorded, stdout = quick_run
    assert "| row | implementation |" in stdout and "Goals:" in stdout
    assert report["command"] in recorded and report["date"] in recorded and report["machine"]["cpu"] in recorded
    assert recorded.count("| generation ") == 16


@pytest.mark.slow
def test_a_record_names_the_allocator_and_thread_environment_it_ran_under(quick_run, monkeypatch, tmp_path):
    from benchmarks import run

    report, recorded, stdout = quick_run
    assert f"environment: {run.environment_text(report['machine']['environment'])}" in recorded
    assert "bf16 instructions: " in recorded and isinstance(report["machine"]["bf16_instructions"], list)
    for name in list(report["machine"]["environment"]):
        monkeypatch.delenv(name)
    monkeypatch.setenv("MALLOC_MMAP_MAX_", "0")
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/libjemalloc.so.2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # not a speed setting: not recorded
    info = run.machine_info(run.settings_for(run.parse_args(["--quick"])))
    assert info["environment"] == {"LD_PRELOAD": "/usr/lib/libjemalloc.so.2", "MALLOC_MMAP_MAX_": "0"}
    run.record({**report, "machine": info}, tmp_path / "RESULTS.md")
    line = next(line for line in (tmp_path / "RESULTS.md").read_text().splitlines() if line.startswith("Machine:"))
    assert "environment: `LD_PRELOAD=/usr/lib/libjemalloc.so.2` `MALLOC_MMAP_MAX_=0`." in line


def test_bfloat16_and_float32_training_steps_run_for_both_implementations(monkeypatch):
    """The worker's training step, in this process at a tiny shape (the quick run may skip slow bf16 rows)."""
    import sys

    sys.path.insert(0, str(ROOT))
    from benchmarks import workers

    monkeypatch.setitem(workers.SHAPES, "tiny", dict(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    for kind in ("ours", "ours+block_causal", "openai-gpt"):
        state = workers._WorkerState(kind, "tiny", seed=0)
        for dtype in ("float32", "bfloat16"):
            result = state.train(dtype=dtype, batch=2, seq=16, steps=1)
            assert result["tokens"] == 32 and result["loss"] > 0
        if kind.startswith("ours"):
            expected = "block_causal" if kind == "ours+block_causal" else "sdpa"
            assert state.model.config._attn_implementation == expected


@pytest.mark.parametrize("stop_after", [None, 3], ids=["finished", "stopped early"])
def test_generate_worker_times_the_prompt_and_the_steps_and_projects_a_stopped_run(monkeypatch, stop_after):
    """A finished run reports its measured time; a run stopped early (here after 3 of 6 tokens) its prompt time plus
    its mean step time for every later token, over the whole length."""
    import sys

    sys.path.insert(0, str(ROOT))
    from benchmarks import workers

    class StoppingClock(workers.StepClock):
        def __call__(self, input_ids, scores, **kwargs):
            stop = super().__call__(input_ids, scores, **kwargs)
            return stop | (len(self.times) == stop_after)

    monkeypatch.setattr(workers, "StepClock", StoppingClock)
    monkeypatch.setitem(workers.SHAPES, "tiny", dict(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    state = workers._WorkerState("ours", "tiny", seed=0)
    result = state.generate(dtype="float32", batch=2, prompt=4, new_tokens=6, max_time=60.0)
    assert 0 < result["prompt_seconds"] <= result["measured_seconds"] and result["step_seconds"] > 0
    if stop_after is None:
        assert result["new_tokens"] == 6 and not result["projected"]
        assert (result["seconds"], result["tokens"]) == (result["measured_seconds"], 12)
    else:
        assert result["new_tokens"] == 3 and result["projected"] and result["tokens"] == 12
        assert result["seconds"] == pytest.approx(result["prompt_seconds"] + 5 * result["step_seconds"], rel=1e-9)


def _import_run():
    import sys

    sys.path.insert(0, str(ROOT))
    from benchmarks import run

    return run


def test_a_run_whose_prompt_outlasts_max_time_still_makes_two_tokens_and_is_projected(monkeypatch):
    """`generate(max_time=...)` would stop a slow prompt after its first token, leaving no step to time: the worker's
    clock stops only after two tokens."""
    import sys

    sys.path.insert(0, str(ROOT))
    from benchmarks import workers

    monkeypatch.setitem(workers.SHAPES, "tiny", dict(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    state = workers._WorkerState("ours", "tiny", seed=0)
    result = state.generate(dtype="float32", batch=1, prompt=4, new_tokens=6, max_time=0.0)
    assert result["new_tokens"] == 2 and result["projected"] and result["tokens"] == 6
    assert result["seconds"] == pytest.approx(result["prompt_seconds"] + 5 * result["step_seconds"], rel=1e-9)


def test_an_implementation_too_slow_to_reach_two_tokens_is_foreseen_from_its_warm_up():
    run = _import_run()
    warm_up = {"prompt_seconds": 0.5, "step_seconds": 0.25}
    # The prompt (with its first token) scales with its length; a cached step does not, an uncached one does.
    assert run.foreseen_seconds(warm_up, warm_prompt=4, prompt=32) == pytest.approx(0.5 * 8 + 0.25)
    assert run.foreseen_seconds(warm_up, warm_prompt=4, prompt=32, cached=False) == pytest.approx((0.5 + 0.25) * 8)
    one_token = {"prompt_seconds": 0.5, "step_seconds": None}  # a warm-up of one token: its prompt stands for a step
    assert run.foreseen_seconds(one_token, warm_prompt=4, prompt=4) == pytest.approx(1.0)


def test_a_generation_row_without_gpt2_or_the_plain_model_reports_what_ran_and_leaves_their_goals_unmeasured():
    """A row where the slow implementations were left out: the table lists them as skipped with the reason, the
    ratios that need them are None, and their goals are NOT MEASURED (never met or not met)."""
    run = _import_run()
    ran = {"tokens_per_s": 38.0, "fraction_of_bound": 0.3, "peak_rss_mb": 600.0, "new_tokens": 256}
    reason = "its prompt and first two tokens would take about 70 s here"
    row = {
        "section": "generation",
        "name": "generation bfloat16 batch 8",
        "dtype": "bfloat16",
        "batch": 8,
        "new_tokens": 256,
        "max_time": 15.0,
        "results": {"ours+cpu_decoding": ran},
        "skipped_implementations": {"ours": reason, "openai-gpt": reason, "gpt2": reason},
        "greedy_vs_ours": {},
        "ratio": None,
        "ratio_gpt2": None,
        "cpu_decoding_ratio_gpt2": None,
        "skipped": None,
    }
    lines = run.table({"rows": [row]})
    assert any("| ours+cpu_decoding | 38.0 tokens/s | - | 30% of read bound |" in line for line in lines)
    for kind in ("ours", "openai-gpt", "gpt2"):
        assert any(f"| {kind} | - | - | - | - | skipped: {reason} |" in line for line in lines)
    goals = run.goals([row], settings=None)  # goals read the rows only
    assert len(goals) == 2 and all(goal["met"] is None and goal["value"] is None for goal in goals)
    assert all(reason in goal["note"] for goal in goals)


def test_training_and_fine_tuning_commands_run_one_untimed_step_before_the_clock(monkeypatch):
    """The worker returns its freed memory to the system before each command; the first step would fault it all in
    again, so it runs untimed and only the rest is counted."""
    import sys

    sys.path.insert(0, str(ROOT))
    from benchmarks import workers

    monkeypatch.setitem(workers.SHAPES, "tiny", dict(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    state = workers._WorkerState("ours", "tiny", seed=0)
    model = state._model("float32")
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    result = state.train(dtype="float32", batch=2, seq=16, steps=2)
    assert len(calls) == 3 and result["tokens"] == 2 * 16 * 2

    classifier = workers._WorkerState("ours-classifier", "tiny", seed=0)
    config = workers.make_config("tiny")
    calls.clear()
    classifier._model("float32").register_forward_hook(lambda *args: calls.append(1))
    example = {"input_ids": [config.start_token_id, 5, 6, config.extract_token_id], "label": 1}
    result = classifier.finetune(batches=[[example] * 2, [example]], pad_to=None, auxiliary=False)
    assert len(calls) == 3 and result["examples"] == 3  # one untimed batch, then the two timed ones


def test_openai_gpt_worker_gets_our_weights():
    import sys

    sys.path.insert(0, str(ROOT))
    from benchmarks import workers

    workers.SHAPES.setdefault("tiny", dict(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    ours = workers.build_model("ours", "tiny", seed=3).eval()
    theirs = workers.build_model("openai-gpt", "tiny", seed=3).eval()
    ids = torch.randint(0, 60, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, theirs(ids).logits, rtol=1e-5, atol=1e-5)


def test_openai_gpt_classifier_worker_gets_our_weights():
    import sys

    sys.path.insert(0, str(ROOT))
    from benchmarks import workers

    workers.SHAPES.setdefault("tiny", dict(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    ours = workers.build_model("ours-classifier", "tiny", seed=3).eval()
    theirs = workers.build_model("openai-gpt-classifier", "tiny", seed=3).eval()
    config = ours.config
    ids = torch.tensor([[config.start_token_id, 5, 6, 7, config.extract_token_id, config.pad_token_id]] * 2)
    ids[1, 2] = 9
    mask = (ids != config.pad_token_id).long()
    with torch.no_grad():
        # Both read the extract token (openai-gpt: the last one that is not padding); its score has no bias.
        expected = ours(input_ids=ids, attention_mask=mask).logits - ours.classifier.bias
        torch.testing.assert_close(theirs(input_ids=ids, attention_mask=mask).logits, expected, rtol=1e-5, atol=1e-5)


def test_training_flops_of_gpt1():
    import sys

    sys.path.insert(0, str(ROOT))
    from benchmarks.workers import make_config, matmul_parameters, training_flops_per_token

    config = make_config("gpt1")
    assert matmul_parameters(config) == 12 * 12 * 768**2 + 40482 * 768  # 116.0M: blocks and the tied LM head
    assert training_flops_per_token(config, 512) == 6 * matmul_parameters(config) + 12 * 12 * 768 * 512


# ---------------------------------------------------------------------------------------------------------------
# benchmarks/gpu.py: never needs a GPU to be tested.


def _run_gpu_script(*args, env_overrides=None):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env_overrides or {})}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_gpu_script_without_a_gpu_says_so_in_one_line():
    completed = _run_gpu_script(env_overrides={"CUDA_VISIBLE_DEVICES": ""})
    if completed.returncode == 0:
        pytest.skip("a CUDA GPU is present: the script ran")
    assert completed.returncode == 1 and completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a CUDA GPU" in lines[0]


@pytest.mark.slow
def test_gpu_script_logic_runs_on_a_cpu_at_a_tiny_shape(tmp_path):
    output = tmp_path / "gpu.json"
    completed = _run_gpu_script(
        "--device", "cpu", "--quick", "--no_compile", "--batch", "1", "--steps", "1", "--repeats", "1",
        "--output", str(output),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(output.read_text())
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == report
    ours, theirs = report["results"]["ours"], report["results"]["openai-gpt"]
    assert report["speedup"] == pytest.approx(ours["tokens_per_s"] / theirs["tokens_per_s"], rel=1e-9)
    assert ours["mfu"] == pytest.approx(ours["tokens_per_s"] * report["flops_per_token"] / report["peak_flops_per_s"])
    # Same weights: the first (dropout-free) losses agree to bf16 rounding.
    losses = report["first_losses_eval"]
    assert losses["ours"] == pytest.approx(losses["openai-gpt"], rel=2e-2)
    assert report["goals"] == {"mfu >= 45%": ours["mfu"] >= 0.45, "speedup >= 2x": report["speedup"] >= 2}


@pytest.mark.parametrize("flag, value", [("--batch", "0"), ("--steps", "0"), ("--warmup", "-1")])
def test_gpu_script_refuses_zero_rather_than_taking_the_default(flag, value):
    """`--batch 0` and `--steps 0` became the defaults (32, 20) silently."""
    from benchmarks import gpu

    with pytest.raises(SystemExit) as exit_info:
        gpu.parse_args(["--device", "cpu", flag, value])
    assert exit_info.value.code == 2
