"""The paper's fine-tuning tasks: where each data set lives, how its official files are laid out, which fields
feed the input transformation, the labels and the metrics.

Every task reads into a `datasets.DatasetDict` with the same normalised columns, whether it comes from the
Hub or from the official files in a local folder: the spec's `text_fields`, its `answer_fields` (multiple
choice only) and ``label`` (an int class id, a float score for the regression task STS-B, -1 where a test
file has no labels). What the fields mean depends on the family, as in the paper's Figure 1:

- ``classification``: one text field, ``[start] text [extract]``;
- ``entailment``: premise and hypothesis, ``[start] premise [delim] hypothesis [extract]``;
- ``similarity``: two texts read in both orders, the two final states added;
- ``multiple_choice``: the context fields (joined with a space) and one answer field per choice, one sequence
  ``[start] context [delim] answer_k [extract]`` each; ``label`` is the index of the right answer field.

Example::

    spec = get_task("rte")
    data = load_task_dataset(spec, data_dir="glue_data/RTE")   # or without data_dir: from the Hub
    transform = InputTransform(tokenizer, spec.family, spec.text_fields, spec.answer_fields)
    trainer = Trainer(..., compute_metrics=metric_fn(spec))
"""

import csv
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .metrics import load_metric
from .transforms import FAMILIES


# The released ROCStories code holds out 374 of the 1,871 stories of the spring-2016 validation file, with
# sklearn's train_test_split and this seed, and fine-tunes on the other 1,497.
STORY_CLOZE_SEED = 3535999445
STORY_CLOZE_VALIDATION_SIZE = 374

GLUE_SPLITS = ("train", "validation", "test")
MNLI_SPLITS = ("train", "validation_matched", "validation_mismatched", "test_matched", "test_mismatched")


@dataclass(frozen=True)
class TaskSpec:
    """One fine-tuning task: data source, fields, labels, metrics and the layout of its official files.

    Attributes:
        name: registry key.
        family: one of `FAMILIES`; picks the input transformation and the task head.
        hub_dataset: ``(name, config)`` for `datasets.load_dataset`.
        text_fields: the text columns (for multiple choice, the context columns).
        num_labels: classes, or answers per example for multiple choice; 1 means regression.
        label_names: what each class id stands for (for multiple choice, how the data set names the answers).
        metric_config: config of the shipped metric module (`modeling_gpt1.metrics`).
        metric_names: the metrics `metric_fn` returns, the one the paper reports first.
        splits: the split names, shared by the Hub copy and the local reader.
        answer_fields: multiple choice only: one column per answer.
        manual_data: the data set has no downloadable copy; only the local reader works.
        local: how to read the official files from a folder (see `TableFiles`, `StoryClozeFiles`, `RaceFolders`);
            None: no local reader.
        from_hub: turns one split of the Hub copy into the normalised columns; None: the Hub copy has them
            already, other columns are dropped.
    """

    name: str
    family: str
    hub_dataset: tuple[str, str | None]
    text_fields: tuple[str, ...]
    num_labels: int
    label_names: tuple[str, ...]
    metric_config: str
    metric_names: tuple[str, ...]
    splits: tuple[str, ...]
    answer_fields: tuple[str, ...] | None = None
    manual_data: bool = False
    local: "LocalFormat" = field(default=None, compare=False, repr=False)
    from_hub: Callable[[datasets.Dataset, "TaskSpec"], datasets.Dataset] = field(
        default=None, compare=False, repr=False
    )

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"task {self.name!r}: family must be one of {FAMILIES}, got {self.family!r}")
        if (self.family == "multiple_choice") != (self.answer_fields is not None):
            raise ValueError(f"task {self.name!r}: answer_fields are required for multiple choice and only there")
        if self.answer_fields is not None and len(self.answer_fields) != self.num_labels:
            raise ValueError(
                f"task {self.name!r}: {len(self.answer_fields)} answer fields for {self.num_labels} labels"
            )
        if self.num_labels != 1 and len(self.label_names) != self.num_labels:
            raise ValueError(f"task {self.name!r}: {len(self.label_names)} label names for {self.num_labels} labels")

    @property
    def is_regression(self) -> bool:
        return self.num_labels == 1

    @property
    def main_metric(self) -> str:
        """The metric the paper reports (e.g. for ``TrainingArguments.metric_for_best_model``)."""
        return self.metric_names[0]

    @property
    def columns(self) -> tuple[str, ...]:
        """The normalised columns, in order."""
        return (*self.text_fields, *(self.answer_fields or ()), "label")

    @property
    def features(self) -> datasets.Features:
        label = datasets.Value("float32") if self.is_regression else datasets.ClassLabel(names=list(self.label_names))
        text = {name: datasets.Value("string") for name in self.columns[:-1]}
        return datasets.Features({**text, "label": label})


