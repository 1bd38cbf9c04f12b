import pytest
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from modeling_gpt1 import GPT1Config
from modeling_gpt1.tokenization_gpt1 import add_gpt1_special_tokens
from modeling_gpt1.transforms import (
    InputTransform,
    SpecialTokenIds,
    classification,
    entailment,
    multiple_choice,
    similarity,
)


S = SpecialTokenIds(start=1, delimiter=2, extract=3, pad=0)
START, DELIM, EXTRACT = S.start, S.delimiter, S.extract


def ids(n, offset=10):
    return list(range(offset, offset + n))


def longest_first_reference(first, second, budget):
    """The rule spelled out: drop the last token of the longer segment (the second on ties) until they fit."""
    first, second = list(first), list(second)
    while len(first) + len(second) > budget:
        if len(first) > len(second):
            first.pop()
        else:
            second.pop()
    return first, second


# --- token layout -------------------------------------------------------------------------------------------


def test_classification_layout():
    assert classification([10, 11, 12], S, 16) == [START, 10, 11, 12, EXTRACT]


def test_entailment_layout():
    assert entailment([10, 11], [20], S, 16) == [START, 10, 11, DELIM, 20, EXTRACT]


def test_similarity_gives_both_orderings():
    assert similarity([10, 11], [20], S, 16) == [
        [START, 10, 11, DELIM, 20, EXTRACT],
        [START, 20, DELIM, 10, 11, EXTRACT],
    ]


def test_multiple_choice_one_sequence_per_answer():
    assert multiple_choice([10, 11], [[20], [30, 31], [40]], S, 16) == [
        [START, 10, 11, DELIM, 20, EXTRACT],
        [START, 10, 11, DELIM, 30, 31, EXTRACT],
        [START, 10, 11, DELIM, 40, EXTRACT],
    ]
    with pytest.raises(ValueError, match="at least one answer"):
        multiple_choice([10], [], S, 16)


def test_empty_fields_keep_special_tokens():
    assert classification([], S, 8) == [START, EXTRACT]
    assert entailment([], [], S, 8) == [START, DELIM, EXTRACT]
    assert similarity([], [20], S, 8) == [[START, DELIM, 20, EXTRACT], [START, 20, DELIM, EXTRACT]]
    assert multiple_choice([], [[], [20]], S, 8) == [[START, DELIM, EXTRACT], [START, DELIM, 20, EXTRACT]]


# --- truncation ---------------------------------------------------------------------------------------------


def test_classification_truncates_the_end_of_the_text():
    text = ids(20)
    out = classification(text, S, 8)
    assert out == [START, *text[:6], EXTRACT]


def test_longest_first_cuts_the_longer_segment_first():
    premise, hypothesis = ids(10), ids(3, offset=50)
    out = entailment(premise, hypothesis, S, 10)
    assert len(out) == 10
    assert out == [START, *premise[:4], DELIM, *hypothesis, EXTRACT]  # the short hypothesis is untouched


@pytest.mark.parametrize("max_length", range(3, 26))
@pytest.mark.parametrize("lengths", [(0, 0), (5, 5), (10, 3), (3, 10), (8, 4), (1, 20), (12, 11)])
def test_longest_first_matches_the_one_token_at_a_time_rule(lengths, max_length):
    first, second = ids(lengths[0]), ids(lengths[1], offset=100)
    want_first, want_second = longest_first_reference(first, second, max_length - 3)
    out = entailment(first, second, S, max_length)
    assert out == [START, *want_first, DELIM, *want_second, EXTRACT]
    assert len(out) <= max_length


def test_longest_first_on_ties_cuts_the_second_segment_first():
    a, b = ids(5), ids(5, offset=50)
    assert entailment(a, b, S, 10) == [START, *a[:4], DELIM, *b[:3], EXTRACT]


def test_special_tokens_survive_the_tightest_fit():
    assert entailment(ids(30), ids(30), S, 3) == [START, DELIM, EXTRACT]
    assert classification(ids(30), S, 2) == [START, EXTRACT]
    assert multiple_choice(ids(9), [ids(4)], S, 3, truncation="per_segment") == [[START, DELIM, EXTRACT]]


