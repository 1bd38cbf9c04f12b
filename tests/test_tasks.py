"""The task registry: every task's official file layout read from small written samples, the Hub path with a
stand-in for `datasets.load_dataset`, the Story Cloze split, clear errors and `metric_fn`."""

import csv
import json
from dataclasses import replace

import datasets
import numpy as np
import pytest
from transformers import EvalPrediction

from modeling_gpt1.metrics import load_metric
from modeling_gpt1.tasks import (
    STORY_CLOZE_HEADER,
    STORY_CLOZE_SEED,
    TASKS,
    get_task,
    load_task_dataset,
    metric_fn,
    story_cloze_split,
)
from modeling_gpt1.transforms import FAMILIES


STORY_CLOZE_VAL = "cloze_test_val__spring2016 - cloze_test_ALL_val.csv"
STORY_CLOZE_TEST = "cloze_test_test__spring2016 - cloze_test_ALL_test.csv"
MNLI_HEADER = "index\tpromptID\tpairID\tgenre\ts1_bp\ts2_bp\ts1_p\ts2_p\tsentence1\tsentence2"
SNLI_TXT_HEADER = "gold_label\ts1_bp\ts2_bp\ts1_p\ts2_p\tsentence1\tsentence2\tcaptionID\tpairID\tlabel1"
STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"

