"""End-to-end runs of `examples/pretrain.py` and `examples/finetune.py` on tiny data written here, through their
`main(argv)`, plus the helpers they share (`modeling_gpt1.reporting`).

One tiny pre-training run (module fixture) feeds the fine-tuning runs, as a user would chain the two scripts.
"""

import importlib.util
import json
import math
import random
import shutil
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from finetune_helpers import spy_on_attention
from safetensors.torch import load_file
from transformers import (
    AutoModelForCausalLM,
    AutoModelForMultipleChoice,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    HfArgumentParser,
    TrainingArguments,
    pipeline,
)

from modeling_gpt1 import GPT1ForMultipleChoice, GPT1ForSequenceClassification
from modeling_gpt1.diagnostics import COLLAPSE_THRESHOLD
from modeling_gpt1.reporting import (
    format_summary,
    loss_series,
    parse_script_args,
    plot_loss_curve,
    set_script_defaults,
)
from modeling_gpt1.tokenization_gpt1 import train_gpt1_tokenizer
from modeling_gpt1.training import FINETUNING_DEFAULTS, PRETRAINING_DEFAULTS


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "bird",
    "sat",
    "ran",
    "flew",
    "on",
    "under",
    "over",
    "mat",
    "house",
    "tree",
    "big",
    "small",
    "red",
    "blue",
    "green",
    "quickly",
    "slowly",
    "and",
    "then",
    "saw",
    "heard",
    "old",
    "young",
    "man",
    "woman",
    "child",
    "park",
    "river",
]
TINY_MODEL = "n_layer=1,n_embd=32,n_head=2,n_positions=64"
# Flags every run shares: CPU, no logging integrations, a log entry per step (for the loss curves).
COMMON = [
    "--use_cpu",
    "--report_to",
    "none",
    "--logging_steps",
    "1",
    "--save_strategy",
    "no",
    "--per_device_train_batch_size",
    "4",
    "--per_device_eval_batch_size",
    "8",
]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"gpt1_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pretrain = load_script("pretrain")
finetune = load_script("finetune")


def sentence(rng: random.Random, low: int = 4, high: int = 10) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))) + "."


