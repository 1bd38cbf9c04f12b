"""The bad-input table of the input transformations, collators, tokenizer, task readers, conversion, auxiliary wrapper
and script helpers: one row per bad input, each with the exception a user gets and a part of its message that names
the problem and the argument or file. `docs/bad_inputs.md` publishes the same table (a test checks they agree); the
model's own input checks are the model tests'.

    python tests/test_bad_inputs.py           # prints the table's Markdown rows, with the messages as raised
    python tests/test_bad_inputs.py --write   # writes them into docs/bad_inputs.md
"""

import contextlib
import io
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch


sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_convert import release_arrays, write_release  # noqa: E402
from transformers import EvalPrediction  # noqa: E402

from modeling_gpt1 import (  # noqa: E402
    GPT1Config,
    GPT1DataCollator,
    GPT1ForSequenceClassification,
    GPT1LMHeadModel,
    GPT1Tokenizer,
    GPT1WithAuxiliaryLM,
    InputTransform,
    SpecialTokenIds,
    tokenization_gpt1,  # noqa: E402
    transforms,
)
from modeling_gpt1 import convert as conversion  # noqa: E402
from modeling_gpt1.reporting import resolve_checkpoint  # noqa: E402
from modeling_gpt1.tasks import load_task_dataset, metric_fn  # noqa: E402


DOC = Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"
S = SpecialTokenIds(start=1, delimiter=2, extract=3, pad=0)
VOCAB = {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "a</w>": 4, "b</w>": 5, "ab</w>": 6}
STSB = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"


class Env:
    """What a row may need: its own folder, a tiny GPT-1 tokenizer, file writers."""

    def __init__(self, tmp: Path, tokenizer: GPT1Tokenizer):
        self.tmp, self.tokenizer = tmp, tokenizer

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def release(self, change: Callable[[Path], None] | None = None) -> Path:
        folder = write_release(self.tmp / "release", release_arrays(1, 16, 8, 20))
        if change is not None:
            change(folder)
        return folder

    def transform(self, family="classification", fields=("sentence",), **kwargs):
        return InputTransform(self.tokenizer, family, list(fields), label_field=None, **kwargs)


@dataclass(frozen=True)
class Case:
    input: str  # the bad input, as the docs' table shows it
    call: Callable[[Env], object]
    error: type[BaseException]
    names: str  # part of the message naming the problem and the argument or file; {tmp} is the row's folder


def _collate(features, **kwargs):
    return GPT1DataCollator(pad_token_id=0, **kwargs)(features)


def _truncate_shard(folder: Path):
    shard = folder / "params_3.npy"
    shard.write_bytes(shard.read_bytes()[:-20])


def _head():
    config = GPT1Config(n_layer=1, n_embd=16, n_head=2, vocab_size=30, n_positions=16, num_labels=2)
    return GPT1ForSequenceClassification(config)


def _aux_with_bad_lm_labels(env):
    wrapper = GPT1WithAuxiliaryLM(_head())
    ids = torch.tensor([[26, 5, 6, 28]])
    return wrapper(input_ids=ids, labels=torch.tensor([1]), lm_labels=torch.tensor([[5, 6]]))


def _finetune(env, *change):
    """`examples/finetune.py` as the command line runs it, on a tiny model and SST-2 files made once."""
    from finetune_helpers import finetune_argv, write_model, write_sst2
    from test_finetune_script import finetune

    if not _FINETUNE_FILES:
        folder = Path(tempfile.mkdtemp(prefix="gpt1_bad_inputs_"))
        with contextlib.redirect_stderr(io.StringIO()):  # the save's progress bar is no part of the row's output
            _FINETUNE_FILES.extend([write_model(folder / "model"), write_sst2(folder / "sst2")])
    model, data = _FINETUNE_FILES
    argv = finetune_argv(data, model, env.tmp / "out") + [part.format(tmp=env.tmp) for part in change]
    return finetune.main(argv, exit_on_user_error=True)


_FINETUNE_FILES: list[Path] = []


class _Args:
    def __init__(self, output_dir, resume_from_checkpoint):
        self.output_dir, self.resume_from_checkpoint = str(output_dir), str(resume_from_checkpoint)