# Per task: the files of a data folder in the official layout, and the rows each split must read into.
SAMPLES = {
    "sst2": (
        {
            "train.tsv": 'sentence\tlabel\nit \'s a charming journey \t1\n"bad" , very bad\t0\n',
            "dev.tsv": "sentence\tlabel\nunfunny\t0\n",
            "test.tsv": "index\tsentence\n0\ta gem\n",
        },
        {
            "train": [("it 's a charming journey ", 1), ('"bad" , very bad', 0)],
            "validation": [("unfunny", 0)],
            "test": [("a gem", -1)],
        },
    ),
    "cola": (
        {
            "train.tsv": "gj04\t1\t\tThe sailor dogged the barmaid.\ngj04\t0\t*\tThe sailor barmaid dogged.\n",
            "dev.tsv": "clc95\t1\t\tBill whistled.\n",
            "test.tsv": "index\tsentence\n0\tThey drank the pub.\n",
        },
        {
            "train": [("The sailor dogged the barmaid.", 1), ("The sailor barmaid dogged.", 0)],
            "validation": [("Bill whistled.", 1)],
            "test": [("They drank the pub.", -1)],
        },
    ),
    "mrpc": (
        {
            "train.tsv": "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
            '1\t702876\t702977\t"The witness" lied.\tHe lied, said "the witness".\n'
            "0\t1\t2\tA b.\tC d.\n",
            "test.tsv": "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t3\t4\tE f.\tG h.\n",
        },
        {
            "train": [('"The witness" lied.', 'He lied, said "the witness".', 1), ("A b.", "C d.", 0)],
            "test": [("E f.", "G h.", -1)],
        },
    ),
    "stsb": (
        {
            "train.tsv": f"{STSB_HEADER}\tscore\n0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\t"
            "A plane takes off.\tAn air plane takes off.\t5.000\n"
            "1\tmain-news\theadlines\t2013\t0002\tnone\tnone\tA man.\tA cat.\t0.250\n",
            "test.tsv": f"{STSB_HEADER}\n0\tmain-news\theadlines\t2016\t0003\tnone\tnone\tOne.\tTwo.\n",
        },
        {
            "train": [("A plane takes off.", "An air plane takes off.", 5.0), ("A man.", "A cat.", 0.25)],
            "test": [("One.", "Two.", -1.0)],
        },
    ),
    "qqp": (
        {
            "train.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
            "0\t1\t2\tHow do I cook rice?\tWhat is the best way to cook rice?\t1\n"
            "1\t3\t4\tWhy is the sky blue?\tWho won?\t0\n",
            "test.tsv": "id\tquestion1\tquestion2\n0\tIs it?\tIs it not?\n",
        },
        {
            "train": [
                ("How do I cook rice?", "What is the best way to cook rice?", 1),
                ("Why is the sky blue?", "Who won?", 0),
            ],
            "test": [("Is it?", "Is it not?", -1)],
        },
    ),
    "mnli": (
        {
            "train.tsv": f"{MNLI_HEADER}\tlabel1\tgold_label\n"
            "0\t31193\t31193n\tgovernment\t(x)\t(y)\t(X)\t(Y)\tConceptually cream.\t"
            "Product and geography.\tneutral\tneutral\n"
            "1\t1\t1e\ttelephone\t(x)\t(y)\t(X)\t(Y)\tyou know.\tYou know.\tentailment\tentailment\n",
            "dev_matched.tsv": f"{MNLI_HEADER}\tlabel1\tlabel2\tgold_label\n"
            "0\t2\t2c\tfiction\t(x)\t(y)\t(X)\t(Y)\tThe room.\tNo room.\tcontradiction\tneutral\t"
            "contradiction\n",
            "dev_mismatched.tsv": f"{MNLI_HEADER}\tlabel1\tgold_label\n"
            "0\t3\t3e\tletters\t(x)\t(y)\t(X)\t(Y)\tDear friend.\tA letter.\t"
            "entailment\tentailment\n",
            "test_matched.tsv": f"{MNLI_HEADER}\n0\t4\t4\tslate\t(x)\t(y)\t(X)\t(Y)\tHi.\tHello.\n",
        },
        {
            "train": [("Conceptually cream.", "Product and geography.", 1), ("you know.", "You know.", 0)],
            "validation_matched": [("The room.", "No room.", 2)],
            "validation_mismatched": [("Dear friend.", "A letter.", 0)],
            "test_matched": [("Hi.", "Hello.", -1)],
        },
    ),
    "qnli": (
        {
            "train.tsv": "index\tquestion\tsentence\tlabel\n0\tWhen?\tIn 1990.\tentailment\n1\tWho?\tNo one knows.\t"
            "not_entailment\n",
            "test.tsv": "index\tquestion\tsentence\n0\tWhere?\tHere.\n",
        },
        {"train": [("When?", "In 1990.", 0), ("Who?", "No one knows.", 1)], "test": [("Where?", "Here.", -1)]},
    ),
    "rte": (
        {
            "train.tsv": "index\tsentence1\tsentence2\tlabel\n0\tNo weapons found.\tWeapons found.\tnot_entailment\n",
            "dev.tsv": "index\tsentence1\tsentence2\tlabel\n0\tThe pope died.\tA pope died.\tentailment\n",
        },
        {"train": [("No weapons found.", "Weapons found.", 1)], "validation": [("The pope died.", "A pope died.", 0)]},
    ),
    "snli": (
        # The original JSON lines and .txt TSV, and a GLUE-style TSV; "-" (no gold label) rows are dropped.
        {
            "snli_1.0_train.jsonl": "\n".join(
                json.dumps(row)
                for row in [
                    {
                        "gold_label": "neutral",
                        "sentence1": "A person on a horse.",
                        "sentence2": "A person trains.",
                        "annotator_labels": ["neutral"],
                    },
                    {
                        "gold_label": "-",
                        "sentence1": "Unsure.",
                        "sentence2": "Maybe.",
                        "annotator_labels": ["neutral"],
                    },
                    {
                        "gold_label": "contradiction",
                        "sentence1": "Kids smile.",
                        "sentence2": "Kids frown.",
                        "annotator_labels": ["contradiction"],
                    },
                ]
            )
            + "\n",
            "snli_1.0_dev.txt": f"{SNLI_TXT_HEADER}\nentailment\t(x)\t(y)\t(X)\t(Y)\tTwo dogs run.\tDogs run.\t1\t1e\t"
            "entailment\n",
            "test.tsv": "index\tcaptionID\tpairID\tsentence1\tsentence2\tlabel1\tgold_label\n"
            "0\t1\t1n\tA man sleeps.\tA man is tired.\tneutral\tneutral\n",
        },
        {
            "train": [("A person on a horse.", "A person trains.", 1), ("Kids smile.", "Kids frown.", 2)],
            "validation": [("Two dogs run.", "Dogs run.", 0)],
            "test": [("A man sleeps.", "A man is tired.", 1)],
        },
    ),
    "scitail": (
        {
            "scitail_1.0_train.tsv": "Pluto rotates once every 6 days.\tEarth rotates once a day.\tneutral\n"
            "Water boils at 100 C.\tWater boils at 100 degrees.\tentails\n",
            "scitail_1.0_test.tsv": "Cells divide.\tCells split.\tentails\n",
        },
        {
            "train": [
                ("Pluto rotates once every 6 days.", "Earth rotates once a day.", 1),
                ("Water boils at 100 C.", "Water boils at 100 degrees.", 0),
            ],
            "test": [("Cells divide.", "Cells split.", 0)],
        },
    ),
}


