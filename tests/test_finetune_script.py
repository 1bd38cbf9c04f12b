"""`examples/finetune.py` as a program: evaluation or prediction alone, and user errors on its command line (one line
on stderr, exit status 2, no traceback)."""

import importlib.util
import json

import pytest
from finetune_helpers import FINETUNE, finetune_argv, run_finetune, spy_on_attention, write_model, write_sst2


def load_finetune():
    spec = importlib.util.spec_from_file_location("gpt1_example_finetune_script", FINETUNE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


finetune = load_finetune()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finetune_script")
    return write_model(folder / "model"), write_sst2(folder / "sst2")


def test_evaluation_and_prediction_only_write_results_and_no_model_card(files, tmp_path):
    """`--do_train False` evaluates and predicts with the given model, writes the results, and writes no model card
    (no model was saved; the card's writer used to fail on the missing config.json)."""
    model, data = files
    output_dir = tmp_path / "eval_only"
    results = finetune.main(finetune_argv(data, model, output_dir, "--do_train", "False"))
    assert "eval_accuracy" in results and "eval_loss" in results
    assert json.loads((output_dir / "eval_results.json").read_text())["eval_accuracy"] == results["eval_accuracy"]
    assert (output_dir / "predict_results_sst2.txt").read_text().splitlines()[0] == "index\tprediction"
    assert not (output_dir / "README.md").exists() and not (output_dir / "model.safetensors").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (["--task", "glue"], "unknown task 'glue'"),
        (["--data_dir", "{tmp}/nowhere"], "data_dir {tmp}/nowhere is not a directory"),
        (["--max_seq_length", "65"], "--max_seq_length 65 exceeds the model's context (n_positions=64)"),
        (["--model_name_or_path", "{tmp}/no_model"], "--model_name_or_path {tmp}/no_model: no such folder"),
        (["--aux_lm_coef", "-1"], "--aux_lm_coef must be a finite number >= 0, got -1.0"),
        (["--aux_lm_coef", "inf"], "--aux_lm_coef must be a finite number >= 0, got inf"),  # trained to NaN
        (["--aux_lm_coef", "nan"], "--aux_lm_coef must be a finite number >= 0, got nan"),  # turned it off
        (["--max_seq_length", "0"], "--max_seq_length must be at least 1, got 0"),  # meant n_positions
        (["--max_train_samples", "0"], "--max_train_samples must be at least 1, got 0"),
        (["--max_eval_samples", "-1"], "--max_eval_samples must be at least 1, got -1"),
        (["--label_smoothing_factor", "1.5"], "--label_smoothing_factor must be in [0, 1), got 1.5"),
        (["--per_device_train_batch_size", "0"], "--per_device_train_batch_size must be at least 1, got 0"),
        (["--gradient_accumulation_steps", "0"], "--gradient_accumulation_steps must be at least 1, got 0"),
        (["--resume_from_checkpoint", "last"], "no complete checkpoint-* folder in {tmp}/out"),
        (["--truncation", "middle"], "argument --truncation: invalid choice: 'middle'"),
        (["--no_such_flag", "1"], "arguments are not used by the HfArgumentParser: ['--no_such_flag', '1']"),
    ],
)
def test_user_errors_are_one_line_and_status_2(files, tmp_path, capsys, change, message):
    model, data = files
    argv = finetune_argv(data, model, tmp_path / "out") + [part.format(tmp=tmp_path) for part in change]
    with pytest.raises(SystemExit) as exit_info:
        finetune.main(argv, exit_on_user_error=True)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]
    assert message.format(tmp=tmp_path) in lines[0]


