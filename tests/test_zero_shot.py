"""The zero-shot heuristics (paper section 5) on a tiny model and tokenizer built here: the scoring against a slow
token-by-token reference, batching and padding invariance, multi-token words, and models made to prefer an answer."""

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from finetune_helpers import write_model, write_sst2
from transformers import AutoTokenizer

from modeling_gpt1 import GPT1Config, GPT1LMHeadModel
from modeling_gpt1.tokenization_gpt1 import train_gpt1_tokenizer
from modeling_gpt1.zero_shot import (
    CHANCE,
    acceptability,
    continuation_log_probs,
    evaluate_zero_shot,
    fit_threshold,
    multiple_choice,
    normalized_score,
    pronoun_resolution,
    pronoun_span,
    read_pronoun_file,
    sentiment,
)


CORPUS = [
    "the film is very good and the story is very funny .",
    "the man saw the dog because he was hungry .",
    "a dull story , the film was bad .",
    "she went home and the cat sat on the mat .",
    "the trophy did not fit in the case because it was too big .",
    "very good , very bad , very funny , very dull .",
]


@pytest.fixture(scope="module")
def tokenizer():
    # A vocabulary this small leaves "positive" and "negative" (never seen whole) as several tokens each.
    return train_gpt1_tokenizer(iter(CORPUS * 3), vocab_size=60, min_frequency=1, show_progress=False)


def tiny_lm(tokenizer, seed: int = 0, **overrides) -> GPT1LMHeadModel:
    torch.manual_seed(seed)
    config = GPT1Config(
        vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=4, initializer_range=0.2, **overrides
    )
    return GPT1LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_lm(tokenizer)


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def reference_token_log_probs(model, tokenizer, context: str, continuation: str) -> list[float]:
    """Slow reference: the example alone (no batch, no padding, no mask), the model's full logits, and for each
    continuation token the log-softmax of the position before it, read one position at a time."""
    context_ids, continuation_ids = ids(tokenizer, context), ids(tokenizer, continuation)
    row = context_ids + continuation_ids
    with torch.no_grad():
        logits = model(torch.tensor([row])).logits[0].double()
    return [torch.log_softmax(logits[t - 1], -1)[row[t]].item() for t in range(max(len(context_ids), 1), len(row))]


PAIRS = [
    ("the film is", " very good"),
    ("", "the man saw the dog ."),  # empty context: the first token is not scored
    ("she went home and the cat sat on", " the mat"),
    ("a dull story , the film was bad . the film is very", " positive"),
    ("the trophy did not fit", " in the case because it was too big ."),
]


def test_continuation_scores_match_a_token_by_token_reference(model, tokenizer):
    contexts, continuations = zip(*PAIRS)
    scores = continuation_log_probs(model, tokenizer, contexts, continuations, return_token_log_probs=True)
    for i, (context, continuation) in enumerate(PAIRS):
        reference = reference_token_log_probs(model, tokenizer, context, continuation)
        np.testing.assert_allclose(scores.token_log_probs[i], reference, atol=1e-5)
        assert scores.n_tokens[i] == len(reference)
        np.testing.assert_allclose(scores.total[i], sum(reference), atol=1e-4)
        np.testing.assert_allclose(scores.mean[i], np.mean(reference), atol=1e-5)
    assert scores.n_tokens[1] == len(ids(tokenizer, PAIRS[1][1])) - 1


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("batch_size", [2, 5])
def test_a_batch_gives_the_scores_of_one_example_at_a_time(model, tokenizer, padding_side, batch_size):
    contexts, continuations = zip(*PAIRS)
    alone = [continuation_log_probs(model, tokenizer, [c], [x]).total[0] for c, x in PAIRS]
    batched = continuation_log_probs(
        model, tokenizer, contexts, continuations, batch_size=batch_size, padding_side=padding_side
    )
    np.testing.assert_allclose(batched.total, alone, atol=1e-5)


def test_contexts_longer_than_the_model_lose_their_start(model, tokenizer):
    context = " ".join(CORPUS)  # far beyond 20 tokens
    continuation = " the cat sat"
    scores = continuation_log_probs(model, tokenizer, [context], [continuation], max_length=20)
    kept = 20 - len(ids(tokenizer, continuation))
    row = ids(tokenizer, context)[-kept:] + ids(tokenizer, continuation)
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([row])).logits[0].double(), -1)
    expected = sum(log_probs[t - 1, row[t]].item() for t in range(kept, len(row)))
    np.testing.assert_allclose(scores.total[0], expected, atol=1e-4)
    assert scores.n_tokens[0] == len(ids(tokenizer, continuation))