def write_files(folder, files: dict) -> None:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def as_rows(dataset: datasets.Dataset, spec) -> list[tuple]:
    return [tuple(row[column] for column in spec.columns) for row in dataset]


def story_cloze_rows(n: int, with_answer: bool = True) -> list[list]:
    """Stories whose sentences name their row; the right ending alternates between 1 and 2."""
    rows = []
    for i in range(n):
        row = [f"id{i}", f"Story {i} starts, calmly.", "Then", "more", "happens.", f"Ending A{i}.", f"Ending B{i}."]
        rows.append(row + [str(1 + i % 2)] if with_answer else row)
    return rows


def write_story_cloze(path, rows, header=STORY_CLOZE_HEADER) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


def write_race(folder, split, level, name, passage) -> None:
    (folder / split / level).mkdir(parents=True, exist_ok=True)
    (folder / split / level / name).write_text(json.dumps(passage), encoding="utf-8")


RACE_PASSAGE = {
    "id": "high1.txt",
    "article": "Tom has a red bike. He rides it to school.",
    "questions": ["What colour is Tom's bike?", "Tom rides to _ ."],
    "options": [["Blue", "Red", "Green", "Black"], ["work", "the park", "school", "town"]],
    "answers": ["B", "C"],
}


# --- the registry ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TASKS))
def test_spec_is_consistent(name, tmp_path):
    spec = TASKS[name]
    assert spec.name == name and spec.family in FAMILIES
    assert set(spec.local.sources(tmp_path)) == set(spec.splits)
    assert spec.columns[-1] == "label" and spec.columns[: len(spec.text_fields)] == spec.text_fields
    predictions = [0.5, 1.5, 2.5] if spec.is_regression else [0, 1, 1]
    metric = load_metric(spec.metric_config).compute(predictions=predictions, references=[0, 1, 0])
    assert set(metric) == set(spec.metric_names)


def test_paper_tasks_and_their_families():
    expected = {
        "sst2": "classification",
        "cola": "classification",
        "mrpc": "similarity",
        "stsb": "similarity",
        "qqp": "similarity",
        "mnli": "entailment",
        "qnli": "entailment",
        "rte": "entailment",
        "snli": "entailment",
        "scitail": "entailment",
        "rocstories": "multiple_choice",
        "race": "multiple_choice",
    }
    assert {name: TASKS[name].family for name in expected} == expected
    assert get_task("stsb").is_regression and get_task("stsb").num_labels == 1
    assert get_task("mrpc").main_metric == "f1" and get_task("stsb").main_metric == "pearson"
    assert get_task("cola").main_metric == "matthews_correlation"
    assert get_task("mnli").splits[1:3] == ("validation_matched", "validation_mismatched")


def test_unknown_task_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown task 'sst-2'.*sst2.*rocstories.*race"):
        get_task("sst-2")


def test_spec_rejects_inconsistent_fields():
    with pytest.raises(ValueError, match="family"):
        replace(TASKS["sst2"], family="tagging")
    with pytest.raises(ValueError, match="label names"):
        replace(TASKS["sst2"], num_labels=3)
    with pytest.raises(ValueError, match="answer_fields"):
        replace(TASKS["race"], answer_fields=None)


# --- local files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
def test_reads_the_official_layout(name, tmp_path):
    files, expected = SAMPLES[name]
    write_files(tmp_path, files)
    spec = get_task(name)
    data = load_task_dataset(name, data_dir=tmp_path)
    assert list(data) == list(expected)
    for split, rows in expected.items():
        assert data[split].column_names == list(spec.columns)
        assert as_rows(data[split], spec) == rows


def test_label_names_are_kept(tmp_path):
    write_files(tmp_path, SAMPLES["rte"][0])
    data = load_task_dataset("rte", tmp_path, splits=["train"])
    assert list(data) == ["train"]
    assert data["train"].features["label"].names == ["entailment", "not_entailment"]
    assert data["train"].features["label"].int2str(data["train"][0]["label"]) == "not_entailment"