def test_max_length_too_small_for_special_tokens():
    with pytest.raises(ValueError, match="special tokens"):
        entailment([10], [20], S, 2)
    with pytest.raises(ValueError, match="special tokens"):
        classification([10], S, 1)


def test_similarity_truncates_once_so_both_orderings_hold_the_same_tokens():
    a, b = ids(7), ids(7, offset=50)
    first, second = similarity(a, b, S, 12)
    assert len(first) == len(second) == 12
    kept_a, kept_b = first[1 : first.index(DELIM)], first[first.index(DELIM) + 1 : -1]
    assert second == [START, *kept_b, DELIM, *kept_a, EXTRACT]


def test_multiple_choice_fits_each_answer_within_max_length():
    context, answers = ids(30), [ids(2, offset=100), ids(12, offset=200)]
    out = multiple_choice(context, answers, S, 16)
    assert [len(sequence) for sequence in out] == [16, 16]
    assert out[0] == [START, *context[:11], DELIM, *answers[0], EXTRACT]
    # The context first shrinks to the answer's 12 tokens, then both lose tokens in turn, the answer first.
    assert out[1] == [START, *context[:7], DELIM, *answers[1][:6], EXTRACT]


def test_per_segment_caps_each_part_at_half_the_context_minus_two():
    # The released code: each part at most n_ctx // 2 - 2 tokens, whatever the other part's length.
    context, answers = ids(30), [ids(2, offset=100), ids(12, offset=200)]
    out = multiple_choice(context, answers, S, 16, truncation="per_segment")
    assert out[0] == [START, *context[:6], DELIM, *answers[0], EXTRACT]
    assert out[1] == [START, *context[:6], DELIM, *answers[1][:6], EXTRACT]
    assert entailment(ids(3), ids(9), S, 17, truncation="per_segment") == [START, *ids(3), DELIM, *ids(6), EXTRACT]


def test_per_segment_gives_a_single_segment_the_whole_context():
    assert classification(ids(20), S, 8, truncation="per_segment") == [START, *ids(6), EXTRACT]


def test_bad_arguments():
    with pytest.raises(ValueError, match="truncation"):
        entailment([10], [20], S, 16, truncation="only_first")
    with pytest.raises(TypeError, match="token ids, not text"):
        classification("a sentence", S, 16)


# --- special token ids --------------------------------------------------------------------------------------


def test_special_ids_from_config():
    config = GPT1Config(
        vocab_size=100,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=4,
        start_token_id=90,
        delimiter_token_id=91,
        extract_token_id=92,
        pad_token_id=93,
    )
    assert SpecialTokenIds.from_config(config) == SpecialTokenIds(start=90, delimiter=91, extract=92, pad=93)


# --- InputTransform on datasets -----------------------------------------------------------------------------

WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "yes", "no", "maybe"]