def test_scoring_runs_in_eval_mode_and_restores_training_mode(tokenizer):
    model = tiny_lm(tokenizer, embd_pdrop=0.5, resid_pdrop=0.5, attn_pdrop=0.5).train()
    first = continuation_log_probs(model, tokenizer, ["the film is"], [" very good"]).total
    second = continuation_log_probs(model, tokenizer, ["the film is"], [" very good"]).total
    np.testing.assert_array_equal(first, second)  # no dropout
    assert model.training


def bias_logits(model, tokenizer, prefer: list[str], others: list[str], value: float = 8.0):
    """Add `value` to the output logits of the tokens of the `prefer` texts that no text of `others` has (a forward
    hook on the output layer): shared tokens stay as they were, so only the difference between the texts decides."""
    shared = {token for text in others for token in ids(tokenizer, text)}
    tokens = sorted({token for text in prefer for token in ids(tokenizer, text)} - shared)
    assert tokens, f"{prefer} has no token of its own"
    bias = torch.zeros(model.config.vocab_size)
    bias[tokens] = value
    return model.get_output_embeddings().register_forward_hook(lambda module, inputs, output: output + bias)


SENTENCES = ["the film is very good .", "a dull story .", "the cat sat on the mat ."]


def test_sentiment_scores_whole_multi_token_words(model, tokenizer):
    assert len(ids(tokenizer, " positive")) > 1 and len(ids(tokenizer, " negative")) > 1
    result = sentiment(model, tokenizer, SENTENCES)
    assert result.scores.shape == (3, 2) and result.predictions.shape == (3,)
    for i, sentence in enumerate(SENTENCES):
        for label, word in enumerate(("negative", "positive")):
            expected = sum(reference_token_log_probs(model, tokenizer, f"{sentence} very", f" {word}"))
            np.testing.assert_allclose(result.scores[i, label], expected, atol=1e-4)
    np.testing.assert_array_equal(result.predictions, result.scores.argmax(1))


def test_sentiment_follows_a_model_made_to_prefer_a_word(model, tokenizer):
    words = {1: " positive", 0: " negative"}
    for preferred in (1, 0):
        hook = bias_logits(model, tokenizer, [words[preferred]], [words[1 - preferred]])
        try:
            result = sentiment(model, tokenizer, SENTENCES)
        finally:
            hook.remove()
        assert result.predictions.tolist() == [preferred] * 3


def test_sentiment_takes_other_cues_and_words(model, tokenizer):
    result = sentiment(model, tokenizer, SENTENCES[:2], cue="is", words=("bad", "good", "funny"))
    assert result.scores.shape == (2, 3)
    expected = sum(reference_token_log_probs(model, tokenizer, f"{SENTENCES[1]} is", " funny"))
    np.testing.assert_allclose(result.scores[1, 2], expected, atol=1e-4)


def test_acceptability_is_the_average_log_probability_against_a_threshold(model, tokenizer):
    result = acceptability(model, tokenizer, SENTENCES)
    for i, sentence in enumerate(SENTENCES):
        np.testing.assert_allclose(
            result.scores[i], np.mean(reference_token_log_probs(model, tokenizer, "", sentence)), atol=1e-5
        )
    assert result.threshold == pytest.approx(np.median(result.scores))
    np.testing.assert_array_equal(result.predictions, (result.scores > result.threshold).astype(int))
    fixed = acceptability(model, tokenizer, SENTENCES, threshold=-1e9)
    assert fixed.predictions.tolist() == [1, 1, 1] and fixed.threshold == -1e9
    # A prefix scores the first token too.
    prefixed = acceptability(model, tokenizer, SENTENCES[:1], prefix="\n")
    expected = np.mean(reference_token_log_probs(model, tokenizer, "\n", SENTENCES[0]))
    np.testing.assert_allclose(prefixed.scores[0], expected, atol=1e-5)