def test_race_gives_one_example_per_question_with_four_options(tmp_path):
    write_race(tmp_path, "train", "high", "1.txt", RACE_PASSAGE)
    middle = {**RACE_PASSAGE, "questions": ["Who rides?"], "options": [["Tom", "Ann", "Bob", "Sue"]]}
    middle["answers"] = ["A"]
    write_race(tmp_path, "train", "middle", "7.txt", middle)
    write_race(tmp_path, "dev", "high", "2.txt", middle)
    write_race(tmp_path, "dev", "middle", "3.txt", middle)

    data = load_task_dataset("race", tmp_path)
    assert list(data) == ["train", "validation"]
    train = data["train"]
    assert train.column_names == ["article", "question", "option0", "option1", "option2", "option3", "label"]
    assert train["question"] == ["What colour is Tom's bike?", "Tom rides to _ .", "Who rides?"]
    assert train["label"] == [1, 2, 0]
    assert [train[1][f"option{k}"] for k in range(4)] == ["work", "the park", "school", "town"]
    assert train[0]["article"] == RACE_PASSAGE["article"]

    assert load_task_dataset("race_high", tmp_path)["train"]["label"] == [1, 2]
    assert load_task_dataset("race_middle", tmp_path)["train"]["label"] == [0]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"options": [["a", "b", "c"], ["a", "b", "c", "d"]]}, "3 options"),
        ({"answers": ["B", "E"]}, "answer 'E'"),
        ({"answers": ["B"]}, "different lengths"),
    ],
)
def test_race_rejects_malformed_passages(change, message, tmp_path):
    write_race(tmp_path, "train", "high", "1.txt", {**RACE_PASSAGE, **change})
    write_race(tmp_path, "train", "middle", "2.txt", RACE_PASSAGE)
    with pytest.raises(ValueError, match=message) as error:
        load_task_dataset("race", tmp_path)
    assert "1.txt" in str(error.value)


def test_race_needs_both_levels_and_its_fields(tmp_path):
    write_race(tmp_path, "train", "high", "1.txt", RACE_PASSAGE)
    with pytest.raises(FileNotFoundError, match="middle"):
        load_task_dataset("race", tmp_path)
    write_race(tmp_path, "train", "middle", "2.txt", {"article": "x", "questions": []})
    with pytest.raises(ValueError, match=r"2.txt lacks the RACE field\(s\) \['options', 'answers'\]"):
        load_task_dataset("race", tmp_path)


def test_story_cloze_reads_endings_and_labels(tmp_path):
    write_story_cloze(tmp_path / STORY_CLOZE_VAL, story_cloze_rows(1871))
    write_story_cloze(tmp_path / STORY_CLOZE_TEST, story_cloze_rows(3)[::-1])
    data = load_task_dataset("rocstories", tmp_path)
    assert {split: len(data[split]) for split in data} == {"train": 1497, "validation": 374, "test": 3}
    spec = get_task("rocstories")
    assert data["test"].column_names == list(spec.columns)
    # AnswerRightEnding 1 / 2 -> label 0 / 1; the comma inside the first sentence survives the CSV quoting.
    assert as_rows(data["test"], spec)[0] == (
        "Story 2 starts, calmly.",
        "Then",
        "more",
        "happens.",
        "Ending A2.",
        "Ending B2.",
        0,
    )
    assert data["test"]["label"] == [0, 1, 0]
    for row in data["train"].select(range(20)):
        story = int(row["ending0"][len("Ending A") : -1])
        assert row["sentence1"] == f"Story {story} starts, calmly." and row["label"] == story % 2


def test_story_cloze_split_is_the_released_one(tmp_path):
    write_story_cloze(tmp_path / STORY_CLOZE_VAL, story_cloze_rows(1871))
    first = load_task_dataset("rocstories", tmp_path)
    second = load_task_dataset("rocstories", tmp_path, splits=["validation"])
    assert len(first["train"]) == 1497 and len(first["validation"]) == 374
    assert second["validation"]["ending0"] == first["validation"]["ending0"]

    def story_ids(split):
        return [int(ending[len("Ending A") : -1]) for ending in split["ending0"]]

    train, validation = story_ids(first["train"]), story_ids(first["validation"])
    assert sorted(train + validation) == list(range(1871))
    # sklearn's train_test_split(test_size=374, random_state=seed): the first 374 of the seeded permutation.
    permutation = np.random.RandomState(STORY_CLOZE_SEED).permutation(1871)
    assert validation == permutation[:374].tolist() and train == permutation[374:].tolist()


def test_story_cloze_split_needs_more_stories_than_it_holds_out():
    with pytest.raises(ValueError, match="holds out 374 stories; the file has 300"):
        story_cloze_split(datasets.Dataset.from_dict({"x": list(range(300))}))