def test_command_line_user_error_exits_2_without_traceback(files, tmp_path):
    model, data = files
    (data.parent / "broken").mkdir()
    for name in ("train.tsv", "dev.tsv"):
        (data.parent / "broken" / name).write_text("text\tlabel\nfine\t1\n")
    result = run_finetune(finetune_argv(data.parent / "broken", model, tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert last.startswith("finetune.py: error: ") and "lacks the column(s) ['sentence']" in last


def test_a_new_task_head_gives_one_line_and_no_load_report(files, caplog):
    """From a language model's folder the classifier is new and lm_head unused: expected, so no report table."""
    from transformers.testing_utils import CaptureLogger
    from transformers.utils import logging as transformers_logging

    from modeling_gpt1 import GPT1ForSequenceClassification

    model_folder, _ = files
    report_logger = transformers_logging.get_logger("transformers.modeling_utils")
    with CaptureLogger(report_logger) as plain:
        GPT1ForSequenceClassification.from_pretrained(model_folder, num_labels=2)
    assert "LOAD REPORT" in plain.out  # what Transformers shows on its own
    with CaptureLogger(report_logger) as captured, caplog.at_level("INFO", logger=finetune.logger.name):
        finetune.from_pretrained_with_new_head(GPT1ForSequenceClassification, model_folder, num_labels=2)
    assert "LOAD REPORT" not in captured.out
    assert "New task head initialised: classifier.bias, classifier.weight" in caplog.text


def test_an_unexpectedly_missing_weight_still_shows_the_load_report(files, tmp_path):
    from safetensors.torch import load_file, save_file
    from transformers.testing_utils import CaptureLogger
    from transformers.utils import logging as transformers_logging

    from modeling_gpt1 import GPT1ForSequenceClassification

    model_folder, _ = files
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for path in model_folder.iterdir():
        if path.is_file():
            (damaged / path.name).write_bytes(path.read_bytes())
    weights = load_file(damaged / "model.safetensors")
    weights = {key: value for key, value in weights.items() if ".h.1.mlp.c_fc." not in key}
    save_file(weights, damaged / "model.safetensors", metadata={"format": "pt"})
    with CaptureLogger(transformers_logging.get_logger("transformers.modeling_utils")) as captured:
        finetune.from_pretrained_with_new_head(GPT1ForSequenceClassification, damaged, num_labels=2)
    assert "LOAD REPORT" in captured.out and "h.1.mlp.c_fc" in captured.out


def test_a_head_of_another_size_is_named_in_one_line_unless_ignored(files, tmp_path, capsys):
    """A checkpoint fine-tuned for a task with other labels: Transformers raised a RuntimeError pointing to a load
    report that the script had held back; now one line names the weights, and --ignore_mismatched_sizes starts them
    afresh."""
    from transformers import AutoTokenizer

    from modeling_gpt1 import GPT1Config, GPT1ForSequenceClassification

    model, data = files
    three_labels = tmp_path / "three_labels"
    GPT1ForSequenceClassification(GPT1Config.from_pretrained(model, num_labels=3)).save_pretrained(three_labels)
    AutoTokenizer.from_pretrained(model).save_pretrained(three_labels)
    argv = finetune_argv(data, three_labels, tmp_path / "out", "--max_steps", "1", "--do_predict", "False")
    with pytest.raises(SystemExit) as exit_info:
        finetune.main(argv, exit_on_user_error=True)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err  # after Transformers' own warning that the saved id2label has 3 labels
    [line] = [line for line in err.splitlines() if ": error: " in line]
    assert "Traceback" not in err
    assert f"--model_name_or_path {three_labels}: classifier.bias (3,) (the head needs (2,))" in line
    assert "pass --ignore_mismatched_sizes" in line
    results = finetune.main([*argv, "--ignore_mismatched_sizes", "True"])
    assert "eval_accuracy" in results


def test_label_smoothing_keeps_the_auxiliary_lm_loss(files, tmp_path):
    """Trainer's label smoother took the labels out of the batch and smoothed the logits alone: the auxiliary LM
    term fell out of the loss (and task_loss / lm_loss out of the logs) without a word."""
    model, data = files
    output_dir = tmp_path / "out"
    argv = finetune_argv(data, model, output_dir, "--max_steps", "2", "--do_predict", "False")
    finetune.main([*argv, "--label_smoothing_factor", "0.1"])
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    logged = [entry for entry in history if "lm_loss" in entry]
    assert len(logged) == 2
    assert all(
        entry["loss"] == pytest.approx(entry["task_loss"] + 0.5 * entry["lm_loss"], rel=1e-3) for entry in logged
    )


def test_label_smoothing_of_a_regression_task_is_refused():
    from modeling_gpt1.tasks import get_task

    finetune.check_label_smoothing(0.1, get_task("sst2"))
    with pytest.raises(ValueError, match="--label_smoothing_factor smooths class labels; stsb is a regression task"):
        finetune.check_label_smoothing(0.1, get_task("stsb"))


def scratch_argv(files, output_dir, *extra):
    model, data = files
    argv = finetune_argv(data, model, output_dir, "--max_steps", "2", "--do_predict", "False", *extra)
    at = argv.index("--model_name_or_path")
    return argv[:at] + argv[at + 2 :]


def test_training_from_scratch_needs_no_pre_trained_model(files, tmp_path):
    """The paper's "no pre-training" row: --tokenizer_name and --config_overrides instead of a model folder."""
    from safetensors.torch import load_file

    model, _ = files
    output_dir = tmp_path / "scratch"
    overrides = "n_layer=1,n_embd=16,n_head=2,n_positions=32"
    results = finetune.main(
        scratch_argv(files, output_dir, "--tokenizer_name", str(model), "--config_overrides", overrides)
    )
    assert "eval_accuracy" in results
    config = json.loads((output_dir / "config.json").read_text())
    assert (config["n_layer"], config["n_embd"], config["n_positions"]) == (1, 16, 32)
    pre_trained = load_file(model / "model.safetensors")
    trained = load_file(output_dir / "model.safetensors")
    assert trained["transformer.h.0.mlp.c_fc.weight"].shape == (16, 64)  # the feed-forward 4 * n_embd wide
    assert trained["transformer.wte.weight"].shape[1] == 16 != pre_trained["transformer.wte.weight"].shape[1]


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "give --model_name_or_path (a pre-trained model), or --tokenizer_name with --config_name"),
        (["--config_overrides", "n_layer=1"], "give --model_name_or_path"),
        (["--tokenizer_name", "{model}", "--config_overrides", "n_layerz=1"], "GPT1Config has no field 'n_layerz'"),
        (
            ["--tokenizer_name", "{model}", "--config_overrides", "n_layer=1", "--attn_implementation", "x"],
            "'x' is not",
        ),
        (
            [
                "--tokenizer_name",
                "{model}",
                "--config_overrides",
                "n_layer=1",
                "--attn_implementation",
                "flex_attention",
            ],
            "cannot train with attention dropout",
        ),
    ],
)
def test_training_from_scratch_user_errors(files, tmp_path, capsys, extra, message):
    model, _ = files
    extra = [value.replace("{model}", str(model)) for value in extra]
    with pytest.raises(SystemExit) as exit:
        finetune.main(scratch_argv(files, tmp_path / "out", *extra), exit_on_user_error=True)
    assert exit.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_config_overrides_with_a_pre_trained_model_is_an_error(files, tmp_path, capsys):
    model, data = files
    with pytest.raises(SystemExit) as exit:
        finetune.main(
            finetune_argv(data, model, tmp_path / "out", "--config_overrides", "n_layer=1"), exit_on_user_error=True
        )
    assert exit.value.code == 2
    assert "drop them, or --model_name_or_path" in capsys.readouterr().err


