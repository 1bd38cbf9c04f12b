"""A config that fails Transformers' `@strict` validation, given on a command line, is a user error: one line on
stderr and exit status 2, as every other bad value is."""

import importlib.util
from pathlib import Path

import pytest


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"gpt1_cli_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "overrides, complaint",
    [
        ("n_layer=1,n_embd=32,n_head=5,n_positions=16", "n_embd (32) must be divisible by n_head (5)"),
        ("n_layer=1,n_embd=32,n_head=4,n_positions=16,resid_pdrop=1.5", "resid_pdrop"),
    ],
)
def test_pretraining_with_an_invalid_config_is_one_line_and_status_2(tmp_path, capsys, overrides, complaint):
    (tmp_path / "train.txt").write_text("the cat sat on the mat.\n" * 50)
    argv = ["--train_file", str(tmp_path / "train.txt"), "--output_dir", str(tmp_path / "out"), "--max_steps", "1"]
    with pytest.raises(SystemExit) as exit:
        load_script("pretrain").cli([*argv, "--config_overrides", overrides])
    assert exit.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]  # after the run's own log lines
    assert ": error: " in line and complaint in line