def test_story_cloze_test_file_without_answers_gets_label_minus_one(tmp_path):
    write_story_cloze(tmp_path / STORY_CLOZE_TEST, story_cloze_rows(2, with_answer=False), STORY_CLOZE_HEADER[:-1])
    assert load_task_dataset("rocstories", tmp_path)["test"]["label"] == [-1, -1]


def test_story_cloze_needs_local_files():
    with pytest.raises(ValueError, match="rocstories has no downloadable copy: pass data_dir"):
        load_task_dataset("rocstories")


# --- errors ---------------------------------------------------------------------------------------------


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"none of the expected files .*'dev.tsv'.*is in"):
        load_task_dataset("rte", tmp_path)
    write_files(tmp_path, {"train.tsv": SAMPLES["rte"][0]["train.tsv"]})
    with pytest.raises(FileNotFoundError, match="the validation split needs dev.tsv in"):
        load_task_dataset("rte", tmp_path, splits=["train", "validation"])
    with pytest.raises(FileNotFoundError, match="validation split needs cloze_test_val__spring2016"):
        load_task_dataset("rocstories", tmp_path, splits=["validation"])
    with pytest.raises(NotADirectoryError, match="not a directory"):
        load_task_dataset("rte", tmp_path / "train.tsv")


@pytest.mark.parametrize(
    "name, files, message",
    [
        (
            "sst2",
            {"train.tsv": "text\tlabel\nfine\t1\n"},
            r"lacks the column\(s\) \['sentence'\]; its columns are \['text', 'label'\]",
        ),
        ("sst2", {"train.tsv": "sentence\nfine\n"}, r"lacks the column\(s\) \['label'\]"),
        (
            "sst2",
            {"train.tsv": "sentence\tlabel\nfine\t2\n"},
            r"unexpected label\(s\) \['2'\]; sst2 labels are \['0', '1'\]",
        ),
        (
            "rte",
            {"dev.tsv": "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n"},
            r"unexpected label\(s\) \['maybe'\]",
        ),
        ("stsb", {"train.tsv": f"{STSB_HEADER}\tscore\n0\tg\tf\ty\t1\tn\tn\ta\tb\thigh\n"}, "not numbers"),
        (
            "stsb",
            {
                "train.tsv": f"{STSB_HEADER}\tscore\n"
                + "".join(
                    f"{i}\tg\tf\ty\t1\tn\tn\ta\tb\t{s}\n"
                    for i, s in enumerate(["1.5", "nan", "2", "inf", "-Infinity"])
                )
            },
            r"3 label\(s\) are not finite numbers, at line 3 \('nan'\), line 5 \('inf'\), line 6 \('-Infinity'\)",
        ),
        (
            "cola",
            {"train.tsv": "gj04\t1\tA sentence.\n"},
            r"has 3 tab-separated columns; expected 4 \(source, label, mark, sentence\)",
        ),
        (
            "qqp",
            {"train.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n0\t1\t2\ta\tb\t1\textra\tmore\n"},
            "cannot read",
        ),
    ],
)
def test_wrong_columns_and_labels_name_the_file(name, files, message, tmp_path):
    write_files(tmp_path, files)
    with pytest.raises(ValueError, match=message) as error:
        load_task_dataset(name, tmp_path)
    assert str(tmp_path / next(iter(files))) in str(error.value)


def test_story_cloze_wrong_columns(tmp_path):
    header = ["InputStoryid", "Sentence1", *STORY_CLOZE_HEADER[2:]]
    write_story_cloze(tmp_path / STORY_CLOZE_VAL, story_cloze_rows(400), header)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['InputSentence1'\]"):
        load_task_dataset("rocstories", tmp_path)


def test_bad_arguments(tmp_path):
    write_files(tmp_path, SAMPLES["rte"][0])
    with pytest.raises(ValueError, match=r"rte has no split\(s\) \['dev'\]"):
        load_task_dataset("rte", tmp_path, splits=["dev"])
    with pytest.raises(TypeError, match="only apply when loading from the Hub"):
        load_task_dataset("rte", tmp_path, cache_dir=str(tmp_path))


# --- the Hub path ---------------------------------------------------------------------------------------


@pytest.fixture
def fake_hub(monkeypatch):
    """Replace `datasets.load_dataset` by a stand-in that returns the given Hub-shaped splits and records the call."""
    calls = []

    def install(features=None, **splits):
        hub = datasets.DatasetDict(
            {name: datasets.Dataset.from_dict(columns, features=features) for name, columns in splits.items()}
        )
        monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: calls.append((args, kwargs)) or hub)
        return calls

    return install