# ---------------------------------------------------------------------------------------------------------
# Local files


class LocalFormat:
    """Reads a task's official files from a folder into a `DatasetDict` with the spec's normalised columns."""

    def sources(self, data_dir: Path) -> dict[str, list[Path]]:
        """Per split, the candidate paths in `data_dir` (the first that exists is read)."""
        raise NotImplementedError

    def read_splits(self, spec: TaskSpec, found: dict[str, Path]) -> datasets.DatasetDict:
        """Read the chosen splits; `found` maps each split to its path."""
        raise NotImplementedError

    def read(self, spec: TaskSpec, data_dir: Path, splits: Sequence[str] | None = None) -> datasets.DatasetDict:
        if not data_dir.is_dir():
            raise NotADirectoryError(f"{spec.name}: data_dir {data_dir} is not a directory")
        candidates = self.sources(data_dir)
        found = {split: next((p for p in paths if p.exists()), None) for split, paths in candidates.items()}
        if splits is None:
            found = {split: path for split, path in found.items() if path is not None}
            if not found:
                expected = sorted({p.name for paths in candidates.values() for p in paths})
                raise FileNotFoundError(f"{spec.name}: none of the expected files {expected} is in {data_dir}")
        else:
            unknown = [split for split in splits if split not in candidates]
            if unknown:
                raise ValueError(f"{spec.name} has no split(s) {unknown}; its splits are {list(candidates)}")
            for split in splits:
                if found[split] is None:
                    names = [p.name for p in candidates[split]]
                    raise FileNotFoundError(f"{spec.name}: the {split} split needs {' or '.join(names)} in {data_dir}")
            found = {split: found[split] for split in splits}
        dataset = self.read_splits(spec, found)
        for split, examples in dataset.items():
            if len(examples) == 0:
                raise ValueError(f"{spec.name}: no examples in the {split} split ({found.get(split, data_dir)})")
        return dataset


@dataclass(frozen=True)
class TableFiles(LocalFormat):
    """One TSV / JSON-lines file per split (GLUE, SNLI, SciTail), columns found by name.

    Attributes:
        files: per split, the accepted file names (the first that exists is read). ``.jsonl`` files are JSON
            lines, everything else tab-separated, read verbatim (no quoting: GLUE fields may start with ``"``).
        columns: file column -> normalised text field.
        label_column: the file's label column; test files may lack it (their labels become -1).
        label_values: how the file writes each class id, in order; None: as the spec's label names.
        headerless: file name -> its column names, for files without a header row (CoLA, SciTail).
        skip_labels: rows with these labels are dropped (SNLI's ``-``: no annotator consensus).
    """

    files: dict[str, tuple[str, ...]]
    columns: dict[str, str]
    label_column: str
    label_values: tuple[str, ...] | None = None
    headerless: dict[str, tuple[str, ...]] = field(default_factory=dict)
    skip_labels: tuple[str, ...] = ()

    def sources(self, data_dir):
        return {split: [data_dir / name for name in names] for split, names in self.files.items()}

    def read_splits(self, spec, found):
        # Test files may come without labels; every other file must have them.
        return datasets.DatasetDict(
            {split: self._read_file(spec, path, not split.startswith("test")) for split, path in found.items()}
        )

    def _read_file(self, spec: TaskSpec, path: Path, labelled: bool) -> datasets.Dataset:
        return _normalise_frame(
            spec,
            self._load_frame(path),
            path,
            self.columns,
            self.label_column,
            labelled,
            label_values=self.label_values,
            skip_labels=self.skip_labels,
        )

    def _load_frame(self, path: Path) -> pd.DataFrame:
        names = self.headerless.get(path.name)
        try:
            if path.suffix == ".jsonl":
                frame = pd.read_json(path, lines=True, dtype=False)
                frame.attrs["first_line"] = 1  # the file line of row 0, for error messages
                return frame
            with warnings.catch_warnings():
                # A row with more fields than the header is malformed: pandas would drop them with a warning.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    path,
                    sep="\t",
                    quoting=csv.QUOTE_NONE,
                    dtype=str,
                    keep_default_na=False,
                    encoding="utf-8-sig",
                    header=None if names else 0,
                    index_col=False,
                )
        except (ValueError, pd.errors.ParserWarning) as error:  # pandas' parser errors name no file
            raise ValueError(f"cannot read {path}: {error}") from None
        frame.attrs["first_line"] = 1 if names else 2  # the file line of row 0, for error messages
        if names:
            if frame.shape[1] != len(names):
                raise ValueError(
                    f"{path} has {frame.shape[1]} tab-separated columns; expected {len(names)} ({', '.join(names)})"
                )
            frame.columns = list(names)
        return frame