def test_acceptability_follows_a_model_made_to_prefer_a_sentence(model, tokenizer):
    good, odd = "the film is very good .", "cat mat dog sat"
    for preferred, expected in ((good, [1, 0]), (odd, [0, 1])):
        hook = bias_logits(model, tokenizer, [preferred], [good if preferred == odd else odd])
        try:
            result = acceptability(model, tokenizer, [good, odd], threshold=None)
        finally:
            hook.remove()
        assert result.predictions.tolist() == expected


def test_fit_threshold_picks_the_best_cut():
    scores = np.array([-5.0, -4.0, -3.0, -2.5, -1.0, np.nan])
    labels = np.array([0, 0, 1, 1, 1, 0])
    threshold = fit_threshold(scores, labels)
    assert -4.0 < threshold < -3.0
    assert fit_threshold(scores, labels, metric="accuracy") == pytest.approx(threshold)
    with pytest.raises(ValueError, match="as many scores as labels"):
        fit_threshold(scores, labels[:3])


def test_multiple_choice_picks_the_answer_with_the_best_average(model, tokenizer):
    contexts = ["the man saw the dog because", "she went home and"]
    choices = [[" he was hungry .", "the cat sat on the mat ."], ["the cat sat .", "the film was bad ."]]
    result = multiple_choice(model, tokenizer, contexts, choices, batch_size=3)
    assert result.scores.shape == (2, 2)
    for i, context in enumerate(contexts):
        for k, answer in enumerate(choices[i]):
            expected = np.mean(reference_token_log_probs(model, tokenizer, context, " " + answer.strip()))
            np.testing.assert_allclose(result.scores[i, k], expected, atol=1e-5)
    np.testing.assert_array_equal(result.predictions, result.scores.argmax(1))
    for context, answers in zip(contexts, choices):
        for preferred in (0, 1):
            hook = bias_logits(model, tokenizer, [answers[preferred]], [answers[1 - preferred]])
            try:
                assert multiple_choice(model, tokenizer, [context], [answers]).predictions.tolist() == [preferred]
            finally:
                hook.remove()
    with pytest.raises(ValueError, match="same number of choices"):
        multiple_choice(model, tokenizer, contexts, [["a", "b"], ["c"]])


def test_pronoun_resolution_scores_the_rest_of_the_sentence(model, tokenizer):
    sentences = ["the trophy did not fit in the case because it was too big .", "the man saw the dog because he was"]
    pronouns = ["it", (28, 30)]
    candidates = [["the trophy", "the case"], ["the man", "the dog"]]
    assert sentences[1][28:30] == "he"
    result = pronoun_resolution(model, tokenizer, sentences, pronouns, candidates)
    assert result.scores.shape == (2, 2)
    heads_rests = [
        ("the trophy did not fit in the case because ", " was too big ."),
        ("the man saw the dog because ", " was"),
    ]
    for i, (head, rest) in enumerate(heads_rests):
        for k, candidate in enumerate(candidates[i]):
            expected = np.mean(reference_token_log_probs(model, tokenizer, head + candidate, rest))
            np.testing.assert_allclose(result.scores[i, k], expected, atol=1e-5)
    np.testing.assert_array_equal(result.predictions, result.scores.argmax(1))