def test_hub_glue_keeps_the_normalised_columns(fake_hub):
    labels = datasets.ClassLabel(names=["negative", "positive"])
    features = datasets.Features(
        {"sentence": datasets.Value("string"), "label": labels, "idx": datasets.Value("int32")}
    )
    calls = fake_hub(features, train={"sentence": ["good", "bad"], "label": [1, 0], "idx": [0, 1]})
    data = load_task_dataset("sst2", cache_dir="/somewhere")
    assert calls == [(("nyu-mll/glue", "sst2"), {"cache_dir": "/somewhere"})]
    assert data["train"].column_names == ["sentence", "label"] and data["train"]["label"] == [1, 0]


def test_hub_snli_drops_pairs_without_gold_label(fake_hub):
    calls = fake_hub(train={"premise": ["a", "b", "c"], "hypothesis": ["x", "y", "z"], "label": [0, -1, 2]})
    data = load_task_dataset("snli")
    assert calls[0][0] == ("stanfordnlp/snli", None)
    assert as_rows(data["train"], get_task("snli")) == [("a", "x", 0), ("c", "z", 2)]


def test_hub_scitail_encodes_string_labels(fake_hub):
    calls = fake_hub(test={"premise": ["p", "q"], "hypothesis": ["h", "i"], "label": ["neutral", "entails"]})
    data = load_task_dataset("scitail")
    assert calls[0][0] == ("allenai/scitail", "tsv_format")
    assert data["test"]["label"] == [1, 0]


def test_hub_race_matches_the_local_layout(fake_hub, tmp_path):
    questions = RACE_PASSAGE["questions"]
    calls = fake_hub(
        validation={
            "example_id": ["high1.txt"] * 2,
            "article": [RACE_PASSAGE["article"]] * 2,
            "question": questions,
            "options": RACE_PASSAGE["options"],
            "answer": RACE_PASSAGE["answers"],
        }
    )
    hub = load_task_dataset("race_high", splits=["validation"])
    assert calls[0][0] == ("ehovy/race", "high")
    write_race(tmp_path, "dev", "high", "1.txt", RACE_PASSAGE)
    local = load_task_dataset("race_high", tmp_path)
    assert hub["validation"].to_list() == local["validation"].to_list()
    assert hub["validation"].features == local["validation"].features


# --- metric_fn ------------------------------------------------------------------------------------------


def test_metric_fn_takes_the_argmax_of_logits():
    compute = metric_fn("mrpc")
    logits = np.array([[0.1, 2.0], [3.0, -1.0], [0.0, 0.5], [1.0, 0.0]])  # predicts 1, 0, 1, 0
    result = compute(EvalPrediction(predictions=logits, label_ids=np.array([1, 0, 0, 0])))
    assert result == pytest.approx({"accuracy": 0.75, "f1": 2 / 3})
    # Extra model outputs after the logits are ignored; class ids from preprocess_logits_for_metrics work too.
    assert compute(EvalPrediction(predictions=(logits, np.zeros((4, 7))), label_ids=np.array([1, 0, 1, 0]))) == {
        "accuracy": 1.0,
        "f1": 1.0,
    }
    class_ids = EvalPrediction(predictions=np.array([1, 1, 1, 1]), label_ids=np.array([1, 0, 1, 0]))
    assert compute(class_ids)["accuracy"] == 0.5


def test_metric_fn_for_multiple_choice_and_regression():
    choice_scores = np.array([[0.0, 1.0, 0.2, 0.1], [2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0]])
    assert metric_fn("race")(EvalPrediction(choice_scores, np.array([1, 0, 2]))) == pytest.approx({"accuracy": 2 / 3})
    scores = np.array([[1.0], [2.0], [3.0]])
    result = metric_fn("stsb")(EvalPrediction(scores, np.array([1.0, 3.0, 2.0])))
    assert result == pytest.approx({"pearson": 0.5, "spearmanr": 0.5})


def test_metric_fn_rejects_predictions_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"expected logits of shape \[batch, 3\]"):
        metric_fn("mnli")(EvalPrediction(np.zeros((2, 2)), np.array([0, 1])))
    with pytest.raises(ValueError, match=r"expected scores of shape \[batch\] or \[batch, 1\]"):
        metric_fn("stsb")(EvalPrediction(np.zeros((2, 2)), np.array([0.0, 1.0])))