_STORY_CLOZE_COLUMNS = {
    "InputSentence1": "sentence1",
    "InputSentence2": "sentence2",
    "InputSentence3": "sentence3",
    "InputSentence4": "sentence4",
    "RandomFifthSentenceQuiz1": "ending0",
    "RandomFifthSentenceQuiz2": "ending1",
}
# The header of the official Story Cloze files (for writing files in that format).
STORY_CLOZE_HEADER = ["InputStoryid", *_STORY_CLOZE_COLUMNS, "AnswerRightEnding"]


@dataclass(frozen=True)
class StoryClozeFiles(LocalFormat):
    """The Story Cloze Test CSVs: the spring-2016 validation file (split into train and validation as in the
    released code, see `story_cloze_split`) and the spring-2016 test file."""

    validation_file: str = "cloze_test_val__spring2016 - cloze_test_ALL_val.csv"
    test_file: str = "cloze_test_test__spring2016 - cloze_test_ALL_test.csv"

    def sources(self, data_dir):
        validation = [data_dir / self.validation_file]
        return {"train": validation, "validation": validation, "test": [data_dir / self.test_file]}

    def read_splits(self, spec, found):
        splits = {}
        if "train" in found or "validation" in found:
            path = found.get("train") or found["validation"]
            splits.update(story_cloze_split(self._read_file(spec, path, labelled=True)))
        if "test" in found:
            splits["test"] = self._read_file(spec, found["test"], labelled=False)
        return datasets.DatasetDict({name: splits[name] for name in found})

    def _read_file(self, spec: TaskSpec, path: Path, labelled: bool) -> datasets.Dataset:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except ValueError as error:  # pandas' parser errors name no file
            raise ValueError(f"cannot read {path}: {error}") from None
        return _normalise_frame(spec, frame, path, _STORY_CLOZE_COLUMNS, "AnswerRightEnding", labelled)


@dataclass(frozen=True)
class RaceFolders(LocalFormat):
    """RACE: one JSON file per passage (``article``, ``questions``, ``options``, ``answers``) under
    ``train/``, ``dev/`` and ``test/``, each with ``high/`` and ``middle/`` subfolders; one example per question."""

    levels: tuple[str, ...] = ("high", "middle")

    def sources(self, data_dir):
        return {"train": [data_dir / "train"], "validation": [data_dir / "dev"], "test": [data_dir / "test"]}

    def read_splits(self, spec, found):
        return datasets.DatasetDict({split: self._read_folder(spec, path) for split, path in found.items()})

    def _read_folder(self, spec: TaskSpec, folder: Path) -> datasets.Dataset:
        rows = []
        for level in self.levels:
            files = sorted([*(folder / level).glob("*.txt"), *(folder / level).glob("*.json")])
            if not files:
                raise FileNotFoundError(f"{spec.name}: no RACE passages (*.txt or *.json) in {folder / level}")
            for path in files:
                rows.extend(_race_passage(spec, path))
        return datasets.Dataset.from_list(rows, features=spec.features)


def _race_passage(spec: TaskSpec, path: Path) -> list[dict]:
    """The examples of one RACE passage file, one per question."""
    try:
        passage = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    missing = [key for key in ("article", "questions", "options", "answers") if key not in passage]
    if missing:
        raise ValueError(f"{path} lacks the RACE field(s) {missing}")
    if not len(passage["questions"]) == len(passage["options"]) == len(passage["answers"]):
        raise ValueError(f"{path}: questions, options and answers have different lengths")
    return [
        _race_example(spec, passage["article"], question, options, answer, path)
        for question, options, answer in zip(passage["questions"], passage["options"], passage["answers"])
    ]