CASES = [
    # --- input transformations (token ids) ---
    Case(
        '`classification("some text", ...)`: text instead of token ids',
        lambda e: transforms.classification("some text", S, 8),
        TypeError,
        "take token ids, not text",
    ),
    Case(
        '`truncation="middle"`',
        lambda e: transforms.classification([5], S, 8, truncation="middle"),
        ValueError,
        "truncation must be one of",
    ),
    Case(
        "`max_length=2` for an entailment layout (3 special tokens)",
        lambda e: transforms.entailment([5], [6], S, 2),
        ValueError,
        "max_length=2 cannot hold the 3 special tokens",
    ),
    Case(
        '`max_length="64"` (a string)',
        lambda e: transforms.classification([5], S, "64"),
        TypeError,
        "max_length must be an int, got str '64'",
    ),
    Case(
        "`multiple_choice(context, [])`: no answers",
        lambda e: transforms.multiple_choice([5], [], S, 8),
        ValueError,
        "multiple_choice needs at least one answer",
    ),
    Case(
        "token ids of a segment holding the `_classify_` id",
        lambda e: transforms.classification([5, 3, 6], S, 8),
        ValueError,
        "segment 0 holds the special token(s) _classify_ (id 3)",
    ),
    Case(
        "token ids of a second segment holding the `_start_` id",
        lambda e: transforms.entailment([5], [1, 6], S, 8),
        ValueError,
        "segment 1 holds the special token(s) _start_ (id 1)",
    ),
    Case(
        "`SpecialTokenIds.from_config` of a config without the special-token ids",
        lambda e: SpecialTokenIds.from_config(object()),
        ValueError,
        "config has no _start_ (start_token_id), _delimiter_ (delimiter_token_id), _classify_ (extract_token_id), <pad> (pad_token_id)",
    ),
    # --- InputTransform (datasets columns) ---
    Case(
        '`InputTransform(tokenizer, "qa", ...)`: unknown family',
        lambda e: e.transform("qa"),
        ValueError,
        "family must be one of",
    ),
    Case(
        '`InputTransform(..., truncation="middle")`',
        lambda e: e.transform(truncation="middle"),
        ValueError,
        "truncation must be one of",
    ),
    Case(
        "entailment with one text field",
        lambda e: e.transform("entailment", ["premise"]),
        ValueError,
        "entailment takes 2 text field(s), got ['premise']",
    ),
    Case(
        "multiple choice without `answer_fields`",
        lambda e: e.transform("multiple_choice", ["context"]),
        ValueError,
        "multiple_choice needs text_fields (the context) and answer_fields",
    ),
    Case(
        "`answer_fields` for classification",
        lambda e: e.transform(answer_fields=["a"]),
        ValueError,
        "answer_fields is for multiple_choice only, not classification",
    ),
    Case(
        "a tokenizer without GPT-1's special tokens",
        lambda e: InputTransform(
            tokenization_gpt1.PreTrainedTokenizerFast(tokenizer_object=e.tokenizer.backend_tokenizer),
            "classification",
            "sentence",
        ),
        ValueError,
        "tokenizer has no _start_ (start_token_id)",
    ),
    Case(
        "a batch without the text column `sentence`",
        lambda e: e.transform()({"text": ["a"]}),
        ValueError,
        "columns ['sentence'] not in the data set (it has ['text'])",
    ),
    Case(
        "a text column holding `None`",
        lambda e: e.transform()({"sentence": ["a", None]}),
        TypeError,
        "text column 'sentence' must hold strings, got NoneType None",
    ),
    Case(
        "a text column holding numbers",
        lambda e: e.transform()({"sentence": [3.5]}),
        TypeError,
        "text column 'sentence' must hold strings, got float",
    ),
    Case(
        "a list-valued answer column holding strings",
        lambda e: e.transform("multiple_choice", ["context"], answer_fields="answers")(
            {"context": ["a"], "answers": ["b"]}
        ),
        TypeError,
        "answer column 'answers' must hold lists of answers, not strings",
    ),
    Case(
        "an answer column holding `None`",
        lambda e: e.transform("multiple_choice", ["context"], answer_fields=["a0", "a1"])(
            {"context": ["a"], "a0": ["b"], "a1": [None]}
        ),
        TypeError,
        "text column 'a1' must hold strings, got NoneType None",
    ),
    # --- GPT1DataCollator ---
    Case("an empty batch", lambda e: _collate([]), ValueError, "cannot collate an empty batch"),
    Case(
        "a feature without `input_ids`",
        lambda e: _collate([{"input_ids": [1]}, {"ids": [1]}]),
        ValueError,
        "feature 1 has no input_ids (keys: ['ids'])",
    ),
    Case(
        'token strings instead of ids (`["the", "cat"]`)',
        lambda e: _collate([{"input_ids": ["the", "cat"]}]),
        TypeError,
        "feature 0: input_ids must hold integer token ids, got str 'the'",
    ),
    Case(
        "a text string as `input_ids`",
        lambda e: _collate([{"input_ids": "the cat"}]),
        TypeError,
        "feature 0: input_ids must hold integer token ids, got str 't'",
    ),
    Case(
        "float ids",
        lambda e: _collate([{"input_ids": [1.0, 2.0]}]),
        TypeError,
        "feature 0: input_ids must hold integer token ids, got float 1.0",
    ),
    Case(
        "ids mixed with lists of ids in one feature",
        lambda e: _collate([{"input_ids": [[1, 2], 3]}]),
        TypeError,
        "feature 0: input_ids mixes token ids with lists of them",
    ),
    Case(
        "labels on later features only (the first has none)",
        lambda e: _collate([{"input_ids": [1]}, {"input_ids": [2], "labels": 1}]),
        ValueError,
        "features [0] of the batch have no labels but others have them",
    ),
    Case(
        "labels on the first feature only",
        lambda e: _collate([{"input_ids": [1], "labels": 0}, {"input_ids": [2]}]),
        ValueError,
        "features [1] of the batch have no labels but others have them",
    ),
    Case(
        "`labels: None` on one feature",
        lambda e: _collate([{"input_ids": [1], "labels": None}, {"input_ids": [2], "labels": 1}]),
        ValueError,
        "features [0] of the batch have no labels",
    ),
    Case(
        "`label` on some features, `labels` on others",
        lambda e: _collate([{"input_ids": [1], "label": 0}, {"input_ids": [2], "labels": 1}]),
        ValueError,
        "mixes features with 'labels' and with 'label'",
    ),
    Case(
        'label names instead of ids (`labels: "positive"`)',
        lambda e: _collate([{"input_ids": [1], "labels": "positive"}]),
        TypeError,
        "feature 0: 'labels' must be a class id, a score or a list of them, got str 'positive'",
    ),
    Case(
        "multi-label lists of different lengths",
        lambda e: _collate([{"input_ids": [1], "labels": [1, 0]}, {"input_ids": [2], "labels": [1]}]),
        ValueError,
        "the features' 'labels' differ in length ([1, 2])",
    ),
    Case(
        "single sequences mixed with lists of choices",
        lambda e: _collate([{"input_ids": [1, 2]}, {"input_ids": [[1], [2]]}]),
        ValueError,
        "mixes single sequences with lists of sequences (choices)",
    ),
    Case(
        "examples with 2 and 3 choices in one batch",
        lambda e: _collate([{"input_ids": [[1], [2]]}, {"input_ids": [[1], [2], [3]]}]),
        ValueError,
        "same number of choices, got [2, 3]",
    ),
    Case(
        "a sequence longer than `max_length`",
        lambda e: _collate([{"input_ids": [1] * 9}], max_length=8),
        ValueError,
        "a sequence of 9 tokens is longer than max_length=8",
    ),
    Case(
        '`pad_token_id="<pad>"`',
        lambda e: GPT1DataCollator(pad_token_id="<pad>"),
        TypeError,
        "pad_token_id must be an int, got '<pad>'",
    ),
    Case(
        "`max_length=0`",
        lambda e: GPT1DataCollator(pad_token_id=0, max_length=0),
        ValueError,
        "max_length must be a positive int or None, got 0",
    ),
    Case(
        "`pad_to_multiple_of=-8`",
        lambda e: GPT1DataCollator(pad_token_id=0, pad_to_multiple_of=-8),
        ValueError,
        "pad_to_multiple_of must be a positive int or None",
    ),
    Case(
        "`GPT1DataCollator.from_tokenizer` of a tokenizer without a pad token",
        lambda e: GPT1DataCollator.from_tokenizer(GPT1Tokenizer(vocab=VOCAB, pad_token=None)),
        ValueError,
        "tokenizer has no <pad> token (pad_token_id is None)",
    ),
    # --- tokenizer ---
    Case(
        '`task_template="qa"`',
        lambda e: GPT1Tokenizer(vocab=VOCAB, task_template="qa"),
        ValueError,
        "Unknown task_template 'qa'",
    ),
    Case(
        "a merge whose result is not in the vocabulary",
        lambda e: GPT1Tokenizer(vocab=VOCAB, merges=[("b", "a")]),
        ValueError,
        "merge 1 'b a': 'ba' is not in the vocabulary",
    ),
    Case(
        "`unk_token` not in the vocabulary",
        lambda e: GPT1Tokenizer(vocab={"a": 0}, unk_token="<oov>"),
        ValueError,
        "unk_token '<oov>' is not in the vocabulary",
    ),
    Case(
        "a missing `encoder_bpe_40000.json`",
        lambda e: GPT1Tokenizer.from_original_files(e.tmp / "encoder.json", e.tmp / "vocab.bpe"),
        FileNotFoundError,
        "Vocabulary file not found: {tmp}/encoder.json",
    ),
    Case(
        "an `encoder_bpe_40000.json` that is not JSON",
        lambda e: GPT1Tokenizer.from_original_files(e.write("encoder.json", "{"), e.write("vocab.bpe", "#v\n")),
        ValueError,
        "Vocabulary file {tmp}/encoder.json is not valid JSON",
    ),
    Case(
        "a vocabulary whose ids have gaps",
        lambda e: GPT1Tokenizer.from_original_files(
            e.write("encoder.json", '{"a": 0, "b": 2}'), e.write("vocab.bpe", "#v\n")
        ),
        ValueError,
        "Vocabulary file {tmp}/encoder.json: ids must be 0..1, each used once",
    ),
    Case(
        "a vocabulary mapping tokens to strings",
        lambda e: GPT1Tokenizer.from_original_files(
            e.write("encoder.json", '{"a": "0"}'), e.write("vocab.bpe", "#v\n")
        ),
        ValueError,
        "Vocabulary file {tmp}/encoder.json must map tokens to integer ids",
    ),
    Case(
        "a merges file without its `#version` line",
        lambda e: GPT1Tokenizer.from_original_files(
            e.write("encoder.json", json.dumps(VOCAB)), e.write("vocab.bpe", "a b\n")
        ),
        ValueError,
        "Merges file {tmp}/vocab.bpe must start with a '#version' line",
    ),
    Case(
        "a merges line with three symbols",
        lambda e: GPT1Tokenizer.from_original_files(
            e.write("encoder.json", json.dumps(VOCAB)), e.write("vocab.bpe", "#v\na b c\n")
        ),
        ValueError,
        "Merges file {tmp}/vocab.bpe, line 2: expected two symbols",
    ),
    Case(
        '`train_gpt1_tokenizer(["some text"])`: texts given as file paths',
        lambda e: tokenization_gpt1.train_gpt1_tokenizer(["some text"], show_progress=False),
        FileNotFoundError,
        "Training file not found: 'some text' (to train on texts, pass iter(texts))",
    ),
    Case(
        "`train_gpt1_tokenizer(..., vocab_size=0)`",
        lambda e: tokenization_gpt1.train_gpt1_tokenizer(iter(["a"]), vocab_size=0),
        ValueError,
        "vocab_size must be an integer >= 1, got 0",
    ),
    Case(
        "`train_gpt1_tokenizer(..., min_frequency=-1)`",
        lambda e: tokenization_gpt1.train_gpt1_tokenizer(iter(["a"]), min_frequency=-1),
        ValueError,
        "min_frequency must be an integer >= 0, got -1",
    ),
    Case(
        "`train_gpt1_tokenizer(42)`",
        lambda e: tokenization_gpt1.train_gpt1_tokenizer(42),
        TypeError,
        "Expected file paths or an iterable of texts, got int",
    ),
    Case(
        "`gpt1-train-tokenizer --files missing.txt ...`",
        lambda e: tokenization_gpt1.main(["--files", str(e.tmp / "missing.txt"), "--output_dir", str(e.tmp / "t")]),
        SystemExit,
        "gpt1-train-tokenizer or python -m: status 2, one line: Training file not found",
    ),
    Case(
        "`gpt1-train-tokenizer --vocab_size many ...`",
        lambda e: tokenization_gpt1.main(["--files", "a.txt", "--vocab_size", "many", "--output_dir", "t"]),
        SystemExit,
        "status 2, one line: argument --vocab_size: invalid int value: 'many'",
    ),
    # --- task readers ---
    Case(
        "an unknown task name",
        lambda e: load_task_dataset("glue", e.tmp),
        ValueError,
        "unknown task 'glue'; the tasks are",
    ),
    Case(
        "`data_dir` that is not a folder",
        lambda e: load_task_dataset("sst2", e.tmp / "nowhere"),
        NotADirectoryError,
        "sst2: data_dir {tmp}/nowhere is not a directory",
    ),
    Case(
        "a task folder without the training file",
        lambda e: load_task_dataset(
            "sst2", e.write("sst2/dev.tsv", "sentence\tlabel\na\t1\n").parent, splits=["train"]
        ),
        FileNotFoundError,
        "sst2: the train split needs train.tsv in {tmp}/sst2",
    ),
    Case(
        "a split the task does not have",
        lambda e: load_task_dataset(
            "sst2", e.write("sst2/train.tsv", "sentence\tlabel\na\t1\n").parent, splits=["dev"]
        ),
        ValueError,
        "sst2 has no split(s) ['dev']",
    ),
    Case(
        "a TSV without the task's text column",
        lambda e: load_task_dataset("sst2", e.write("sst2/train.tsv", "text\tlabel\na\t1\n").parent, splits=["train"]),
        ValueError,
        "{tmp}/sst2/train.tsv lacks the column(s) ['sentence']",
    ),
    Case(
        "a task file with a header and no examples",
        lambda e: load_task_dataset("sst2", e.write("sst2/train.tsv", "sentence\tlabel\n").parent, splits=["train"]),
        ValueError,
        "{tmp}/sst2/train.tsv: no examples in the file",
    ),
    Case(
        "a label outside the task's labels",
        lambda e: load_task_dataset(
            "sst2", e.write("sst2/train.tsv", "sentence\tlabel\na\t2\n").parent, splits=["train"]
        ),
        ValueError,
        "{tmp}/sst2/train.tsv: unexpected label(s) ['2']",
    ),
    Case(
        "a regression score that is not a number (STS-B)",
        lambda e: load_task_dataset(
            "stsb", e.write("stsb/train.tsv", STSB + "0\tg\tf\ty\t1\tn\tn\ta\tb\thigh\n").parent, splits=["train"]
        ),
        ValueError,
        "{tmp}/stsb/train.tsv: the label column holds values that are not numbers",
    ),
    Case(
        "a regression score `nan` (STS-B)",
        lambda e: load_task_dataset(
            "stsb",
            e.write("stsb/train.tsv", STSB + "0\tg\tf\ty\t1\tn\tn\ta\tb\t1\n1\tg\tf\ty\t1\tn\tn\ta\tb\tnan\n").parent,
            splits=["train"],
        ),
        ValueError,
        "{tmp}/stsb/train.tsv: 1 label(s) are not finite numbers, at line 3 ('nan')",
    ),
    Case(
        "a regression score `inf` (STS-B)",
        lambda e: load_task_dataset(
            "stsb", e.write("stsb/train.tsv", STSB + "0\tg\tf\ty\t1\tn\tn\ta\tb\tinf\n").parent, splits=["train"]
        ),
        ValueError,
        "{tmp}/stsb/train.tsv: 1 label(s) are not finite numbers, at line 2 ('inf')",
    ),
    Case(
        "a TSV row with more fields than its header",
        lambda e: load_task_dataset(
            "sst2", e.write("sst2/train.tsv", "sentence\tlabel\na\t1\textra\n").parent, splits=["train"]
        ),
        ValueError,
        "cannot read {tmp}/sst2/train.tsv",
    ),
    Case(
        '`load_task_dataset(..., split="train")`',
        lambda e: load_task_dataset("sst2", split="train"),
        TypeError,
        "pass splits=[...] (a list of split names) rather than split=",
    ),
    Case(
        "regression predictions of shape `[2, 2]`",
        lambda e: metric_fn("stsb")(EvalPrediction(np.zeros((2, 2)), np.array([0.0, 1.0]))),
        ValueError,
        "stsb: expected",
    ),
    # --- checkpoint conversion ---
    Case(
        "`convert` of a source folder that does not exist",
        lambda e: conversion.convert_from_transformers(e.tmp / "nowhere", e.tmp / "dst"),
        FileNotFoundError,
        "Source folder {tmp}/nowhere does not exist",
    ),
    Case(
        "a release folder without `params_shapes.json`",
        lambda e: conversion.convert_openai_checkpoint(
            e.release(lambda f: (f / "params_shapes.json").unlink()), e.tmp / "dst", n_head=2
        ),
        FileNotFoundError,
        "{tmp}/release/params_shapes.json not found",
    ),
    Case(
        "a `params_shapes.json` that is not valid JSON",
        lambda e: conversion.convert_openai_checkpoint(
            e.release(lambda f: (f / "params_shapes.json").write_text("[[8, 16], [20")), e.tmp / "dst", n_head=2
        ),
        ValueError,
        "{tmp}/release/params_shapes.json is not valid JSON",
    ),
    Case(
        "a `params_shapes.json` that is not a list of shapes",
        lambda e: conversion.convert_openai_checkpoint(
            e.release(lambda f: (f / "params_shapes.json").write_text('{"a": 1}')), e.tmp / "dst", n_head=2
        ),
        ValueError,
        "{tmp}/release/params_shapes.json must hold a list of array shapes",
    ),
    Case(
        "a `params_shapes.json` with one array too few",
        lambda e: conversion.convert_openai_checkpoint(
            e.release(
                lambda f: (f / "params_shapes.json").write_text(
                    json.dumps(json.loads((f / "params_shapes.json").read_text())[:-1])
                )
            ),
            e.tmp / "dst",
            n_head=2,
        ),
        ValueError,
        "params_shapes.json lists 13 arrays",
    ),
    Case(
        "a release without `params_3.npy`",
        lambda e: conversion.convert_openai_checkpoint(
            e.release(lambda f: (f / "params_3.npy").unlink()), e.tmp / "dst", n_head=2
        ),
        FileNotFoundError,
        "params_3.npy missing from {tmp}/release",
    ),
    Case(
        "a truncated `params_3.npy`",
        lambda e: conversion.convert_openai_checkpoint(e.release(_truncate_shard), e.tmp / "dst", n_head=2),
        ValueError,
        "{tmp}/release/params_3.npy is not a readable .npy array",
    ),
    Case(
        "a `params_7.npy` that is not a .npy file",
        lambda e: conversion.convert_openai_checkpoint(
            e.release(lambda f: (f / "params_7.npy").write_bytes(b"text")), e.tmp / "dst", n_head=2
        ),
        ValueError,
        "{tmp}/release/params_7.npy is not a readable .npy array",
    ),
    Case(
        "a destination folder that is not empty",
        lambda e: conversion.convert_openai_checkpoint(e.release(), e.write("dst/keep.txt", "x").parent, n_head=2),
        FileExistsError,
        "{tmp}/dst already exists and is not an empty folder",
    ),
    Case(
        "`--n_head 3` for a 16-wide release",
        lambda e: conversion.convert_openai_checkpoint(e.release(), e.tmp / "dst", n_head=3),
        ValueError,
        "n_head=3: the release's width n_embd=16 must be divisible by n_head",
    ),
    Case(
        "`python -m modeling_gpt1.convert --from openai` with a shard missing",
        lambda e: conversion.main(
            [
                "--from",
                "openai",
                "--n_head",
                "2",
                str(e.release(lambda f: (f / "params_3.npy").unlink())),
                str(e.tmp / "dst"),
            ]
        ),
        SystemExit,
        "status 2, one line: params_3.npy missing",
    ),
    Case(
        "`python -m modeling_gpt1.convert --from tf ...`",
        lambda e: conversion.main(["--from", "tf", "a", "b"]),
        SystemExit,
        "status 2, one line: argument --from: invalid choice: 'tf'",
    ),
    Case(
        "`convert --n_head` with `--from transformers`",
        lambda e: conversion.main(["--from", "transformers", "a", "b", "--n_head", "4"]),
        SystemExit,
        "status 2, one line: --n_head applies to --from openai only",
    ),
    # --- examples/finetune.py ---
    Case(
        "`finetune.py --task glue`",
        lambda e: _finetune(e, "--task", "glue"),
        SystemExit,
        "status 2, one line: unknown task 'glue'; the tasks are",
    ),
    Case(
        "`finetune.py --max_seq_length 65` for a 64-position model",
        lambda e: _finetune(e, "--max_seq_length", "65"),
        SystemExit,
        "status 2, one line: --max_seq_length 65 exceeds the model's context (n_positions=64)",
    ),
    Case(
        "`finetune.py --aux_lm_coef -1`",
        lambda e: _finetune(e, "--aux_lm_coef", "-1"),
        SystemExit,
        "status 2, one line: --aux_lm_coef must be a finite number >= 0, got -1.0",
    ),
    Case(
        "`finetune.py --aux_lm_coef inf` (or `nan`)",
        lambda e: _finetune(e, "--aux_lm_coef", "inf"),
        SystemExit,
        "status 2, one line: --aux_lm_coef must be a finite number >= 0, got inf",
    ),
    Case(
        "`finetune.py --max_seq_length 0` (also `--max_train_samples` and the like)",
        lambda e: _finetune(e, "--max_seq_length", "0"),
        SystemExit,
        "status 2, one line: --max_seq_length must be at least 1, got 0",
    ),
    Case(
        "`finetune.py --model_name_or_path` of a missing folder",
        lambda e: _finetune(e, "--model_name_or_path", "{tmp}/no_model"),
        SystemExit,
        "status 2, one line: --model_name_or_path {tmp}/no_model: no such folder",
    ),
    Case(
        "`finetune.py --resume_from_checkpoint last` without checkpoints",
        lambda e: _finetune(e, "--resume_from_checkpoint", "last"),
        SystemExit,
        "status 2, one line: --resume_from_checkpoint last: no complete checkpoint-* folder in {tmp}/out",
    ),
    Case(
        "`finetune.py --truncation middle`",
        lambda e: _finetune(e, "--truncation", "middle"),
        SystemExit,
        "status 2, one line: argument --truncation: invalid choice: 'middle'",
    ),
    # --- auxiliary LM wrapper ---
    Case(
        "`GPT1WithAuxiliaryLM(GPT1LMHeadModel(...))`: not a task head",
        lambda e: GPT1WithAuxiliaryLM(GPT1LMHeadModel(_head().config)),
        TypeError,
        "GPT1WithAuxiliaryLM wraps a GPT-1 task head, got GPT1LMHeadModel",
    ),
    Case(
        "`aux_lm_coef=-0.5`",
        lambda e: GPT1WithAuxiliaryLM(_head(), aux_lm_coef=-0.5),
        ValueError,
        "aux_lm_coef must be a finite number >= 0, got -0.5",
    ),
    Case(
        "`aux_lm_coef=float('nan')`",
        lambda e: GPT1WithAuxiliaryLM(_head(), aux_lm_coef=float("nan")),
        ValueError,
        "aux_lm_coef must be a finite number >= 0, got nan",
    ),
    Case(
        "a training forward without `labels` (Trainer's `label_smoothing_factor` or `compute_loss_func`)",
        lambda e: GPT1WithAuxiliaryLM(_head()).train()(input_ids=torch.tensor([[1, 5, 3]])),
        ValueError,
        "GPT1WithAuxiliaryLM got no labels in a training forward: a loss computed elsewhere from its logits would "
        "leave out the auxiliary LM term",
    ),
    Case(
        "`lm_labels` of another shape than `input_ids`",
        _aux_with_bad_lm_labels,
        ValueError,
        "lm_labels has shape (1, 2) but input_ids has (1, 4)",
    ),
    # --- the training scripts' checkpoints ---
    Case(
        "`--resume_from_checkpoint last` with no checkpoint in `--output_dir`",
        lambda e: resolve_checkpoint(_Args(e.tmp, "last")),
        FileNotFoundError,
        "--resume_from_checkpoint last: no complete checkpoint-* folder in {tmp}",
    ),
    Case(
        "`--resume_from_checkpoint DIR` whose trainer_state.json is truncated",
        lambda e: resolve_checkpoint(_Args(e.tmp, e.write("checkpoint-4/trainer_state.json", '{"log_hi').parent)),
        FileNotFoundError,
        "checkpoint-4: not a complete checkpoint (trainer_state.json does not parse",
    ),
    Case(
        "`--resume_from_checkpoint DIR` of a folder that is no checkpoint",
        lambda e: resolve_checkpoint(_Args(e.tmp, e.tmp)),
        FileNotFoundError,
        "not a complete checkpoint (no trainer_state.json)",
    ),
]