class BigramLM(torch.nn.Module):
    """Not a GPT-1: the next-token logits depend on the current token only (`table[token]`). It has no output layer
    of its own (`get_output_embeddings()` is None), so the scoring takes its full logits."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.config = SimpleNamespace(n_positions=64)
        self.table = torch.nn.Embedding(vocab_size, vocab_size)
        torch.nn.init.zeros_(self.table.weight)

    def get_input_embeddings(self):
        return self.table

    def get_output_embeddings(self):
        return None

    def forward(self, input_ids, attention_mask=None, use_cache=False):
        return SimpleNamespace(logits=self.table(input_ids))


def test_pronoun_resolution_follows_a_model_that_prefers_a_candidate(tokenizer):
    sentence = "the man saw the dog because he was hungry ."
    candidates = ["the man", "the dog"]
    last_tokens = [ids(tokenizer, candidate)[-1] for candidate in candidates]
    first_rest_token = ids(tokenizer, " was hungry .")[0]
    assert last_tokens[0] != last_tokens[1]
    for preferred in (0, 1):
        model = BigramLM(len(tokenizer))
        with torch.no_grad():  # "was" is likely only right after the preferred candidate
            model.table.weight[last_tokens[preferred], first_rest_token] = 10.0
        result = pronoun_resolution(model, tokenizer, [sentence], ["he"], [candidates])
        assert result.predictions.tolist() == [preferred]
        expected = np.mean(
            reference_token_log_probs(model, tokenizer, "the man saw the dog because the dog", " was hungry .")
        )
        np.testing.assert_allclose(result.scores[0, 1], expected, atol=1e-5)


def test_pronoun_errors_are_clear(model, tokenizer):
    assert pronoun_span("It was him, it said", "it") == (0, 2)
    assert pronoun_span("the pit and it", "it") == (12, 14)  # a whole word, not inside "pit"
    with pytest.raises(ValueError, match="not a word of"):
        pronoun_resolution(model, tokenizer, ["the man saw the dog"], ["she"], [["a", "b"]])
    with pytest.raises(ValueError, match="nothing follows the pronoun"):
        pronoun_resolution(model, tokenizer, ["the dog saw him"], ["him"], [["a", "b"]])
    with pytest.raises(ValueError, match="has no tokens"):
        continuation_log_probs(model, tokenizer, ["the"], [""])


def test_normalized_score_places_chance_at_0_and_the_reference_at_1():
    assert normalized_score(0.5, CHANCE["sst2"], 0.913) == 0
    assert normalized_score(0.913, CHANCE["sst2"], 0.913) == pytest.approx(1)
    assert normalized_score(0.25, CHANCE["cola"], 0.5) == pytest.approx(0.5)
    assert normalized_score(0.4, 0.5, 0.9) < 0  # below chance
    with pytest.raises(ValueError, match="must differ"):
        normalized_score(0.5, 0.5, 0.5)


def test_evaluate_zero_shot_on_task_columns(model, tokenizer, tmp_path):
    sst2 = {"sentence": SENTENCES, "label": [1, 0, 1]}
    report = evaluate_zero_shot(model, tokenizer, "sst2", sst2)
    assert report["metric"] == "accuracy" and report["examples"] == 3 and report["chance"] == 0.5
    assert report["score"] == pytest.approx(np.mean(report["result"].predictions == np.array([1, 0, 1])))
    assert report["normalized"] == pytest.approx((report["score"] - 0.5) / (0.913 - 0.5))

    cola = evaluate_zero_shot(model, tokenizer, "cola", {"sentence": SENTENCES, "label": [1, 0, 1]}, threshold=-3.0)
    assert cola["metric"] == "matthews_correlation" and cola["threshold"] == -3.0

    story = {
        **{f"sentence{i}": ["the man saw the dog ."] * 2 for i in range(1, 5)},
        "ending0": ["he was hungry .", "the film is bad ."],
        "ending1": ["the cat sat .", "she went home ."],
        "label": [0, 1],
    }
    report = evaluate_zero_shot(model, tokenizer, "rocstories", story, supervised=0.8)
    direct = multiple_choice(model, tokenizer, [" ".join(["the man saw the dog ."] * 4)] * 2, [
        ["he was hungry .", "the cat sat ."], ["the film is bad .", "she went home ."]])  # fmt: skip
    np.testing.assert_allclose(report["result"].scores, direct.scores)
    assert report["supervised"] == 0.8

    path = tmp_path / "dprd.jsonl"
    rows = [
        {"sentence": "the man saw the dog because he was hungry .", "pronoun": "he",
         "candidates": ["the man", "the dog"], "label": 1},
        {"sentence": "the trophy did not fit because it was big .", "pronoun": [31, 33],
         "candidates": ["the trophy", "the case"], "label": 0},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    columns = read_pronoun_file(path)
    assert columns["pronoun"][1] == (31, 33)
    report = evaluate_zero_shot(model, tokenizer, "dprd", columns)
    assert report["normalized"] is None and report["examples"] == 2
    with pytest.raises(ValueError, match="no zero-shot heuristic"):
        evaluate_zero_shot(model, tokenizer, "rte", sst2)


GOOD_PRONOUN_LINE = {"sentence": "the cat saw it .", "pronoun": "it", "candidates": ["the cat", "the dog"], "label": 0}


@pytest.mark.parametrize(
    "bad, complaint",
    [
        ({"label": 3}, "line 2: label 3 is not the index of a candidate"),
        ({"label": True}, "line 2: label True is not the index of a candidate"),
        ({"pronoun": "he"}, "line 2: the pronoun 'he' is not a word of 'the cat saw it .'"),
        ({"sentence": "the cat saw it"}, "line 2: nothing follows the pronoun in 'the cat saw it'"),
        ({"pronoun": [12, 30]}, "line 2: pronoun span (12, 30) is outside"),
        ({"pronoun": 12}, "line 2: a pronoun is a word or a (start, end) character span, got 12"),
        ({"candidates": ["a", "b", "c"]}, "line 2: 3 candidates where the first line has 2"),
        ({"candidates": "the cat"}, "line 2: candidates must be a list of noun phrases"),
        ({"sentence": 7}, "line 2: the sentence must be a string"),
    ],
)
def test_read_pronoun_file_names_bad_lines(tmp_path, bad, complaint):
    """Every line is checked when read: a pronoun not found or at the sentence's end, and candidate counts that
    differ, failed only while scoring, with a traceback from the command line."""
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD_PRONOUN_LINE) + "\n" + json.dumps({**GOOD_PRONOUN_LINE, **bad}) + "\n")
    with pytest.raises(ValueError) as error:
        read_pronoun_file(path)
    assert str(error.value).startswith(f"{path} {complaint}")


def test_read_pronoun_file_names_a_line_that_is_not_json(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n")
    with pytest.raises(ValueError, match="line 1 is not JSON"):
        read_pronoun_file(path)


# ---------------------------------------------------------------------------------------------------------
# examples/zero_shot.py


def load_script():
    path = Path(__file__).resolve().parents[1] / "examples" / "zero_shot.py"
    spec = importlib.util.spec_from_file_location("zero_shot_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load_script()


def write_cola(folder: Path) -> Path:
    """CoLA's headerless layout: source, label, original mark, sentence."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(1, "the cat sat on the mat ."), (0, "mat the on sat cat the ."), (1, "a dog ran home ."),
            (0, "ran dog a home ."), (1, "she saw the film ."), (0, "film the saw she .")]  # fmt: skip
    lines = "".join(f"src\t{label}\t{'' if label else '*'}\t{text}\n" for label, text in rows)
    (folder / "train.tsv").write_text(lines)
    (folder / "dev.tsv").write_text(lines)
    return folder