def _race_example(spec: TaskSpec, article: str, question: str, options: list, answer: str, source) -> dict:
    """Normalised columns of one RACE question (the layout of both the local files and the Hub copy)."""
    if len(options) != len(spec.answer_fields):
        raise ValueError(f"{source}: a question has {len(options)} options; RACE has {len(spec.answer_fields)}")
    if answer not in spec.label_names:
        raise ValueError(f"{source}: answer {answer!r} is not one of {spec.label_names}")
    return {
        "article": article,
        "question": question,
        **dict(zip(spec.answer_fields, options)),
        "label": spec.label_names.index(answer),
    }


def story_cloze_split(
    dataset: datasets.Dataset, validation_size: int = STORY_CLOZE_VALIDATION_SIZE, seed: int = STORY_CLOZE_SEED
) -> datasets.DatasetDict:
    """The released code's train / validation split of the Story Cloze validation file (1,497 / 374 stories).

    The same call as the original (``train_test_split(..., test_size=374, random_state=3535999445)``), so the
    same stories land on each side, in the same order.
    """
    if len(dataset) <= validation_size:
        raise ValueError(f"the Story Cloze split holds out {validation_size} stories; the file has {len(dataset)}")
    train, validation = train_test_split(np.arange(len(dataset)), test_size=validation_size, random_state=seed)
    return datasets.DatasetDict(train=dataset.select(train), validation=dataset.select(validation))


def _normalise_frame(
    spec: TaskSpec,
    frame: pd.DataFrame,
    path: Path,
    columns: dict[str, str],
    label_column: str,
    labelled: bool,
    label_values: Sequence[str] | None = None,
    skip_labels: Sequence[str] = (),
) -> datasets.Dataset:
    """Pick and rename the text columns and encode the labels (-1 where an unlabelled test file has none)."""
    _require_columns(frame, [*columns, label_column] if labelled else columns, path)
    if label_column in frame.columns:
        labels = frame[label_column].astype(str).str.strip()
        keep = ~labels.isin(skip_labels)
        frame, labels = frame[keep], labels[keep]
        first_line = frame.attrs.get("first_line", 2)
        label = _encode_labels(labels, spec, label_values or spec.label_names, path, first_line)
    else:
        label = -1
    if frame.empty:
        raise ValueError(f"{path}: no examples in the file")
    table = frame[list(columns)].rename(columns=columns).assign(label=label)
    return datasets.Dataset.from_pandas(table, features=spec.features, preserve_index=False)


def _require_columns(frame: pd.DataFrame, columns, path: Path) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}; its columns are {list(frame.columns)}")


def _encode_labels(
    values: pd.Series, spec: TaskSpec, label_values: Sequence[str], path: Path, first_line: int = 2
) -> pd.Series:
    """Class ids from the labels as written in the file (floats for regression, which must be finite: NaN or inf is
    a ValueError naming the file's lines, counted from `first_line`, the line of the frame's row 0)."""
    if spec.is_regression:
        try:
            scores = values.astype("float32")
        except ValueError:
            raise ValueError(f"{path}: the label column holds values that are not numbers") from None
        bad = ~np.isfinite(scores.to_numpy())
        if bad.any():
            rows = [f"line {first_line + int(index)} ({value!r})" for index, value in values[bad].head(5).items()]
            raise ValueError(
                f"{path}: {int(bad.sum())} label(s) are not finite numbers, at {', '.join(rows)}: "
                f"{spec.name} scores must be real numbers"
            )
        return scores
    ids = {value: i for i, value in enumerate(label_values)}
    unknown = sorted(set(values) - set(ids))
    if unknown:
        raise ValueError(f"{path}: unexpected label(s) {unknown[:5]}; {spec.name} labels are {list(label_values)}")
    return values.map(ids)


# ---------------------------------------------------------------------------------------------------------
# Hub copies


def _select_columns(dataset: datasets.Dataset, spec: TaskSpec) -> datasets.Dataset:
    """The Hub copy already has the normalised columns (GLUE): drop the rest (``idx``)."""
    return dataset.select_columns(list(spec.columns)).cast(spec.features)


def _snli_from_hub(dataset: datasets.Dataset, spec: TaskSpec) -> datasets.Dataset:
    """Drop the pairs without a gold label (-1 on the Hub, ``-`` in the original files)."""
    return _select_columns(dataset.filter(lambda label: label != -1, input_columns="label"), spec)