def make_tokenizer(with_gpt1_tokens=True, **kwargs):
    vocab = {token: i for i, token in enumerate(["<pad>", "<unk>", "_start_", "_delimiter_", "_classify_", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    named = {"start_token": "_start_", "delimiter_token": "_delimiter_", "extract_token": "_classify_"}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>" if with_gpt1_tokens else None,
        extra_special_tokens=named if with_gpt1_tokens else {},
        **kwargs,
    )


@pytest.fixture
def tokenizer():
    return make_tokenizer()


def encode(tokenizer, text):
    return tokenizer.convert_tokens_to_ids(text.split())


def test_special_ids_from_tokenizer(tokenizer):
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    assert special == SpecialTokenIds(
        start=tokenizer.convert_tokens_to_ids("_start_"),
        delimiter=tokenizer.convert_tokens_to_ids("_delimiter_"),
        extract=tokenizer.convert_tokens_to_ids("_classify_"),
        pad=tokenizer.convert_tokens_to_ids("<pad>"),
    )


def test_missing_special_tokens_on_tokenizer_is_a_clear_error():
    with pytest.raises(ValueError, match="_start_.*_delimiter_.*_classify_.*<pad>"):
        SpecialTokenIds.from_tokenizer(make_tokenizer(with_gpt1_tokens=False))
    with pytest.raises(ValueError, match="_classify_"):
        InputTransform(make_tokenizer(with_gpt1_tokens=False), "classification", "sentence")


def test_transform_classification(tokenizer):
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    data = Dataset.from_dict({"sentence": ["the cat sat", ""], "label": [1, 0]})
    out = data.map(
        InputTransform(tokenizer, "classification", "sentence"), batched=True, remove_columns=data.column_names
    )
    assert out["input_ids"] == [
        [special.start, *encode(tokenizer, "the cat sat"), special.extract],
        [special.start, special.extract],
    ]
    assert out["labels"] == [1, 0]


def test_transform_entailment_truncates_to_max_length(tokenizer):
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    data = Dataset.from_dict({"premise": ["the cat sat on the mat"], "hypothesis": ["a cat sat"], "label": [2]})
    transform = InputTransform(tokenizer, "entailment", ["premise", "hypothesis"], max_length=8)
    out = data.map(transform, batched=True, remove_columns=data.column_names)
    assert out["input_ids"] == [
        [
            special.start,
            *encode(tokenizer, "the cat sat"),
            special.delimiter,
            *encode(tokenizer, "a cat"),
            special.extract,
        ]
    ]
    assert out["labels"] == [2]


def test_transform_similarity_gives_two_orderings_and_float_labels(tokenizer):
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    data = Dataset.from_dict(
        {"sentence1": ["the cat", "a dog ran"], "sentence2": ["a dog", "the dog"], "score": [0.5, 4.25]}
    )
    out = data.map(
        InputTransform(tokenizer, "similarity", ["sentence1", "sentence2"], label_field="score"),
        batched=True,
        remove_columns=data.column_names,
    )
    a, b = encode(tokenizer, "the cat"), encode(tokenizer, "a dog")
    assert out[0]["input_ids"] == [
        [special.start, *a, special.delimiter, *b, special.extract],
        [special.start, *b, special.delimiter, *a, special.extract],
    ]
    assert out["labels"] == [0.5, 4.25]


def test_transform_multiple_choice_with_joined_context_and_a_list_column(tokenizer):
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    data = Dataset.from_dict(
        {
            "article": ["the cat sat", "a dog ran"],
            "question": ["on the mat", "yes"],
            "options": [["yes", "no", "maybe"], ["no", "yes", "the dog"]],
            "label": [0, 2],
        }
    )
    transform = InputTransform(tokenizer, "multiple_choice", ["article", "question"], answer_fields="options")
    out = data.map(transform, batched=True, remove_columns=data.column_names)
    context = encode(tokenizer, "a dog ran yes")
    assert out[1]["input_ids"] == [
        [special.start, *context, special.delimiter, *encode(tokenizer, answer), special.extract]
        for answer in ["no", "yes", "the dog"]
    ]
    assert [len(choices) for choices in out["input_ids"]] == [3, 3]
    assert out["labels"] == [0, 2]


def test_transform_multiple_choice_with_one_column_per_answer(tokenizer):
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    data = Dataset.from_dict(
        {"s1": ["the cat"], "s2": ["sat on"], "end1": ["the mat"], "end2": ["a dog"], "answer": [1]}
    )
    transform = InputTransform(
        tokenizer,
        "multiple_choice",
        ["s1", "s2"],
        answer_fields=["end1", "end2"],
        label_field="answer",
        truncation="per_segment",
        max_length=8,
    )
    out = data.map(transform, batched=True, remove_columns=data.column_names)
    # per_segment with max_length 8: each part keeps at most 8 // 2 - 2 = 2 tokens.
    context = encode(tokenizer, "the cat")
    assert out[0]["input_ids"] == [
        [special.start, *context, special.delimiter, *encode(tokenizer, "the mat"), special.extract],
        [special.start, *context, special.delimiter, *encode(tokenizer, "a dog"), special.extract],
    ]
    assert out["labels"] == [1]


def test_transform_max_length_defaults(tokenizer):
    assert InputTransform(tokenizer, "classification", "sentence").max_length == 512  # tokenizer sets none
    sized = make_tokenizer(model_max_length=64)
    assert InputTransform(sized, "classification", "sentence").max_length == 64


def test_transform_without_labels(tokenizer):
    transform = InputTransform(tokenizer, "classification", "sentence", label_field=None)
    assert set(transform({"sentence": ["the cat"]})) == {"input_ids"}


def test_transform_bad_arguments(tokenizer):
    with pytest.raises(ValueError, match="family"):
        InputTransform(tokenizer, "regression", "sentence")
    with pytest.raises(ValueError, match="2 text field"):
        InputTransform(tokenizer, "entailment", "premise")
    with pytest.raises(ValueError, match="answer_fields"):
        InputTransform(tokenizer, "multiple_choice", "context")
    with pytest.raises(ValueError, match="truncation"):
        InputTransform(tokenizer, "classification", "sentence", truncation="middle")
    transform = InputTransform(tokenizer, "classification", "sentence")
    with pytest.raises(ValueError, match="'sentence'"):
        transform({"text": ["the cat"], "label": [0]})
    answers_as_text = InputTransform(tokenizer, "multiple_choice", "context", answer_fields="ending")
    with pytest.raises(TypeError, match="lists of answers"):
        answers_as_text({"context": ["the cat"], "ending": ["sat"], "label": [0]})


def make_added_tokens_tokenizer():
    """Words in the vocabulary, GPT-1's tokens added as special tokens (as `add_gpt1_special_tokens` does)."""
    vocab = {token: i for i, token in enumerate(["<unk>", "_", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    add_gpt1_special_tokens(tokenizer)
    return tokenizer


@pytest.mark.parametrize(
    "family, columns",
    [
        ("classification", {"sentence": ["the cat _classify_ on the mat"]}),
        ("entailment", {"premise": ["the _delimiter_ cat"], "hypothesis": ["_start_ a dog _classify_"]}),
        ("similarity", {"a": ["_classify_"], "b": ["<pad> _delimiter_"]}),
    ],
)
def test_special_token_strings_in_text_never_become_special_ids(family, columns):
    """User text holding `_classify_` (or another special token's string) is text: the transformation alone places
    the special tokens, one start, one delimiter per pair, one extract at the end."""
    tokenizer = make_added_tokens_tokenizer()
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    transform = InputTransform(tokenizer, family, list(columns), label_field=None)
    for sequence in _sequences(transform(columns)["input_ids"][0]):
        assert sequence[0] == special.start and sequence[-1] == special.extract
        assert sequence.count(special.extract) == 1 and sequence.count(special.start) == 1
        assert sequence.count(special.delimiter) == (0 if family == "classification" else 1)
        assert special.pad not in sequence


def test_special_token_strings_in_answers_never_become_special_ids():
    tokenizer = make_added_tokens_tokenizer()
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    transform = InputTransform(tokenizer, "multiple_choice", "context", ["a0", "a1"], label_field=None)
    batch = {"context": ["the cat _classify_"], "a0": ["_delimiter_ yes"], "a1": ["no _start_"]}
    for sequence in transform(batch)["input_ids"][0]:
        assert [sequence.count(i) for i in (special.start, special.delimiter, special.extract)] == [1, 1, 1]


def test_text_that_the_vocabulary_maps_to_a_special_id_is_an_error():
    """A vocabulary holding `_classify_` as a word would turn text into the special id: refused, never pooled."""
    transform = InputTransform(make_tokenizer(), "classification", "sentence", label_field=None)
    with pytest.raises(ValueError, match=r"segment 0 holds the special token\(s\) _classify_"):
        transform({"sentence": ["the cat _classify_ on the mat"]})


def _sequences(example):
    return example if isinstance(example[0], list) else [example]


def test_truncating_long_text_gives_no_tokenizer_length_warning(tokenizer):
    """The layout truncates to max_length itself, so the tokenizer's "sequence length is longer than the specified
    maximum" warning would only mislead; the scripts report how many examples were shortened instead."""
    from transformers.testing_utils import CaptureLogger
    from transformers.tokenization_utils_base import logger as tokenizer_logger

    tokenizer.model_max_length = 4
    tokenizer.deprecation_warnings.clear()  # the warning is given once per tokenizer
    transform = InputTransform(tokenizer, "classification", ("text",), max_length=4, label_field=None)
    with CaptureLogger(tokenizer_logger) as captured:
        output = transform({"text": [" ".join(["the"] * 12)]})
    assert len(output["input_ids"][0]) == 4
    assert "longer than the specified maximum" not in captured.out