def write_text(path: Path, n_lines: int, seed: int) -> Path:
    rng = random.Random(seed)
    path.write_text("".join(sentence(rng, 6, 14) + "\n" for _ in range(n_lines)))
    return path


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def pretrain_argv(tmp: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--train_file",
        str(tmp / "train.txt"),
        "--validation_file",
        str(tmp / "valid.txt"),
        "--output_dir",
        str(output_dir),
        "--cache_dir",
        str(tmp / "cache"),
        "--config_overrides",
        TINY_MODEL,
        "--tokenizer_vocab_size",
        "120",
        "--block_size",
        "32",
        "--seed",
        "0",
        *COMMON,
        *extra,
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    write_text(folder / "train.txt", 60, seed=0)
    write_text(folder / "valid.txt", 20, seed=1)
    return folder


@pytest.fixture(scope="module")
def pretrained(corpus) -> tuple[Path, dict]:
    """A 6-step pre-training run that checkpoints every 3 steps: (output folder, results)."""
    output_dir = corpus / "pretrained"
    argv = pretrain_argv(corpus, output_dir, "--max_steps", "6", "--save_strategy", "steps", "--save_steps", "3")
    return output_dir, pretrain.main(argv)


# ---------------------------------------------------------------------------------------------------------
# Pre-training


def test_pretrain_writes_a_hub_ready_folder_and_results(pretrained):
    output_dir, results = pretrained
    for name in (
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "all_results.json",
        "train_results.json",
        "eval_results.json",
        "loss_curve.png",
        "README.md",
    ):
        assert (output_dir / name).is_file(), name
    eval_results = read_json(output_dir / "eval_results.json")
    assert eval_results["eval_perplexity"] == pytest.approx(math.exp(eval_results["eval_loss"]))
    all_results = read_json(output_dir / "all_results.json")
    assert all_results["eval_loss"] == eval_results["eval_loss"]
    assert all_results["train_loss"] == read_json(output_dir / "train_results.json")["train_loss"]
    assert results["eval_perplexity"] == eval_results["eval_perplexity"]
    # The paper's pre-training schedule unless overridden: cosine after 2,000 warm-up steps, so 6 steps stay tiny.
    state = read_json(output_dir / "trainer_state.json")
    learning_rates = [entry["learning_rate"] for entry in state["log_history"] if "learning_rate" in entry]
    assert learning_rates[-1] == pytest.approx(PRETRAINING_DEFAULTS["learning_rate"] * 5 / 2000)


def test_pretrain_logs_the_hidden_state_spread_with_the_perplexity(pretrained):
    output_dir, results = pretrained
    eval_results = read_json(output_dir / "eval_results.json")
    # A 6-step model still reads its input: its states differ across the evaluation blocks (random init: ~0.64).
    assert COLLAPSE_THRESHOLD < eval_results["eval_hidden_spread"] < 1
    assert results["eval_hidden_spread"] == eval_results["eval_hidden_spread"]


def test_every_evaluation_during_training_logs_the_spread_with_the_perplexity(corpus, tmp_path):
    output_dir = tmp_path / "evaluated-as-it-goes"
    pretrain.main(
        pretrain_argv(corpus, output_dir, "--max_steps", "4", "--eval_strategy", "steps", "--eval_steps", "2")
    )
    history = read_json(output_dir / "trainer_state.json")["log_history"]
    evaluations = [entry for entry in history if "eval_loss" in entry]
    assert [entry["step"] for entry in evaluations] == [2, 4]
    for entry in evaluations:
        assert entry["eval_perplexity"] == pytest.approx(math.exp(entry["eval_loss"]))
        assert entry["eval_hidden_spread"] > COLLAPSE_THRESHOLD


def test_pretrain_warns_in_words_about_a_collapsed_model(pretrained, corpus, tmp_path, capsys, caplog):
    output_dir, _ = pretrained
    model = AutoModelForCausalLM.from_pretrained(output_dir)
    with torch.no_grad():  # every input now gives the same final states: the last LayerNorm's bias
        model.transformer.h[-1].ln_2.weight.zero_()
    model.save_pretrained(tmp_path / "collapsed")
    AutoTokenizer.from_pretrained(output_dir).save_pretrained(tmp_path / "collapsed")
    argv = pretrain_argv(corpus, tmp_path / "evaluated", "--model_name_or_path", str(tmp_path / "collapsed"))
    argv = without_option(without_option(argv, "--config_overrides"), "--tokenizer_vocab_size")
    with caplog.at_level("WARNING"):
        results = pretrain.main([*argv, "--do_train", "False"])
    assert results["eval_hidden_spread"] < 1e-4
    assert results["eval_perplexity"] == pytest.approx(math.exp(results["eval_loss"]))
    for output in (caplog.text, capsys.readouterr().err):
        assert "The model has collapsed" in output
        assert "longer warm-up (--warmup_steps" in output and "lower --learning_rate" in output
    assert pretrain.collapse_check_inputs(None) is None


def test_pretrained_folder_reloads_with_auto_classes(pretrained):
    output_dir, _ = pretrained
    model = AutoModelForCausalLM.from_pretrained(output_dir)
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    config = model.config
    assert (config.n_layer, config.n_embd, config.n_head, config.n_positions) == (1, 32, 2, 64)
    assert config.vocab_size == len(tokenizer)
    assert (config.start_token_id, config.extract_token_id, config.pad_token_id) == (
        tokenizer.start_token_id,
        tokenizer.extract_token_id,
        tokenizer.pad_token_id,
    )
    inputs = tokenizer("the cat sat on the mat.", return_tensors="pt")
    with torch.no_grad():
        loss = model(**inputs, labels=inputs["input_ids"]).loss
    assert torch.isfinite(loss)
    generated = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 3


def test_resuming_from_a_checkpoint_reaches_the_same_weights(pretrained, corpus, tmp_path, monkeypatch):
    output_dir, _ = pretrained
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(output_dir / "checkpoint-3", resumed_dir / "checkpoint-3")  # an interrupted run's folder
    half_written = resumed_dir / "checkpoint-5"  # its last save was cut short: weights begun, no trainer_state.json
    half_written.mkdir()
    weights = (output_dir / "checkpoint-3" / "model.safetensors").read_bytes()
    (half_written / "model.safetensors").write_bytes(weights[:100])
    steps = []

    class CountingTrainer(pretrain.Trainer):
        def training_step(self, *args, **kwargs):
            steps.append(self.state.global_step)
            return super().training_step(*args, **kwargs)

    monkeypatch.setattr(pretrain, "Trainer", CountingTrainer)
    pretrain.main(
        pretrain_argv(
            corpus, resumed_dir, "--max_steps", "6", "--do_eval", "False", "--resume_from_checkpoint", "last"
        )
    )
    assert steps == [3, 4, 5]  # only the steps after the last complete checkpoint ran
    uninterrupted = load_file(output_dir / "model.safetensors")
    resumed = load_file(resumed_dir / "model.safetensors")
    assert uninterrupted.keys() == resumed.keys()
    for name in uninterrupted:
        torch.testing.assert_close(resumed[name], uninterrupted[name], rtol=0, atol=1e-6, msg=name)


def without_option(argv: list[str], option: str) -> list[str]:
    index = argv.index(option)
    return argv[:index] + argv[index + 2 :]


def test_resuming_reads_the_checkpoints_own_config_and_tokenizer(pretrained, corpus, tmp_path):
    """`--resume_from_checkpoint last` alone: no --config_overrides (the default would be the 117M shape), no
    tokenizer flags; the run continues the checkpoint's model and ends at the uninterrupted run's weights."""
    output_dir, _ = pretrained
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(output_dir / "checkpoint-3", resumed_dir / "checkpoint-3")
    argv = pretrain_argv(
        corpus, resumed_dir, "--max_steps", "6", "--do_eval", "False", "--resume_from_checkpoint", "last"
    )
    pretrain.main(without_option(without_option(argv, "--config_overrides"), "--tokenizer_vocab_size"))

    uninterrupted = load_file(output_dir / "model.safetensors")
    resumed = load_file(resumed_dir / "model.safetensors")
    assert uninterrupted.keys() == resumed.keys()
    for name in uninterrupted:
        torch.testing.assert_close(resumed[name], uninterrupted[name], rtol=0, atol=1e-6, msg=name)
    assert (resumed_dir / "tokenizer.json").read_text() == (output_dir / "tokenizer.json").read_text()


def test_resuming_with_a_different_shape_is_an_error(pretrained, corpus, tmp_path):
    output_dir, _ = pretrained
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(output_dir / "checkpoint-3", resumed_dir / "checkpoint-3")
    argv = pretrain_argv(corpus, resumed_dir, "--max_steps", "6", "--resume_from_checkpoint", "last")
    argv[argv.index("--config_overrides") + 1] = "n_layer=2,n_embd=32,n_head=2,n_positions=64"
    with pytest.raises(ValueError, match=r"n_layer=2 \(checkpoint: 1\).*leave them out"):
        pretrain.main(argv)


def test_resuming_without_a_checkpoint_is_an_error(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        pretrain.main(pretrain_argv(corpus, tmp_path / "empty", "--resume_from_checkpoint", "last"))


def test_preset_cpu_small_gives_the_demos_settings_below_the_flags_given(tmp_path):
    base = ["--train_file", "books.txt", "--output_dir", str(tmp_path), "--preset", "cpu-small"]
    model_args, data_args, training_args = pretrain.parse_args(base)
    assert model_args.overrides == {"n_layer": 3, "n_embd": 96, "n_head": 4, "n_positions": 64}
    assert model_args.tokenizer_vocab_size == 3000 and data_args.block_size == 64
    assert (training_args.learning_rate, training_args.warmup_steps, training_args.max_steps) == (1e-3, 100, 600)
    assert training_args.per_device_train_batch_size == 32

    _, _, training_args = pretrain.parse_args([*base, "--learning_rate", "5e-4", "--max_steps", "50"])
    assert (training_args.learning_rate, training_args.max_steps, training_args.warmup_steps) == (5e-4, 50, 100)
    model_args, _, _ = pretrain.parse_args([*base, "--model_name_or_path", "gpt1-books"])  # no new-model shape
    assert model_args.overrides == {} and model_args.tokenizer_vocab_size == 40478
    with pytest.raises(SystemExit):
        pretrain.parse_args([*base[:-1], "cpu-large"])


def test_preset_cpu_books_gives_the_settings_measured_on_novels(tmp_path):
    base = ["--train_file", "books.txt", "--output_dir", str(tmp_path), "--preset", "cpu-books"]
    model_args, data_args, training_args = pretrain.parse_args(base)
    assert model_args.overrides == {"n_layer": 4, "n_embd": 128, "n_head": 4, "n_positions": 128}
    assert model_args.tokenizer_vocab_size == 8000 and data_args.block_size == 128
    assert (training_args.learning_rate, training_args.warmup_steps, training_args.max_steps) == (6e-4, 300, 1500)


def test_warm_up_longer_than_the_run_is_warned_about(corpus, tmp_path, caplog):
    pretrain.main(pretrain_argv(corpus, tmp_path / "short", "--max_steps", "2", "--do_eval", "False"))
    [warning] = [r.getMessage() for r in caplog.records if "--warmup_steps" in r.getMessage()]
    assert "--warmup_steps 2000 is not below the run's 2 optimisation steps" in warning
    assert "peaks at 2.5e-07 instead of --learning_rate 0.00025" in warning

    def warning_for(*flags, n_blocks=100):
        _, _, args = pretrain.parse_args(["--train_file", "t.txt", "--output_dir", str(tmp_path), *flags])
        return pretrain.warmup_warning(args, Dataset.from_dict({"input_ids": [[0]] * n_blocks}))

    # epochs: 100 blocks / batch 10 = 10 steps an epoch, 3 epochs = 30 steps
    assert "run's 30 optimisation steps" in warning_for("--per_device_train_batch_size", "10", "--warmup_steps", "30")
    assert warning_for("--per_device_train_batch_size", "10", "--warmup_steps", "29") is None
    assert warning_for("--max_steps", "50", "--warmup_steps", "0.5") is None  # a fraction of the run


@pytest.mark.parametrize(
    "extra, complaint",
    [
        (["--config_overrides", "n_layers=2"], "GPT1Config has no field 'n_layers'"),
        (["--resume_from_checkpoint", "last"], "no complete checkpoint-* folder in"),
        (["--block_size", "128"], "--block_size 128 exceeds the model's context (n_positions=64)"),
        (["--config_name", "."], "--config_name .: the folder has no config.json"),  # not the 117M defaults
        (["--attn_implementation", "fast"], "--attn_implementation 'fast' is not an attention backend; choose from"),
        (["--block_size", "0"], "--block_size must be at least 1, got 0"),  # 0 meant min(512, n_positions)
        (["--max_train_samples", "-1"], "--max_train_samples must be at least 1, got -1"),
        (["--train_file", "{tmp}/empty.txt"], "--train_file {tmp}/empty.txt: the file is empty"),
        (["--tokenizer_name", "{tmp}/empty"], "--tokenizer_name {tmp}/empty: the folder has no tokenizer.json or"),
    ],
)
def test_command_line_user_errors_are_one_line_and_exit_2(corpus, tmp_path, capsys, extra, complaint):
    argv = pretrain_argv(corpus, tmp_path / "out", "--max_steps", "1")
    if extra[0] == "--config_overrides":
        argv = without_option(argv, "--config_overrides")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit:
        pretrain.cli([*argv, *(part.format(tmp=tmp_path) for part in extra)])
    complaint = complaint.format(tmp=tmp_path)
    assert exit.value.code == 2
    # Errors found after the tokenizer or model is built follow their INFO log lines (shown when this test runs
    # first, before another test has changed the logging set-up): one error line, no traceback, no usage.
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if ": error: " in line]
    assert complaint in line and "Traceback" not in err and "usage:" not in err


def test_a_text_too_short_to_hold_out_validation_is_one_line(corpus, tmp_path, capsys):
    """One line of text and no validation file: datasets' own error named test_size and train_size."""
    (tmp_path / "one_line.txt").write_text("a single line of text\n")
    argv = without_option(pretrain_argv(corpus, tmp_path / "out", "--max_steps", "1"), "--validation_file")
    with pytest.raises(SystemExit) as exit:
        pretrain.cli([*argv, "--train_file", str(tmp_path / "one_line.txt")])
    assert exit.value.code == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert "the training text has 1 example(s) (lines of a .txt file): too few to hold 5% out" in line


@pytest.mark.parametrize(
    "backend, complaint",
    [
        ("flex_attention", "flex_attention cannot train with attention dropout (attn_pdrop=0.1)"),
        ("flash_attention_2", "--attn_implementation flash_attention_2: "),  # not installed here
    ],
)
def test_attention_backends_that_cannot_run_here_are_one_line(corpus, tmp_path, capsys, backend, complaint):
    if backend == "flash_attention_2" and importlib.util.find_spec("flash_attn") is not None:
        pytest.skip("flash-attn is installed here")
    argv = pretrain_argv(corpus, tmp_path / "out", "--max_steps", "1", "--attn_implementation", backend)
    with pytest.raises(SystemExit) as exit:
        pretrain.cli(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if ": error: " in line]
    assert complaint in line and "Traceback" not in err


def test_attn_implementation_chooses_the_attention_trained_with(corpus, tmp_path, monkeypatch):
    calls = spy_on_attention(monkeypatch, "block_causal")
    pretrain.main(pretrain_argv(corpus, tmp_path / "out", "--max_steps", "1", "--attn_implementation", "block_causal"))
    assert 0.1 in calls  # training steps: the tiny model's attention dropout


def test_unknown_flags_and_presets_are_one_line_too(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        pretrain.cli(["--train_file", "t.txt", "--output_dir", str(tmp_path), "--preset", "cpu-large"])
    assert exit.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "argument --preset: invalid choice: 'cpu-large'" in line


def test_a_byte_order_mark_is_not_read_as_text(tmp_path):
    (tmp_path / "book.txt").write_text("\ufeffThe first line.\nThe second line.\n", encoding="utf-8")
    data_args = pretrain.DataArguments(train_file=str(tmp_path / "book.txt"), validation_split_percentage=50)
    raw = pretrain.load_raw_data(data_args, cache_dir=str(tmp_path / "cache"))
    assert list(raw["train"]["text"]) == ["The first line.\n"]  # keep_linebreaks


def test_validation_is_held_out_when_there_is_no_validation_file():
    texts = Dataset.from_dict({"text": [f"line {i}" for i in range(200)]})
    split = pretrain.hold_out_validation(texts, 5)
    # A Dataset keeps its text contiguous: the last 5% is the validation text.
    assert split["validation"]["text"] == [f"line {i}" for i in range(190, 200)]
    assert split["train"]["text"] == [f"line {i}" for i in range(190)]
    # A stream has no length: 5 of every 100 examples.
    stream = pretrain.hold_out_validation(texts.to_iterable_dataset(), 5)
    held_out = [example["text"] for example in stream["validation"]]
    assert held_out == [f"line {i}" for i in (*range(5), *range(100, 105))]
    assert len(list(stream["train"])) == 190 and not set(held_out) & {e["text"] for e in stream["train"]}


def test_config_overrides_get_the_field_types():
    parsed = pretrain.parse_config_overrides("n_layer=4, n_embd=256,resid_pdrop=0,afn=relu,n_inner=None")
    assert parsed == {"n_layer": 4, "n_embd": 256, "resid_pdrop": 0.0, "afn": "relu", "n_inner": None}
    assert isinstance(parsed["resid_pdrop"], float)
    assert pretrain.parse_config_overrides("n_inner=512,tie_word_embeddings=false") == {
        "n_inner": 512,
        "tie_word_embeddings": False,
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ("n_layers=4", "has no field 'n_layers'"),
        ("n_layer=4.5", "n_layer='4.5' is not an integer"),
        ("n_layer", "expected key=value"),
        ("use_cache=maybe", "not true/false"),
    ],
)
def test_bad_config_overrides_fail_before_training(overrides, message, corpus, tmp_path):
    with pytest.raises(ValueError, match=message):
        pretrain.main(pretrain_argv(corpus, tmp_path / "out", "--max_steps", "1") + ["--config_overrides", overrides])
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_pretrain_rejects_streaming_without_max_steps(corpus, tmp_path):
    with pytest.raises(ValueError, match="--streaming needs --max_steps"):
        pretrain.main(pretrain_argv(corpus, tmp_path / "out", "--streaming"))


def test_streaming_pretraining_runs_max_steps(pretrained, corpus, tmp_path):
    output_dir, _ = pretrained
    results = pretrain.main(
        pretrain_argv(
            corpus,
            tmp_path / "stream",
            "--streaming",
            "--max_steps",
            "2",
            "--tokenizer_name",
            str(output_dir),
            "--max_eval_samples",
            "4",
        )
    )
    assert read_json(tmp_path / "stream" / "trainer_state.json")["global_step"] == 2
    assert results["eval_perplexity"] == pytest.approx(math.exp(results["eval_loss"]))


def test_continued_pretraining_grows_the_embeddings_to_a_larger_tokenizer(pretrained, corpus, tmp_path):
    """New rows are drawn N(0, initializer_range) as in `add_special_tokens`, the output layer stays tied, and the
    config takes the new tokenizer's special ids."""
    output_dir, _ = pretrained
    old_vocab = AutoModelForCausalLM.from_pretrained(output_dir).config.vocab_size
    bigger = tmp_path / "bigger-tokenizer"
    rng = random.Random(3)  # made-up words on top of the corpus, for more merges than the corpus allows
    texts = (corpus / "train.txt").read_text().splitlines() + [
        " ".join("".join(rng.choice("abcdefghij") for _ in range(6)) for _ in range(8)) for _ in range(200)
    ]
    train_gpt1_tokenizer(iter(texts), vocab_size=old_vocab + 60, min_frequency=1, show_progress=False).save_pretrained(
        bigger
    )
    tokenizer = AutoTokenizer.from_pretrained(bigger)
    assert len(tokenizer) > old_vocab
    argv = pretrain_argv(
        corpus,
        tmp_path / "continued",
        "--model_name_or_path",
        str(output_dir),
        "--tokenizer_name",
        str(bigger),
        "--max_steps",
        "1",
    )
    del argv[argv.index("--config_overrides") : argv.index("--config_overrides") + 2]  # the model has its shape
    pretrain.main(argv)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "continued")
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.extract_token_id == tokenizer.extract_token_id
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    new_rows = model.transformer.wte.weight[old_vocab:]
    assert new_rows.std().item() == pytest.approx(model.config.initializer_range, rel=0.25)


