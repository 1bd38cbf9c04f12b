"""Interrupted fine-tuning: a run killed with SIGKILL after a checkpoint and resumed with `--resume_from_checkpoint last`
ends with the same weights, bit for bit, as a run that was never interrupted; a checkpoint whose trainer_state.json a
kill left truncated is skipped, and the run resumes from the one before."""

import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from finetune_helpers import FINETUNE, ROOT, finetune_argv, script_env, weights, write_model, write_sst2
from test_finetune_script import finetune

from modeling_gpt1.reporting import last_complete_checkpoint, resolve_checkpoint


STEPS = ["--max_steps", "8", "--save_strategy", "steps", "--save_steps", "2", "--per_device_train_batch_size", "4"]
TRAIN_ONLY = ["--do_eval", "False", "--do_predict", "False", *STEPS]

# Loaded by the killed run's interpreter (on PYTHONPATH): after saving the checkpoint of step STOP_AT, the run marks it
# and waits, mid-training, for the test's SIGKILL.
STOP_AFTER_CHECKPOINT = """
import os, time
from transformers import Trainer

_save_checkpoint = Trainer._save_checkpoint


def _save_then_wait(self, *args, **kwargs):
    _save_checkpoint(self, *args, **kwargs)
    if self.state.global_step >= int(os.environ["STOP_AT"]):
        open(os.environ["STOPPED_MARKER"], "w").close()
        time.sleep(600)


Trainer._save_checkpoint = _save_then_wait
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    return write_model(folder / "model"), write_sst2(folder / "sst2")


def run_in_process(argv):
    """A run in this process, on one thread like the script runs (so that the sums are reduced in the same order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return finetune.main(argv)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def uninterrupted(files, tmp_path_factory):
    model, data = files
    output_dir = tmp_path_factory.mktemp("uninterrupted") / "out"
    run_in_process(finetune_argv(data, model, output_dir, *TRAIN_ONLY))
    return weights(output_dir)


@pytest.fixture(scope="module")
def killed(files, tmp_path_factory):
    """The output folder of a run killed (SIGKILL) while training, after its checkpoint of step 6 (of 8)."""
    model, data = files
    folder = tmp_path_factory.mktemp("killed")
    (folder / "hook").mkdir()
    (folder / "hook" / "sitecustomize.py").write_text(STOP_AFTER_CHECKPOINT)
    marker, output_dir = folder / "stopped", folder / "out"
    python_path = os.pathsep.join(filter(None, [str(folder / "hook"), os.environ.get("PYTHONPATH")]))
    env = script_env(PYTHONPATH=python_path, STOP_AT="6", STOPPED_MARKER=str(marker))
    process = subprocess.Popen(
        [sys.executable, str(FINETUNE), *finetune_argv(data, model, output_dir, *TRAIN_ONLY)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(
                    f"the run ended (status {process.returncode}) before its checkpoint: {process.stderr.read()}"
                )
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint of step 6 within 120 s")
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert sorted(path.name for path in output_dir.glob("checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-4",
        "checkpoint-6",
    ]
    assert not (output_dir / "model.safetensors").exists()  # the kill came before the end of training
    return output_dir


def test_killed_run_resumes_to_bit_identical_weights(files, uninterrupted, killed, tmp_path):
    model, data = files
    output_dir = tmp_path / "out"
    shutil.copytree(killed, output_dir)
    result = subprocess.run(
        [sys.executable, str(FINETUNE), *finetune_argv(data, model, output_dir, *TRAIN_ONLY)]
        + ["--resume_from_checkpoint", "last"],
        cwd=ROOT,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = weights(output_dir)
    assert resumed.keys() == uninterrupted.keys()
    for key, value in uninterrupted.items():
        assert torch.equal(resumed[key], value), key


def test_truncated_trainer_state_is_skipped_and_the_previous_checkpoint_resumes(
    files, uninterrupted, killed, tmp_path, caplog
):
    """A kill while the newest checkpoint's trainer_state.json was written: that checkpoint is skipped with a warning,
    the run resumes from the one before, and still ends with the uninterrupted run's weights."""
    model, data = files
    output_dir = tmp_path / "out"
    shutil.copytree(killed, output_dir)
    state = output_dir / "checkpoint-6" / "trainer_state.json"
    state.write_text(state.read_text()[:100])
    assert last_complete_checkpoint(str(output_dir)) == str(output_dir / "checkpoint-4")
    with caplog.at_level(logging.WARNING, logger="modeling_gpt1.reporting"):
        run_in_process(finetune_argv(data, model, output_dir, *TRAIN_ONLY, "--resume_from_checkpoint", "last"))
    assert "checkpoint-6 is incomplete (trainer_state.json does not parse" in caplog.text
    resumed = weights(output_dir)
    for key, value in uninterrupted.items():
        assert torch.equal(resumed[key], value), key


def test_incomplete_checkpoints_are_skipped_or_refused(tmp_path, caplog):
    """Without trainer_state.json, or with one that does not parse, a checkpoint is incomplete: `last` skips it with a
    warning; naming it is an error that says why."""
    for step, state in ((1, "{}"), (2, None), (3, '{"log_history": [')):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    with caplog.at_level(logging.WARNING, logger="modeling_gpt1.reporting"):
        assert last_complete_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-1")
    assert "checkpoint-3 is incomplete (trainer_state.json does not parse" in caplog.text
    assert "checkpoint-2 is incomplete (no trainer_state.json)" in caplog.text

    class Args:
        output_dir = str(tmp_path)
        resume_from_checkpoint = str(tmp_path / "checkpoint-3")

    with pytest.raises(
        FileNotFoundError, match="checkpoint-3: not a complete checkpoint .trainer_state.json does not"
    ):
        resolve_checkpoint(Args)