@pytest.fixture(scope="module")
def script_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zero_shot_script")
    model = write_model(folder / "model")
    dprd = folder / "dprd.jsonl"
    dprd.write_text(
        json.dumps({"sentence": "the man saw the dog because he was hungry .", "pronoun": "he",
                    "candidates": ["the man", "the dog"], "label": 1}) + "\n"
    )  # fmt: skip
    return {"model": model, "sst2": write_sst2(folder / "SST-2"), "cola": write_cola(folder / "CoLA"), "dprd": dprd}


def test_the_script_scores_tasks_and_writes_json(script_data, tmp_path, capsys):
    output = tmp_path / "zero_shot.json"
    data = script_data
    rows = script.main(
        [str(data["model"]), "--task", "sst2", "cola", "dprd", "--data_dir", str(data["sst2"]), str(data["cola"]),
         str(data["dprd"]), "--supervised", "0.9", "0.5", "0.8", "--output_file", str(output), "--batch_size", "3"]
    )  # fmt: skip
    assert [row["task"] for row in rows] == ["sst2", "cola", "dprd"]
    assert rows[0]["examples"] == 8 and rows[0]["chance"] == 0.5 and rows[0]["majority"] == 0.5
    assert rows[0]["normalized"] == pytest.approx((rows[0]["score"] - 0.5) / (0.9 - 0.5))
    assert rows[1]["metric"] == "matthews_correlation" and rows[1]["threshold"] is not None
    assert rows[2]["examples"] == 1
    table = capsys.readouterr().out
    assert "sst2 | sentiment | accuracy" in table and "cola | acceptability" in table
    assert json.loads(output.read_text()) == rows

    # The same scores as the library on the same examples.
    model = GPT1LMHeadModel.from_pretrained(data["model"])
    tokenizer = AutoTokenizer.from_pretrained(data["model"])
    dev = script.load_examples("sst2", str(data["sst2"]), "validation", None)
    assert rows[0]["score"] == evaluate_zero_shot(model, tokenizer, "sst2", dev)["score"]


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--task", "sst2", "--data_dir", "a", "b"], "--data_dir takes one value per --task"),
        (["--task", "cola", "--cola_threshold", "high"], "--cola_threshold must be 'fit', 'median' or a number"),
        (["--task", "rte"], "invalid choice: 'rte'"),
        (["--task", "sst2", "--data_dir", "/nonexistent/SST-2"], "/nonexistent/SST-2 is not a directory"),
        (["--task", "dprd"], "dprd has no Hub copy here"),
        (["--task", "sst2", "--split", "train[a:]"], "--split must be a split name, optionally sliced"),
        (["--task", "sst2", "cola", "--split", "a", "b", "c"], "--split takes one split for every task or one per"),
        (["--task", "cola", "--supervised", "0"], "--supervised 0.0 for cola: the reference must be a finite score"),
        (["--task", "sst2", "--supervised", "nan"], "--supervised nan for sst2: the reference must be a finite score"),
    ],
)
def test_the_command_line_reports_user_errors_in_one_line(script_data, capsys, extra, complaint):
    with pytest.raises(SystemExit) as exit_info:
        script.cli([str(script_data["model"]), *extra])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert complaint in err and len(err.splitlines()) == 1


