"""Properties of GPT's input transformations and the collator, for random field contents (unicode of every kind,
the special tokens' strings, empty fields) and random `max_length`, checked with hypothesis:

- every sequence fits `max_length`, starts with `_start_`, ends with `_classify_`, and holds exactly one `_start_`,
  one `_classify_` and one `_delimiter_` per segment boundary: text never becomes a special token;
- an untruncated field round-trips through decode. With a byte-level tokenizer (GPT-1's special tokens added, as
  `add_gpt1_special_tokens` does) the round trip is exact for any unicode text. With `GPT1Tokenizer` it holds under
  its normalisation: its normalizer and pre-tokenizer (the 2018 encoder's standardisation, newlines kept as words,
  lower case), the words joined by single spaces (text drawn from its training alphabet, so that nothing is `<unk>`);
- the collator pads without changing a sequence: the mask covers it exactly, the extract token is its last real
  token, and the LM labels are the ids there and `IGNORE_INDEX` in the padding.
"""

import string

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from modeling_gpt1.collators import GPT1DataCollator
from modeling_gpt1.configuration_gpt1 import SPECIAL_TOKENS
from modeling_gpt1.modeling_gpt1 import IGNORE_INDEX
from modeling_gpt1.tokenization_gpt1 import add_gpt1_special_tokens, train_gpt1_tokenizer
from modeling_gpt1.transforms import InputTransform, SpecialTokenIds


FEW = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SPECIAL_STRINGS = list(SPECIAL_TOKENS.values())
GPT1_ALPHABET = string.ascii_letters + string.digits + ".,;:!?'\"()-_<> \n"

# field name(s) of each family
FIELDS = {
    "classification": (["text"], None),
    "entailment": (["premise", "hypothesis"], None),
    "similarity": (["a", "b"], None),
    "multiple_choice": (["context"], ["answer0", "answer1", "answer2"]),
}


def byte_level_tokenizer():
    """One token per byte (no merges), so that decode gives back any text exactly; GPT-1's tokens added."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={symbol: i for i, symbol in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, clean_up_tokenization_spaces=False)
    add_gpt1_special_tokens(tokenizer)
    return tokenizer


BYTE_LEVEL = byte_level_tokenizer()
GPT1 = train_gpt1_tokenizer(
    # Each character alone (a word end, `c</w>`) and inside words, so that no text of the alphabet is `<unk>`.
    # Newlines are words of their own (as in the 2018 encoder): a line break between words puts them in the vocabulary.
    iter([" ".join(GPT1_ALPHABET), "".join(GPT1_ALPHABET.split()), "the cat sat\non the mat classify start"] * 5),
    vocab_size=120,
    min_frequency=1,
    show_progress=False,
)


def fields(alphabet=None):
    """Text mixing random characters (any unicode, or `alphabet`) with the special tokens' strings; often empty."""
    characters = st.text(max_size=12) if alphabet is None else st.text(alphabet=alphabet, max_size=12)
    return st.lists(st.one_of(characters, st.sampled_from(SPECIAL_STRINGS)), max_size=4).map("".join)


def example(family, alphabet=None):
    text_fields, answer_fields = FIELDS[family]
    names = text_fields + (answer_fields or [])
    return st.fixed_dictionaries({name: fields(alphabet) for name in names})


def transform_one(tokenizer, family, row, max_length):
    text_fields, answer_fields = FIELDS[family]
    transform = InputTransform(tokenizer, family, text_fields, answer_fields, max_length=max_length, label_field=None)
    output = transform({name: [value] for name, value in row.items()})["input_ids"][0]
    return output if isinstance(output[0], list) else [output]


def segments_of(row, family):
    """The texts of each sequence's segments, in layout order."""
    text_fields, answer_fields = FIELDS[family]
    if family == "similarity":
        return [[row["a"], row["b"]], [row["b"], row["a"]]]
    if family == "multiple_choice":
        return [[row["context"], row[answer]] for answer in answer_fields]
    return [[row[name] for name in text_fields]]