def test_attn_implementation_chooses_the_attention_fine_tuned_with(files, tmp_path, monkeypatch):
    model, _ = files
    calls = spy_on_attention(monkeypatch, "block_causal")
    argv = scratch_argv(
        files, tmp_path / "out", "--tokenizer_name", str(model), "--attn_implementation", "block_causal"
    )
    finetune.main([*argv, "--config_overrides", "n_layer=1,n_embd=16,n_head=2,n_positions=32"])
    assert 0.1 in calls  # training steps: the model's attention dropout


@pytest.mark.parametrize(
    "flag, complaint",
    [
        ("--tokenizer_name", "the folder has no tokenizer.json or tokenizer_config.json"),
        ("--model_name_or_path", "the folder has no config.json"),
    ],
)
def test_a_folder_without_the_files_it_is_read_from_is_one_line(files, tmp_path, capsys, flag, complaint):
    """An existing folder without a tokenizer was reported as a missing sentencepiece or tiktoken."""
    model, data = files
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = finetune_argv(data, model, tmp_path / "out") + [flag, str(empty)]  # the later flag wins
    with pytest.raises(SystemExit) as exit_info:
        finetune.main(argv, exit_on_user_error=True)
    assert exit_info.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert f"{flag} {empty}: {complaint}" in line