def test_a_bad_pronoun_file_is_one_line_too(script_data, tmp_path, capsys):
    bad = tmp_path / "dprd.jsonl"
    bad.write_text(json.dumps({**GOOD_PRONOUN_LINE, "sentence": "the cat saw the dog ."}) + "\n")
    with pytest.raises(SystemExit) as exit_info:
        script.cli([str(script_data["model"]), "--task", "dprd", "--data_dir", str(bad)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert f"{bad} line 1: the pronoun 'it' is not a word of" in err and len(err.splitlines()) == 1


def test_a_folder_without_a_model_is_one_line_too(script_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        script.cli([str(tmp_path), "--task", "sst2", "--data_dir", str(script_data["sst2"])])
    assert exit_info.value.code == 2
    assert "no saved model there" in capsys.readouterr().err


def test_the_script_warns_about_a_collapsed_model(script_data, tmp_path, capsys):
    model = GPT1LMHeadModel.from_pretrained(script_data["model"])
    with torch.no_grad():  # every input now gives the same final states
        model.transformer.h[-1].ln_2.weight.zero_()
    model.save_pretrained(tmp_path / "collapsed")
    AutoTokenizer.from_pretrained(script_data["model"]).save_pretrained(tmp_path / "collapsed")
    argv = ["--task", "sst2", "--data_dir", str(script_data["sst2"])]
    rows = script.main([str(tmp_path / "collapsed"), *argv])
    assert rows[0]["hidden_spread"] < 1e-4 and rows[0]["predicted_classes"] == 1
    assert "WARNING" in capsys.readouterr().err
    healthy = script.main([str(script_data["model"]), *argv])
    assert healthy[0]["hidden_spread"] > 0.1
    assert "WARNING" not in capsys.readouterr().err


def test_a_slice_of_the_training_file_is_scored_and_cola_fits_on_the_rest(script_data, monkeypatch):
    fitted_on = []
    real_fit = script.fit_threshold
    monkeypatch.setattr(
        script, "fit_threshold", lambda scores, labels: fitted_on.append(len(labels)) or real_fit(scores, labels)
    )
    rows = script.main(
        [str(script_data["model"]), "--task", "sst2", "cola", "--data_dir", str(script_data["sst2"]),
         str(script_data["cola"]), "--split", "train[-10:]", "train[-2:]"]
    )  # fmt: skip
    assert [row["examples"] for row in rows] == [10, 2] and rows[0]["split"] == "train[-10:]"
    assert fitted_on == [4]  # CoLA's 6 training sentences less the 2 scored
    sst2 = script.load_examples("sst2", str(script_data["sst2"]), "train[-10:]", None)
    train = script.load_examples("sst2", str(script_data["sst2"]), "train", None)
    assert sst2["sentence"] == train["sentence"][-10:]
    assert script.parse_split("train[:5]") == ("train", slice(None, 5))
