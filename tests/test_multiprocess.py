"""`examples/finetune.py` on two processes (`torchrun --nproc_per_node 2`, gloo on CPU) with the global batch of one
process: the same losses, the same final weights, exit status 0 with evaluation off (only the main process writes
the model card), and the logged task_loss and lm_loss averaged over the processes, as Trainer averages loss. And
`examples/reproduce.py` on two processes: every stage, the batches split, one report."""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from finetune_helpers import FINETUNE, ROOT, finetune_argv, log_history, script_env, weights, write_model, write_sst2
from test_resume import run_in_process


AUX_LM_COEF = 0.5
COMMON = ["--max_steps", "4", "--do_eval", "False", "--do_predict", "False", "--save_strategy", "no"]
COMMON += ["--aux_lm_coef", str(AUX_LM_COEF)]

pytestmark = pytest.mark.skipif(shutil.which("torchrun", path=str(ROOT / ".venv" / "bin")) is None and
                                shutil.which("torchrun") is None, reason="torchrun is not installed")  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multiprocess")
    # No dropout: the processes draw other random masks than one process would.
    return write_model(folder / "model", dropout=0.0), write_sst2(folder / "sst2")


def failure(stderr: str) -> str:
    """Each rank's last lines: the tail alone shows the rank that waited, not the one that crashed."""
    ranks = {}
    for line in stderr.splitlines():
        if line.startswith("[rank"):
            ranks.setdefault(line.split("]")[0] + "]", []).append(line)
    return "\n".join(line for lines in ranks.values() for line in lines[-25:]) + "\n" + stderr[-2000:]


def training_logs(folder):
    return [entry for entry in log_history(folder) if "loss" in entry and "train_runtime" not in entry]


def test_two_processes_match_one_with_the_same_global_batch(files, tmp_path):
    model, data = files
    single, double = tmp_path / "single", tmp_path / "double"
    run_in_process(finetune_argv(data, model, single, *COMMON, "--per_device_train_batch_size", "4"))

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    argv = finetune_argv(data, model, double, *COMMON, "--per_device_train_batch_size", "2", "--ddp_backend", "gloo")
    result = subprocess.run(
        [*torchrun, str(FINETUNE), *argv], cwd=ROOT, env=script_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, failure(result.stderr)
    assert (double / "README.md").is_file() and (double / "model.safetensors").is_file()

    one, two = training_logs(single), training_logs(double)
    assert [entry["step"] for entry in two] == [entry["step"] for entry in one] == [1, 2, 3, 4]
    for a, b in zip(one, two):
        for key in ("loss", "task_loss", "lm_loss"):
            assert b[key] == pytest.approx(a[key], abs=1e-5), (b["step"], key)
        # Global parts: each log's loss is its task loss plus lambda times its LM loss, across the processes too.
        assert b["loss"] == pytest.approx(b["task_loss"] + AUX_LM_COEF * b["lm_loss"], abs=1e-5)

    reference, trained = weights(single), weights(double)
    assert trained.keys() == reference.keys()
    for key, value in reference.items():
        torch.testing.assert_close(trained[key], value, rtol=0, atol=1e-5, msg=key)


def test_evaluation_only_on_two_processes_exits_0_with_results_and_no_card(files, tmp_path):
    """`--do_train False` under torchrun: every process evaluates, the main one writes the results, nobody writes a
    card for a model that was not saved."""
    model, data = files
    output_dir = tmp_path / "eval_only"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    argv = finetune_argv(data, model, output_dir, "--do_train", "False", "--ddp_backend", "gloo")
    result = subprocess.run(
        [*torchrun, str(FINETUNE), *argv], cwd=ROOT, env=script_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, failure(result.stderr)
    assert (output_dir / "eval_results.json").is_file()
    assert not (output_dir / "README.md").exists()


def test_the_reproduction_study_runs_on_two_processes(tmp_path):
    """examples/reproduce.py under torchrun: the runs share the work (the study's batch split over the processes),
    and one process writes each result, the zero-shot scores and the report."""
    from test_reproduce import write_glue_files

    write_glue_files(tmp_path / "glue")
    (tmp_path / "book.txt").write_text((tmp_path / "glue" / "SST-2" / "train.tsv").read_text() * 3)
    out = tmp_path / "out"
    argv = ["--scale", "quick", "--corpus", str(tmp_path / "book.txt"), "--glue_dir", str(tmp_path / "glue")]
    argv += ["--tasks", "sst2", "--seeds", "0", "--output_dir", str(out)]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    result = subprocess.run(
        [*torchrun, str(ROOT / "examples" / "reproduce.py"), *argv],
        cwd=ROOT,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, failure(result.stderr)
    assert result.stdout.count("# Reproduction report") == 1  # the main process alone reports
    results = json.loads((out / "results.json").read_text())
    assert len(results["finetuning"]) == 5 and {row["task"] for row in results["zero_shot"]} == {"sst2"}
    for run in results["finetuning"]:
        argv = run["argv"]
        assert argv[argv.index("--per_device_train_batch_size") + 1] == "8"  # the quick scale's 16, over 2
    assert json.loads((out / "pretrain" / "trainer_state.json").read_text())["train_batch_size"] == 4