def _scitail_from_hub(dataset: datasets.Dataset, spec: TaskSpec) -> datasets.Dataset:
    """The ``tsv_format`` config writes labels as strings (``entails`` / ``neutral``)."""
    encode = {name: i for i, name in enumerate(spec.label_names)}
    dataset = dataset.map(lambda labels: {"label": [encode[x] for x in labels]}, input_columns="label", batched=True)
    return _select_columns(dataset, spec)


def _race_from_hub(dataset: datasets.Dataset, spec: TaskSpec) -> datasets.Dataset:
    def normalise(example):
        return _race_example(
            spec,
            example["article"],
            example["question"],
            example["options"],
            example["answer"],
            source=f"{spec.hub_dataset[0]} example {example['example_id']}",
        )

    return dataset.map(normalise, remove_columns=dataset.column_names, features=spec.features)


# ---------------------------------------------------------------------------------------------------------
# The registry


def _glue(name, family, text_fields, label_names, metric_names, local, num_labels=None, splits=GLUE_SPLITS):
    return TaskSpec(
        name=name,
        family=family,
        hub_dataset=("nyu-mll/glue", name),
        text_fields=text_fields,
        num_labels=num_labels or len(label_names),
        label_names=label_names,
        metric_config=name,
        metric_names=metric_names,
        splits=splits,
        local=local,
    )