def split_layout(sequence, special):
    """The segments between the start, delimiter and extract tokens."""
    inner, parts, current = sequence[1:-1], [], []
    for token in inner:
        if token == special.delimiter:
            parts.append(current)
            current = []
        else:
            current.append(token)
    return [*parts, current]


def check_layout(tokenizer, family, row, max_length, normalise):
    special = SpecialTokenIds.from_tokenizer(tokenizer)
    sequences = transform_one(tokenizer, family, row, max_length)
    for sequence, texts in zip(sequences, segments_of(row, family)):
        assert len(sequence) <= max_length
        assert sequence[0] == special.start and sequence[-1] == special.extract
        assert sequence.count(special.start) == 1 and sequence.count(special.extract) == 1
        assert sequence.count(special.delimiter) == len(texts) - 1
        assert special.pad not in sequence
        full = [tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"] for text in texts]
        if sum(map(len, full)) + len(texts) + 1 <= max_length:  # nothing was cut: each text comes back
            for ids, text in zip(split_layout(sequence, special), texts):
                assert tokenizer.decode(ids) == normalise(text)
    return sequences


@pytest.mark.parametrize("family", list(FIELDS))
@FEW
@given(data=st.data(), max_length=st.integers(min_value=3, max_value=48))
def test_byte_level_layouts_fit_and_round_trip_any_unicode(family, data, max_length):
    row = data.draw(example(family))
    check_layout(BYTE_LEVEL, family, row, max_length, normalise=lambda text: text)


def gpt1_normalised(text: str) -> str:
    backend = GPT1.backend_tokenizer
    words = backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text))
    return " ".join(word for word, _ in words)


@pytest.mark.parametrize("family", list(FIELDS))
@FEW
@given(data=st.data(), max_length=st.integers(min_value=3, max_value=48))
def test_gpt1_tokenizer_layouts_fit_and_round_trip_under_its_normalisation(family, data, max_length):
    row = data.draw(example(family, GPT1_ALPHABET))
    check_layout(GPT1, family, row, max_length, normalise=gpt1_normalised)


@FEW
@given(data=st.data(), max_length=st.integers(min_value=4, max_value=40), family=st.sampled_from(list(FIELDS)))
def test_collator_pads_without_changing_the_sequences(data, max_length, family):
    rows = data.draw(st.lists(example(family), min_size=1, max_size=4))
    features = [{"input_ids": transform_one(BYTE_LEVEL, family, row, max_length)} for row in rows]
    if family in ("classification", "entailment"):
        features = [{"input_ids": feature["input_ids"][0]} for feature in features]
    special = SpecialTokenIds.from_tokenizer(BYTE_LEVEL)
    batch = GPT1DataCollator.from_tokenizer(BYTE_LEVEL, max_length=max_length)(features)
    ids, mask, lm_labels = batch["input_ids"], batch["attention_mask"], batch["lm_labels"]
    assert ids.shape[-1] <= max_length and ids.shape == mask.shape == lm_labels.shape
    nested = ids.dim() == 3  # [batch, choices, length]
    sequences = [sequence for f in features for sequence in (f["input_ids"] if nested else [f["input_ids"]])]
    flat_ids, flat_mask = ids.reshape(-1, ids.shape[-1]), mask.reshape(-1, ids.shape[-1])
    for row, row_mask, sequence in zip(flat_ids, flat_mask, sequences):
        n = len(sequence)
        assert row[:n].tolist() == sequence and int(row_mask.sum()) == n and bool(row_mask[:n].all())
        assert int(row[n - 1]) == special.extract and int((row[:n] == special.extract).sum()) == 1
        assert bool((row[n:] == special.pad).all())
    assert torch.equal(lm_labels, ids.masked_fill(mask == 0, IGNORE_INDEX))