TOKENIZER = tokenization_gpt1.train_gpt1_tokenizer(iter(["a b ab ba a b"] * 5), vocab_size=30, show_progress=False)


def raise_case(case: Case, tmp: Path, capsys=None) -> str:
    """Run the row's call; return the message it raised (a command line's one stderr line for SystemExit)."""
    with pytest.raises(case.error) as raised:
        case.call(Env(tmp, TOKENIZER))
    if case.error is SystemExit:
        assert raised.value.code == 2, "a command line's user error exits with status 2"
        err = capsys.readouterr().err.strip().splitlines() if capsys is not None else ["(stderr)"]
        assert capsys is None or len(err) == 1, err
        return f"status 2, one line: {err[-1]}"
    return str(raised.value)


@pytest.mark.parametrize("case", CASES, ids=[case.input for case in CASES])
def test_bad_input_gets_a_clear_error_naming_it(case, tmp_path, capsys):
    message = raise_case(case, tmp_path, capsys)
    expected = case.names.format(tmp=tmp_path)
    if case.error is SystemExit:  # "<prog>: error: <message>" on one line, with the row's part of the message
        expected = expected.split("one line: ", 1)[1]
    assert expected in message, message
    assert "Traceback" not in message


def test_the_table_has_a_row_per_case():
    assert len({case.input for case in CASES}) == len(CASES), "two rows with the same input"
    assert len(CASES) >= 70