_GLUE_FILES = {"train": ("train.tsv",), "validation": ("dev.tsv",), "test": ("test.tsv",)}
_COLA_COLUMNS = ("source", "label", "mark", "sentence")
_SCITAIL_COLUMNS = ("premise", "hypothesis", "label")
_NLI_LABELS = ("entailment", "neutral", "contradiction")
_QNLI_LABELS = ("entailment", "not_entailment")
_RACE = TaskSpec(
    name="race",
    family="multiple_choice",
    hub_dataset=("ehovy/race", "all"),
    text_fields=("article", "question"),
    answer_fields=("option0", "option1", "option2", "option3"),
    num_labels=4,
    label_names=("A", "B", "C", "D"),
    metric_config="race",
    metric_names=("accuracy",),
    splits=GLUE_SPLITS,
    local=RaceFolders(),
    from_hub=_race_from_hub,
)

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _glue(
            "sst2",
            "classification",
            ("sentence",),
            ("negative", "positive"),
            ("accuracy",),
            TableFiles(_GLUE_FILES, {"sentence": "sentence"}, "label", label_values=("0", "1")),
        ),
        _glue(
            "cola",
            "classification",
            ("sentence",),
            ("unacceptable", "acceptable"),
            ("matthews_correlation",),
            TableFiles(
                _GLUE_FILES,
                {"sentence": "sentence"},
                "label",
                label_values=("0", "1"),
                headerless={"train.tsv": _COLA_COLUMNS, "dev.tsv": _COLA_COLUMNS},
            ),
        ),
        _glue(
            "mrpc",
            "similarity",
            ("sentence1", "sentence2"),
            ("not_equivalent", "equivalent"),
            ("f1", "accuracy"),
            TableFiles(
                _GLUE_FILES, {"#1 String": "sentence1", "#2 String": "sentence2"}, "Quality", label_values=("0", "1")
            ),
        ),
        _glue(
            "stsb",
            "similarity",
            ("sentence1", "sentence2"),
            (),
            ("pearson", "spearmanr"),
            num_labels=1,
            local=TableFiles(_GLUE_FILES, {"sentence1": "sentence1", "sentence2": "sentence2"}, "score"),
        ),
        _glue(
            "qqp",
            "similarity",
            ("question1", "question2"),
            ("not_duplicate", "duplicate"),
            ("f1", "accuracy"),
            TableFiles(
                _GLUE_FILES,
                {"question1": "question1", "question2": "question2"},
                "is_duplicate",
                label_values=("0", "1"),
            ),
        ),
        _glue(
            "mnli",
            "entailment",
            ("premise", "hypothesis"),
            _NLI_LABELS,
            ("accuracy",),
            splits=MNLI_SPLITS,
            local=TableFiles(
                {
                    "train": ("train.tsv",),
                    "validation_matched": ("dev_matched.tsv",),
                    "validation_mismatched": ("dev_mismatched.tsv",),
                    "test_matched": ("test_matched.tsv",),
                    "test_mismatched": ("test_mismatched.tsv",),
                },
                {"sentence1": "premise", "sentence2": "hypothesis"},
                "gold_label",
                skip_labels=("-",),
            ),
        ),
        _glue(
            "qnli",
            "entailment",
            ("question", "sentence"),
            _QNLI_LABELS,
            ("accuracy",),
            TableFiles(_GLUE_FILES, {"question": "question", "sentence": "sentence"}, "label"),
        ),
        _glue(
            "rte",
            "entailment",
            ("sentence1", "sentence2"),
            _QNLI_LABELS,
            ("accuracy",),
            TableFiles(_GLUE_FILES, {"sentence1": "sentence1", "sentence2": "sentence2"}, "label"),
        ),
        TaskSpec(
            name="snli",
            family="entailment",
            hub_dataset=("stanfordnlp/snli", None),
            text_fields=("premise", "hypothesis"),
            num_labels=3,
            label_names=_NLI_LABELS,
            metric_config="snli",
            metric_names=("accuracy",),
            splits=GLUE_SPLITS,
            from_hub=_snli_from_hub,
            # The original distribution (JSON lines or its .txt TSV) or a GLUE-style TSV, all with these columns.
            local=TableFiles(
                {
                    split: (f"snli_1.0_{name}.jsonl", f"snli_1.0_{name}.txt", f"{name}.tsv")
                    for split, name in (("train", "train"), ("validation", "dev"), ("test", "test"))
                },
                {"sentence1": "premise", "sentence2": "hypothesis"},
                "gold_label",
                skip_labels=("-",),
            ),
        ),
        TaskSpec(
            name="scitail",
            family="entailment",
            hub_dataset=("allenai/scitail", "tsv_format"),
            text_fields=("premise", "hypothesis"),
            num_labels=2,
            label_names=("entails", "neutral"),
            metric_config="scitail",
            metric_names=("accuracy",),
            splits=GLUE_SPLITS,
            from_hub=_scitail_from_hub,
            # data_dir: SciTailV1.1/tsv_format
            local=TableFiles(
                {
                    "train": ("scitail_1.0_train.tsv",),
                    "validation": ("scitail_1.0_dev.tsv",),
                    "test": ("scitail_1.0_test.tsv",),
                },
                {"premise": "premise", "hypothesis": "hypothesis"},
                "label",
                headerless={f"scitail_1.0_{name}.tsv": _SCITAIL_COLUMNS for name in ("train", "dev", "test")},
            ),
        ),
        TaskSpec(
            # The Story Cloze Test is only given out on request (https://cs.rochester.edu/nlp/rocstories/):
            # the Hub entry has no data files, so a local folder with the CSVs is required.
            name="rocstories",
            family="multiple_choice",
            hub_dataset=("LSDSem/story_cloze", "2016"),
            text_fields=("sentence1", "sentence2", "sentence3", "sentence4"),
            answer_fields=("ending0", "ending1"),
            num_labels=2,
            label_names=("1", "2"),
            metric_config="rocstories",
            metric_names=("accuracy",),
            splits=GLUE_SPLITS,
            manual_data=True,
            local=StoryClozeFiles(),
        ),
        _RACE,
        replace(
            _RACE,
            name="race_middle",
            hub_dataset=("ehovy/race", "middle"),
            metric_config="race_middle",
            local=RaceFolders(levels=("middle",)),
        ),
        replace(
            _RACE,
            name="race_high",
            hub_dataset=("ehovy/race", "high"),
            metric_config="race_high",
            local=RaceFolders(levels=("high",)),
        ),
    )
}


def get_task(name: str | TaskSpec) -> TaskSpec:
    """The registered spec for `name` (a spec passes through)."""
    if isinstance(name, TaskSpec):
        return name
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; the tasks are {', '.join(TASKS)}")
    return TASKS[name]