# ---------------------------------------------------------------------------------------------------------
# Fine-tuning: data in the official formats


def write_glue(folder: Path, text_columns, label_column: str, labels, sizes=None) -> Path:
    """A GLUE task folder: `sizes` maps file names to row counts (test files get no label column); `labels` are the
    label values as written, None for STS-B's float scores."""
    sizes = sizes or {"train.tsv": 16, "dev.tsv": 8, "test.tsv": 6}
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(2)
    for name, size in sizes.items():
        labelled = not name.startswith("test")
        rows = ["\t".join(["index", *text_columns] + [label_column] * labelled)]
        for i in range(size):
            label = f"{rng.uniform(0, 5):.3f}" if labels is None else rng.choice(labels)
            rows.append("\t".join([str(i)] + [sentence(rng) for _ in text_columns] + [label] * labelled))
        (folder / name).write_text("\n".join(rows) + "\n")
    return folder


def write_glue_rte(folder: Path, text_columns=("sentence1", "sentence2")) -> Path:
    return write_glue(folder, text_columns, "label", ["entailment", "not_entailment"])


def write_story_cloze(folder: Path, n_validation: int = 390, n_test: int = 6) -> Path:
    """The spring-2016 Story Cloze CSVs; the test file without AnswerRightEnding (unlabelled). The validation file
    needs more than the 374 stories that the released split holds out."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(3)
    story = [
        "InputStoryid",
        "InputSentence1",
        "InputSentence2",
        "InputSentence3",
        "InputSentence4",
        "RandomFifthSentenceQuiz1",
        "RandomFifthSentenceQuiz2",
    ]
    files = (
        ("cloze_test_val__spring2016 - cloze_test_ALL_val.csv", n_validation, True),
        ("cloze_test_test__spring2016 - cloze_test_ALL_test.csv", n_test, False),
    )
    for name, size, labelled in files:
        with open(folder / name, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(story + ["AnswerRightEnding"] * labelled)
            for i in range(size):
                writer.writerow([f"story-{i}"] + [sentence(rng) for _ in range(6)] + [rng.choice("12")] * labelled)
    return folder


def write_race(folder: Path) -> Path:
    """RACE: one JSON passage file (named *.txt, as distributed) per level and split, two questions each."""
    rng = random.Random(4)
    for split in ("train", "dev", "test"):
        for level in ("high", "middle"):
            (folder / split / level).mkdir(parents=True, exist_ok=True)
            for n in range(2):
                passage = {
                    "article": " ".join(sentence(rng) for _ in range(4)),
                    "questions": [sentence(rng) for _ in range(2)],
                    "options": [[sentence(rng, 2, 4) for _ in range(4)] for _ in range(2)],
                    "answers": [rng.choice("ABCD") for _ in range(2)],
                    "id": f"{level}{n}.txt",
                }
                (folder / split / level / f"{n}.txt").write_text(json.dumps(passage))
    return folder


def finetune_argv(task: str, data_dir: Path, model: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--task",
        task,
        "--data_dir",
        str(data_dir),
        "--model_name_or_path",
        str(model),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "3",
        "--seed",
        "0",
        *COMMON,
        *extra,
    ]


def predictions(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


def test_finetune_glue_tsv_task(pretrained, tmp_path):
    model_dir, _ = pretrained
    output_dir = tmp_path / "rte"
    results = finetune.main(finetune_argv("rte", write_glue_rte(tmp_path / "RTE"), model_dir, output_dir))

    for name in (
        "all_results.json",
        "eval_results.json",
        "train_results.json",
        "loss_curve.png",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ):
        assert (output_dir / name).is_file(), name
    eval_results = read_json(output_dir / "eval_results.json")
    assert 0 <= eval_results["eval_accuracy"] <= 1 and eval_results["eval_samples"] == 8
    assert read_json(output_dir / "all_results.json")["eval_accuracy"] == results["eval_accuracy"]
    # The test file has no labels: one prediction (a label name) per example, GLUE's submission layout.
    rows = predictions(output_dir / "predict_results_rte.txt")
    assert rows[0] == ["index", "prediction"] and len(rows) == 7
    assert {label for _, label in rows[1:]} <= {"entailment", "not_entailment"}
    # The auxiliary LM loss is on (0.5): both parts are logged and the total combines them.
    logged = [entry for entry in read_json(output_dir / "trainer_state.json")["log_history"] if "task_loss" in entry]
    assert logged and all(e["loss"] == pytest.approx(e["task_loss"] + 0.5 * e["lm_loss"], rel=1e-4) for e in logged)
    # The paper's fine-tuning lr is the default.
    assert max(e["learning_rate"] for e in logged) <= FINETUNING_DEFAULTS["learning_rate"]

    model = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert isinstance(model, GPT1ForSequenceClassification)
    assert model.config.id2label == {0: "entailment", 1: "not_entailment"}
    classifier = pipeline("text-classification", model=str(output_dir), device="cpu")
    assert classifier({"text": "the cat sat on the mat.", "text_pair": "a cat sat."})["label"] in model.config.label2id


def test_finetune_similarity_regression(pretrained, tmp_path):
    """STS-B: both orderings of a pair through GPT1ForSimilarity, one score (MSE), scores as predictions."""
    output_dir = tmp_path / "stsb"
    data_dir = write_glue(tmp_path / "STS-B", ("sentence1", "sentence2"), "score", labels=None)
    results = finetune.main(finetune_argv("stsb", data_dir, pretrained[0], output_dir, "--aux_lm_coef", "0.25"))
    assert {"eval_pearson", "eval_spearmanr"} <= set(read_json(output_dir / "eval_results.json"))
    assert math.isfinite(results["eval_loss"])
    scores = [float(score) for _, score in predictions(output_dir / "predict_results_stsb.txt")[1:]]
    assert len(scores) == 6 and len(set(scores)) > 1
    model = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    assert model.config.architectures == ["GPT1ForSimilarity"]


def test_finetune_mnli_evaluates_and_predicts_matched_and_mismatched(pretrained, tmp_path):
    files = {
        "train.tsv": 12,
        "dev_matched.tsv": 6,
        "dev_mismatched.tsv": 5,
        "test_matched.tsv": 4,
        "test_mismatched.tsv": 3,
    }
    labels = ["entailment", "neutral", "contradiction"]
    data_dir = write_glue(tmp_path / "MNLI", ("sentence1", "sentence2"), "gold_label", labels, sizes=files)
    output_dir = tmp_path / "mnli"
    finetune.main(finetune_argv("mnli", data_dir, pretrained[0], output_dir))
    eval_results = read_json(output_dir / "eval_results.json")
    assert (eval_results["eval_samples"], eval_results["eval_mismatched_samples"]) == (6, 5)
    assert {"eval_accuracy", "eval_mismatched_accuracy"} <= set(eval_results)
    assert len(predictions(output_dir / "predict_results_mnli.txt")) == 5
    assert len(predictions(output_dir / "predict_results_mnli_mismatched.txt")) == 4


def test_finetune_story_cloze_csv(pretrained, tmp_path):
    model_dir, _ = pretrained
    output_dir = tmp_path / "rocstories"
    argv = finetune_argv(
        "rocstories",
        write_story_cloze(tmp_path / "cloze"),
        model_dir,
        output_dir,
        "--max_train_samples",
        "12",
        "--max_eval_samples",
        "8",
        "--num_transferred_layers",
        "0",
    )
    results = finetune.main(argv)
    assert "eval_accuracy" in read_json(output_dir / "eval_results.json")
    assert results["train_samples"] == 12
    rows = predictions(output_dir / "predict_results_rocstories.txt")
    assert len(rows) == 7 and {label for _, label in rows[1:]} <= {"1", "2"}
    model = AutoModelForMultipleChoice.from_pretrained(output_dir)
    assert isinstance(model, GPT1ForMultipleChoice) and model.config.id2label == {0: "1", 1: "2"}


def test_finetune_race_json_without_auxiliary_loss(pretrained, tmp_path):
    model_dir, _ = pretrained
    output_dir = tmp_path / "race"
    results = finetune.main(
        finetune_argv(
            "race",
            write_race(tmp_path / "RACE"),
            model_dir,
            output_dir,
            "--aux_lm_coef",
            "0",
            "--max_seq_length",
            "48",
        )
    )
    assert read_json(output_dir / "eval_results.json")["eval_samples"] == 8
    # RACE's test passages have answers: scored, and predicted.
    assert 0 <= read_json(output_dir / "test_results.json")["test_accuracy"] <= 1
    assert results["test_accuracy"] == read_json(output_dir / "all_results.json")["test_accuracy"]
    assert len(predictions(output_dir / "predict_results_race.txt")) == 9
    history = read_json(output_dir / "trainer_state.json")["log_history"]
    assert not any("lm_loss" in entry for entry in history)
    model = AutoModelForMultipleChoice.from_pretrained(output_dir)
    assert model.config.id2label == {0: "A", 1: "B", 2: "C", 3: "D"}


# ---------------------------------------------------------------------------------------------------------
# Fine-tuning: bad input fails before training


@pytest.fixture
def no_training(monkeypatch):
    """Make building the Trainer an error, so a test sees whether a run got that far."""

    def trainer(*args, **kwargs):
        raise AssertionError("the run reached the Trainer")

    monkeypatch.setattr(finetune, "Trainer", trainer)


def test_missing_data_file_fails_before_training(no_training, pretrained, tmp_path):
    data_dir = write_glue_rte(tmp_path / "RTE")
    (data_dir / "train.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="train.tsv"):
        finetune.main(finetune_argv("rte", data_dir, pretrained[0], tmp_path / "out"))


def test_tsv_with_wrong_columns_fails_before_training(no_training, pretrained, tmp_path):
    data_dir = write_glue_rte(tmp_path / "RTE", text_columns=("premise", "hypothesis"))
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['sentence1', 'sentence2'\]"):
        finetune.main(finetune_argv("rte", data_dir, pretrained[0], tmp_path / "out"))


def test_unknown_task_fails_before_training(no_training, pretrained, tmp_path):
    with pytest.raises(ValueError, match="unknown task 'glue'.*rte"):
        finetune.main(finetune_argv("glue", tmp_path, pretrained[0], tmp_path / "out"))


def test_sequence_longer_than_the_context_fails_before_training(no_training, pretrained, tmp_path):
    data_dir = write_glue_rte(tmp_path / "RTE")
    with pytest.raises(ValueError, match="exceeds the model's context"):
        finetune.main(finetune_argv("rte", data_dir, pretrained[0], tmp_path / "out", "--max_seq_length", "65"))


# ---------------------------------------------------------------------------------------------------------
# Shared helpers


def test_paper_defaults_give_way_to_command_line_flags(tmp_path):
    parser = HfArgumentParser(TrainingArguments)
    (defaults,) = parse_script_args(parser, ["--output_dir", str(tmp_path), "--use_cpu"], FINETUNING_DEFAULTS)
    for name, value in FINETUNING_DEFAULTS.items():
        assert getattr(defaults, name) == value, name
    assert defaults.do_train and defaults.do_eval and not defaults.bf16 and not defaults.fp16

    parser = HfArgumentParser(TrainingArguments)
    argv = ["--output_dir", str(tmp_path), "--use_cpu", "--learning_rate", "1e-3", "--do_eval", "False"]
    (overridden,) = parse_script_args(parser, argv, FINETUNING_DEFAULTS)
    assert overridden.learning_rate == 1e-3 and not overridden.do_eval
    assert overridden.num_train_epochs == FINETUNING_DEFAULTS["num_train_epochs"]


def test_loss_curve_and_summary_from_a_log_history(tmp_path):
    history = [
        {"loss": 2.0, "task_loss": 0.7, "lm_loss": 2.6, "step": 1},
        {"loss": 1.5, "task_loss": 0.5, "lm_loss": 2.0, "step": 2},
        {"eval_loss": 1.7, "eval_accuracy": 0.6, "step": 2},
        {"train_runtime": 3.0, "train_loss": 1.75, "step": 2},
    ]
    series = loss_series(history)
    assert series == {
        "loss": ([1, 2], [2.0, 1.5]),
        "task_loss": ([1, 2], [0.7, 0.5]),
        "lm_loss": ([1, 2], [2.6, 2.0]),
        "eval_loss": ([2], [1.7]),
    }
    path = plot_loss_curve(history, tmp_path / "plots" / "loss_curve.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    assert plot_loss_curve([{"train_runtime": 1.0, "step": 0}], tmp_path / "empty.png") is None
    table = format_summary({"task": "rte", "eval_accuracy": 0.612345, "skipped": None}, title="GPT-1 rte")
    assert "| eval_accuracy | 0.6123" in table and "skipped" not in table
    assert len({len(line) for line in table.splitlines()}) == 1  # a rectangle


def test_mixed_precision_follows_the_device_unless_a_flag_decides(monkeypatch):
    monkeypatch.setattr("modeling_gpt1.reporting.device_precision", lambda: {"bf16": True})  # a GPU with bf16

    def parse(*flags):
        parser = HfArgumentParser(TrainingArguments)
        argv = ["--output_dir", "out", *flags]
        set_script_defaults(parser, argv, {})
        args, _ = parser.parse_known_args(argv)  # the values, without TrainingArguments' hardware checks
        return args.bf16, args.fp16

    assert parse() == (True, False)
    assert parse("--use_cpu") == (False, False)
    assert parse("--bf16", "False") == (False, False)
    assert parse("--fp16") == (False, True)
