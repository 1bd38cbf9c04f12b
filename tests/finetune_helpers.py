"""What the tests of `examples/finetune.py` as a program share: a tiny pre-trained GPT-1 folder, tiny SST-2 files, the
script's command line, and reading back weights and logs. Everything is written under the test's own folder."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from modeling_gpt1 import GPT1Config, GPT1LMHeadModel
from modeling_gpt1.tokenization_gpt1 import train_gpt1_tokenizer


ROOT = Path(__file__).resolve().parents[1]
FINETUNE = ROOT / "examples" / "finetune.py"
WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "under",
    "mat",
    "log",
    "good",
    "bad",
    "fine",
    "awful",
    "sun",
    "rain",
]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))


def write_model(folder: Path, dropout: float = 0.1) -> Path:
    """A tiny GPT-1 LM (2 x 32, 64 positions) and its tokenizer, saved as a pre-trained folder."""
    rng = random.Random(0)
    tokenizer = train_gpt1_tokenizer(
        iter([sentence(rng) for _ in range(200)]), vocab_size=60, min_frequency=1, show_progress=False
    )
    special = {field: getattr(tokenizer, field) for field in GPT1Config().to_dict() if field.endswith("_token_id")}
    config = GPT1Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=4,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        classifier_dropout=dropout,
        **{key: value for key, value in special.items() if value is not None},
    )
    torch.manual_seed(0)
    GPT1LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_sst2(folder: Path, n_train: int = 24, n_dev: int = 8) -> Path:
    """SST-2's layout (``sentence<TAB>label`` with a header; the test file with an index and no label)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)

    def rows(n):
        return "".join(f"{sentence(rng)}\t{i % 2}\n" for i in range(n))

    (folder / "train.tsv").write_text("sentence\tlabel\n" + rows(n_train))
    (folder / "dev.tsv").write_text("sentence\tlabel\n" + rows(n_dev))
    (folder / "test.tsv").write_text("index\tsentence\n" + "".join(f"{i}\t{sentence(rng)}\n" for i in range(4)))
    return folder


def finetune_argv(data_dir: Path, model: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--task",
        "sst2",
        "--data_dir",
        str(data_dir),
        "--model_name_or_path",
        str(model),
        "--output_dir",
        str(output_dir),
        "--use_cpu",
        "True",
        "--report_to",
        "none",
        "--logging_steps",
        "1",
        "--seed",
        "0",
        "--per_device_eval_batch_size",
        "8",
        "--disable_tqdm",
        "True",
        *extra,
    ]


def script_env(**extra: str) -> dict:
    """The environment of a script run: offline, one thread per process (reproducible and fair on few cores)."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **extra,
    }


def run_finetune(argv: list[str], timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(FINETUNE), *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=script_env(**env),
        timeout=timeout,
    )


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def log_history(folder: Path) -> list[dict]:
    return json.loads((folder / "trainer_state.json").read_text())["log_history"]


def spy_on_attention(monkeypatch, name: str) -> list[float]:
    """The dropout probability of every call to the attention backend `name` (registered with Transformers)."""
    from transformers import AttentionInterface

    calls, backend = [], AttentionInterface._global_mapping[name]

    def spy(module, *args, dropout=0.0, **kwargs):
        calls.append(dropout)
        return backend(module, *args, dropout=dropout, **kwargs)

    monkeypatch.setitem(AttentionInterface._global_mapping, name, spy)
    return calls