def load_task_dataset(
    task: str | TaskSpec,
    data_dir: str | Path | None = None,
    splits: Sequence[str] | None = None,
    **load_kwargs,
) -> datasets.DatasetDict:
    """A task's splits with the normalised columns (`TaskSpec.columns`).

    Args:
        task: a task name or spec.
        data_dir: a folder with the task's official files (e.g. GLUE's ``RTE/`` with ``train.tsv``, ``dev.tsv``,
            ``test.tsv``). Without it, the Hub copy (`TaskSpec.hub_dataset`) is loaded with `datasets.load_dataset`.
        splits: the splits to return; by default all (with `data_dir`: all whose files exist).
        load_kwargs: passed to `datasets.load_dataset` (e.g. ``cache_dir``, ``revision``); Hub only.
    """
    spec = get_task(task)
    if data_dir is not None:
        if load_kwargs:
            raise TypeError(f"{sorted(load_kwargs)} only apply when loading from the Hub, not from data_dir")
        if spec.local is None:
            raise ValueError(f"{spec.name} has no reader for local files: leave data_dir out to use the Hub")
        return spec.local.read(spec, Path(data_dir), splits)
    if spec.manual_data:
        raise ValueError(f"{spec.name} has no downloadable copy: pass data_dir, a folder with its official files")
    if "split" in load_kwargs:
        raise TypeError("pass splits=[...] (a list of split names) rather than split=")
    hub = datasets.load_dataset(*spec.hub_dataset, **load_kwargs)
    splits = list(hub) if splits is None else list(splits)
    unknown = [split for split in splits if split not in hub]
    if unknown:
        raise ValueError(f"{spec.name} has no split(s) {unknown}; the Hub copy has {list(hub)}")
    normalise = spec.from_hub or _select_columns
    return datasets.DatasetDict({split: normalise(hub[split], spec) for split in splits})


def metric_fn(task: str | TaskSpec) -> Callable[..., dict[str, float]]:
    """A `compute_metrics` for `transformers.Trainer`: `EvalPrediction` -> the task's metrics.

    Predictions are logits, one row per example (``[batch, num_labels]``, or ``[batch, num_choices]`` for
    multiple choice), reduced by argmax; for the regression task, scores (``[batch]`` or ``[batch, 1]``). When
    the model returns several outputs the first is taken; 1-D integer predictions are used as class ids (as
    left by a ``preprocess_logits_for_metrics`` that takes the argmax).
    """
    spec = get_task(task)
    metric = load_metric(spec.metric_config, keep_in_memory=True)

    def compute_metrics(eval_prediction) -> dict[str, float]:
        predictions = _predictions(spec, eval_prediction.predictions)
        return metric.compute(predictions=predictions, references=eval_prediction.label_ids)

    return compute_metrics


def constant_baseline(task: str | TaskSpec, labels, metric: str | None = None) -> float:
    """The best score a constant predictor gets on `labels` (``[n]`` class ids, or scores for STS-B), for `metric`
    (default: the task's main metric). A model scoring no higher has learned nothing the score can show.

    accuracy: the most frequent label's share (multiple choice: the most frequent right answer's); F1: always
    predicting the positive class (the better constant); Matthews, Pearson and Spearman correlations: 0 (a constant
    prediction has none). Raises ValueError for empty `labels` or a metric not listed here.
    """
    spec = get_task(task)
    metric = metric or spec.main_metric
    labels = np.asarray(labels)
    if labels.size == 0:
        raise ValueError(f"{spec.name}: no labels to compute a constant baseline on")
    if metric in ("matthews_correlation", "pearson", "spearmanr"):
        return 0.0
    if metric == "accuracy":
        return float(np.bincount(labels.astype(int)).max() / labels.size)
    if metric == "f1":
        positive = float(np.mean(labels == 1))
        return 2 * positive / (1 + positive)
    raise ValueError(f"{spec.name}: no constant baseline for the metric {metric!r}")


def _predictions(spec: TaskSpec, predictions) -> np.ndarray:
    """One prediction per example: a score for regression, a class id otherwise."""
    if isinstance(predictions, (tuple, list)):
        predictions = predictions[0]
    predictions = np.asarray(predictions)
    if spec.is_regression:
        if predictions.ndim == 2 and predictions.shape[1] == 1:
            return predictions[:, 0]
        if predictions.ndim == 1:
            return predictions
        expected = "scores of shape [batch] or [batch, 1]"
    else:
        if predictions.ndim == 2 and predictions.shape[1] == spec.num_labels:
            return predictions.argmax(-1)
        if predictions.ndim == 1 and np.issubdtype(predictions.dtype, np.integer):
            return predictions
        expected = f"logits of shape [batch, {spec.num_labels}] or class ids of shape [batch]"
    raise ValueError(f"{spec.name}: expected {expected}, got {predictions.dtype} of shape {predictions.shape}")


__all__ = [
    "TASKS",
    "TaskSpec",
    "constant_baseline",
    "get_task",
    "load_task_dataset",
    "metric_fn",
    "story_cloze_split",
    "STORY_CLOZE_SEED",
    "STORY_CLOZE_VALIDATION_SIZE",
]