def test_docs_publish_every_row():
    text = DOC.read_text(encoding="utf-8")
    missing = [case.input for case in CASES if f"| {_cell(case.input)} |" not in text]
    assert not missing, f"docs/bad_inputs.md lacks the rows {missing}: regenerate them with python {__file__}"
    assert "## Model inputs" in text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_rows() -> str:
    """The table's rows with the messages as raised here (temporary folders shown as `DIR`)."""
    lines = ["| input | what the user gets |", "|---|---|"]
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()) as stderr:
            try:
                case.call(Env(Path(tmp), TOKENIZER))
            except SystemExit as error:
                message = f"exit status {error.code}, one line on stderr: `{stderr.getvalue().strip()}`"
            except case.error as error:
                message = f"`{type(error).__name__}`: {error}"
            else:
                raise AssertionError(f"no error for {case.input}")
        lines.append(f"| {_cell(case.input)} | {_cell(message.replace(tmp, 'DIR'))} |")
    return "\n".join(lines)


def write_docs_table() -> None:
    """Replace the first table of `docs/bad_inputs.md` with the rows as raised now."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index("| input | what the user gets |\n")
    end = text.index("\n\n", start)
    DOC.write_text(text[:start] + markdown_rows() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_docs_table()
    else:
        print(markdown_rows())
