"""GPT1Tokenizer: training, the GPT-1 text pipeline, special tokens, task templates, saving, and the vocabularies of
OpenAI's release and of Transformers' `openai-gpt`, rebuilt in miniature here."""

import csv
import json
import os
import random
import subprocess
import sys

import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import WhitespaceSplit
from transformers import AutoTokenizer, PreTrainedTokenizerFast

import modeling_gpt1.tokenization_gpt1 as tokenization_gpt1
from modeling_gpt1.tokenization_gpt1 import GPT1Tokenizer, add_gpt1_special_tokens, main, train_gpt1_tokenizer


CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "I don't think the dog minds; it's a lazy dog!",
    "Lower, lowest, newer and newest: the fox was quicker than the dog.",
    'She said "hello" to the fox (and the dog) at 3.5 o\'clock...',
]
SPECIAL = ["_start_", "_delimiter_", "_classify_", "<pad>"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(CORPUS * 20) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer(corpus_file):
    return train_gpt1_tokenizer(str(corpus_file), vocab_size=150, min_frequency=2, show_progress=False)


# --- training and the text pipeline -------------------------------------------------------------------------------


def test_training_gives_unk_first_and_special_tokens_after_the_bpe_vocabulary(tokenizer):
    assert tokenizer.unk_token == "<unk>" and tokenizer.unk_token_id == 0
    base = tokenizer.vocab_size
    assert len(tokenizer) == base + 4
    ids = [tokenizer.start_token_id, tokenizer.delimiter_token_id, tokenizer.extract_token_id, tokenizer.pad_token_id]
    assert ids == list(range(base, base + 4))
    assert [tokenizer.start_token, tokenizer.delimiter_token, tokenizer.extract_token, tokenizer.pad_token] == SPECIAL
    assert all(token.endswith("</w>") for token in tokenizer.tokenize("quick brown fox"))


def test_training_twice_on_the_same_text_gives_the_same_ids():
    """`BpeTrainer` numbers end-of-word symbols in hash-map order (different on every run); the ids are renumbered
    to a fixed layout: `<unk>`, the base symbols sorted, then each merge's result in merge order."""
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    texts = [
        " ".join("".join(rng.choice(letters) for _ in range(rng.randint(1, 6))) for _ in range(12)) for _ in range(300)
    ]
    trained = [train_gpt1_tokenizer(iter(texts), vocab_size=200, show_progress=False) for _ in range(4)]
    vocabularies = [tokenizer.get_vocab() for tokenizer in trained]
    assert all(vocabulary == vocabularies[0] for vocabulary in vocabularies)

    model = json.loads(trained[0].backend_tokenizer.to_str())["model"]
    merged = ["".join(pair) for pair in model["merges"]]
    ids = model["vocab"]
    base = sorted(set(ids) - set(merged) - {"<unk>"})
    assert ids["<unk>"] == 0
    assert [ids[token] for token in base] == list(range(1, len(base) + 1))
    assert [ids[token] for token in merged] == list(range(len(base) + 1, len(ids)))


def test_training_reaches_vocab_size_on_enough_text(corpus_file):
    tokenizer = train_gpt1_tokenizer([corpus_file], vocab_size=100, min_frequency=1, show_progress=False)
    assert tokenizer.vocab_size == 100 and len(tokenizer) == 104


def test_a_vocab_size_below_the_alphabet_is_warned_about_not_silently_exceeded(corpus_file):
    from transformers.testing_utils import CaptureLogger

    from modeling_gpt1 import tokenization_gpt1

    with CaptureLogger(tokenization_gpt1.logger) as captured:
        tokenizer = train_gpt1_tokenizer([corpus_file], vocab_size=5, min_frequency=1, show_progress=False)
    assert tokenizer.vocab_size > 5
    assert (
        f"vocab_size=5 is below the corpus's alphabet: the BPE vocabulary has {tokenizer.vocab_size}" in captured.out
    )
    with CaptureLogger(tokenization_gpt1.logger) as captured:
        train_gpt1_tokenizer([corpus_file], vocab_size=100, min_frequency=1, show_progress=False)
    assert "below the corpus's alphabet" not in captured.out


def test_training_from_an_iterator_of_batches_sees_the_same_text_as_the_file(corpus_file, tokenizer):
    # BpeTrainer breaks ties between equally frequent symbols in hash order, so ids may differ from run to run;
    # what must match is the vocabulary size, the alphabet and the round trip.
    lines = corpus_file.read_text(encoding="utf-8").splitlines(keepends=True)
    batches = (lines[i : i + 7] for i in range(0, len(lines), 7))
    from_iterator = train_gpt1_tokenizer(batches, vocab_size=150, min_frequency=2, show_progress=False)
    assert len(from_iterator) == len(tokenizer)

    def alphabet(t):
        return {token for token in t.get_vocab() if len(token.removesuffix("</w>")) == 1}

    assert alphabet(from_iterator) == alphabet(tokenizer)
    text = "the lazy dog was quicker than the brown fox"
    assert from_iterator.decode(from_iterator(text)["input_ids"]) == text


def test_special_token_strings_in_text_stay_text(tokenizer):
    """Only the task template or the input transformations place special tokens: their strings in user text are
    tokenised as ordinary words (`split_special_tokens=True`, the class default), with or without a template."""
    special_ids = {tokenizer.convert_tokens_to_ids(token) for token in SPECIAL}
    text = "_start_ the dog _delimiter_ a fox _classify_ <pad>"
    assert not special_ids & set(tokenizer(text)["input_ids"])
    for token in SPECIAL:
        assert tokenizer.convert_ids_to_tokens(tokenizer.convert_tokens_to_ids(token)) == token
    classifier = GPT1Tokenizer(tokenizer_object=tokenizer.backend_tokenizer, task_template="classification")
    ids = classifier("the cat _classify_ on the mat")["input_ids"]
    assert ids[0] == classifier.start_token_id and ids.count(classifier.extract_token_id) == 1
    assert ids[-1] == classifier.extract_token_id
    pair = classifier("a _delimiter_ b", "c _start_")["input_ids"]
    assert pair.count(classifier.delimiter_token_id) == 1 and pair.count(classifier.start_token_id) == 1
    # Opting out matches them in text again, as Transformers' tokenizers do by default.
    ids = tokenizer("_start_ the dog _classify_", split_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.start_token_id and ids[-1] == tokenizer.extract_token_id


def test_the_tokenizer_pads_on_the_right_as_gpt2s_does(tokenizer, tmp_path):
    """Right padding, with and without the classification template (a padding side given or saved is kept)."""
    assert tokenizer.padding_side == "right"
    batch = tokenizer(["the dog", "the lazy brown dog"], padding=True)["attention_mask"]
    assert batch[0][0] == 1 and batch[0][-1] == 0
    classifier = GPT1Tokenizer(tokenizer_object=tokenizer.backend_tokenizer, task_template="classification")
    assert classifier.padding_side == "right"
    left = GPT1Tokenizer(tokenizer_object=tokenizer.backend_tokenizer, padding_side="left")
    left.set_task_template("classification")
    assert left.padding_side == "left"
    left.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded.padding_side == "left" and reloaded.split_special_tokens


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_the_library_lm_collator_scores_each_example_as_alone(tokenizer, padding_side, monkeypatch):
    """`DataCollatorForLanguageModeling` with the default (right) padding: an example's loss in a padded batch is its
    loss alone. With left padding (the default before) the first real token became a target predicted from a
    padding state, as with any left-padded causal LM of the library: the loss then depends on the batch."""
    import torch
    from torch.nn import functional as F
    from transformers import DataCollatorForLanguageModeling

    from modeling_gpt1 import GPT1Config, GPT1LMHeadModel

    torch.manual_seed(0)
    config = GPT1Config(n_layer=2, n_embd=32, n_head=4, vocab_size=len(tokenizer), n_positions=64,
                        initializer_range=0.2, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    model = GPT1LMHeadModel(config).eval()
    monkeypatch.setattr(tokenizer, "padding_side", padding_side)
    texts = ["the dog", "the quick brown fox jumps over the lazy dog"]
    collate = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    batch = collate([tokenizer(text) for text in texts])
    alone = collate([tokenizer(texts[0])])
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[0, :-1]
        in_batch = F.cross_entropy(logits, batch["labels"][0, 1:], ignore_index=-100)
        expected = model(**alone).loss
    if padding_side == "right":
        torch.testing.assert_close(in_batch, expected)
    else:
        assert not torch.allclose(in_batch, expected)  # the library's own behaviour with left padding


def test_decode_round_trip_is_lower_cased_text(tokenizer):
    text = "The Quick brown FOX jumps over the lazy dog"
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text.lower()
    with_special = [tokenizer.start_token_id, *ids, tokenizer.extract_token_id]
    assert tokenizer.decode(with_special, skip_special_tokens=True) == text.lower()
    assert tokenizer.decode(with_special) == f"_start_ {text.lower()} _classify_"


def test_unknown_characters_become_unk(tokenizer):
    assert tokenizer("dog \u4e2d")["input_ids"][-1] == tokenizer.unk_token_id


# The default pipeline's words, worked out by hand from the rules it copies (issue 12): ftfy's fixes (curly quotes
# uncurled, HTML entities, control characters, ligatures and widths, NFC: `™` and `½` stay), OpenAI's standardisation
# (dashes, ellipses, `´`; runs of `-~!";?+,)(/*[]{}|_` isolated, so `10,000` is `10 , 000`), then spaCy's English
# rules on each space-separated chunk: prefixes split off its start (quotes, `$`, `£`, `us$`, `*`, `...`), suffixes
# off its end (quotes, `'s`, `.` after a lower-case letter or digit, `...`, units and currencies after a digit),
# infixes inside (`...`, `:` between letters), spaCy's exceptions (`mr.`, `o'clock`, `ca n't`, `can not`, `gon na`),
# and what is left stays one word (`6th`, `5:30pm`, `r&d`, `www.x.org`).
DEFAULT_PIPELINE_CASES = [
    ("I DON'T know\u2026 U.S. rules\u2014it's 3.5 \uff26\uff55\uff4c\uff4c!!\n\n  Next",
     ["i", "do", "n't", "know", "...", "u.s.", "rules", "-", "it", "'s", "3.5", "full", "!", "!", "\n", "next"]),
    ("\u201cDon\u2019t,\u201d said Ogg\u2019s \u2018friend\u2019.",
     ['"', "do", "n't", ",", '"', "said", "ogg", "'s", "'", "friend", "'", "."]),
    ("Mr. and Mrs. Smith met Dr. Who on St. James St. at 5 p.m., e.g. today.",
     ["mr.", "and", "mrs.", "smith", "met", "dr.", "who", "on", "st.", "james", "st.", "at", "5", "p.m.", ",", "e.g.",
      "today", "."]),
    ("It cost $10,000 or \u00a31,500.50 in 1970.",
     ["it", "cost", "$", "10", ",", "000", "or", "\u00a3", "1", ",", "500.50", "in", "1970", "."]),
    ("I cannot go, I'm gonna stay 'til ten o'clock, ma'am.",
     ["i", "can", "not", "go", ",", "i", "'m", "gon", "na", "stay", "'", "til", "ten", "o'clock", ",", "ma'am", "."]),
    ("Acme\u2122 sold \u00bd of it; Tom &amp; Jerry &lt;3",
     ["acme", "\u2122", "sold", "\u00bd", "of", "it", ";", "tom", "&", "jerry", "<3"]),
    # BEL and NUL dropped, the ligature undone, NEL (a C1 control) read as Windows-1252's ellipsis, e + ́ composed.
    ("The bell\x07 rang\x00 \ufb01ve times\x85then e\u0301clat.",
     ["the", "bell", "rang", "five", "times", "...", "then", "\u00e9clat", "."]),
    # Mojibake of ’ repaired; `km` is a unit after a digit, `th`, `pm` and `s` are not.
    ("Iraq\u00e2\u20ac\u2122s 6th army ran 10km at 5:30pm in the 1970s.",
     ["iraq", "'s", "6th", "army", "ran", "10", "km", "at", "5:30pm", "in", "the", "1970s", "."]),
    # `at&t.` keeps its period (the original text writes a capital before it); in `5$.` the period follows `$`, which
    # is no suffix's context, so nothing is split off: one word.
    ("Wait...what? R&D at AT&T. costs US$5, not 5$.",
     ["wait", "...", "what", "?", "r&d", "at", "at&t.", "costs", "us$", "5", ",", "not", "5$."]),
    ("``Hello'' and ''bye'' -- ***", ["`", "`", "hello", "''", "and", "''", "bye", "''", "--", "*", "*", "*"]),
    ("c++ and ratio a:b and http://x.org", ["c", "+", "+", "and", "ratio", "a", ":", "b", "and", "http", ":", "//", "x.org"]),
    ("\u039f\u0394\u039f\u03a3 \u00b4quoted\u00b4 dogs' bones.",
     ["\u03bf\u03b4\u03bf\u03c2", "'", "quoted", "'", "dogs", "'", "bones", "."]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), DEFAULT_PIPELINE_CASES, ids=[c[0][:20] for c in DEFAULT_PIPELINE_CASES])
def test_default_pipeline_follows_the_2018_rules(tokenizer, text, expected):
    backend = tokenizer.backend_tokenizer
    words = [word for word, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text))]
    assert words == expected
    # Offsets still point into the input text (the default pipeline runs inside the backend).
    encoding = tokenizer(text, return_offsets_mapping=True)
    assert len(encoding["offset_mapping"]) == len(encoding["input_ids"])


def test_default_pipeline_upper_case_differences_are_documented(tokenizer):
    """spaCy runs before lower-casing and its rules depend on case; lower-cased first, the default pipeline follows
    the usual case: `DON'T` (no exception in spaCy: one word there) splits like `don't`, and `u.n.` keeps its period
    like `U.N.` (spaCy splits it off a lower-case `n`). docs/tokenizer_exactness.md lists these."""
    backend = tokenizer.backend_tokenizer
    words = [w for w, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str("DON'T u.n."))]
    assert words == ["do", "n't", "u.n."]


SAVED_BEFORE_ISSUE_12 = os.path.join(os.path.dirname(__file__), "data", "tokenizer_saved_before_issue12")


def test_a_folder_saved_with_the_earlier_default_keeps_its_pipeline(tmp_path):
    """tests/data/tokenizer_saved_before_issue12 was saved by the package before issue 12's default pipeline (NFKC,
    `10,000` one word, `!!` one word): its tokenizer.json holds that pipeline, so it loads with the ids it had.
    `set_preprocessing(None)` switches it to the current default."""
    text = "The LOWER 10,000!!"
    for loaded in (
        GPT1Tokenizer.from_pretrained(SAVED_BEFORE_ISSUE_12),
        AutoTokenizer.from_pretrained(SAVED_BEFORE_ISSUE_12),
    ):
        assert type(loaded) is GPT1Tokenizer and loaded.preprocessing is None
        # Words then: the, lower, 10,000, !!; BPE by the folder's merges (e r</w>, l o, lo w, t h, th e</w>, ...);
        # `1` is not in its vocabulary.
        expected = ["the</w>", "low", "er</w>", "<unk>", "0", ",", "0", "0", "0</w>", "!", "!</w>"]
        assert loaded.convert_ids_to_tokens(loaded(text)["input_ids"]) == expected
    loaded.set_preprocessing(None)
    expected = ["the</w>", "low", "er</w>", "<unk>", "0</w>", ",</w>", "0", "0", "0</w>", "!</w>", "!</w>"]
    assert loaded.convert_ids_to_tokens(loaded(text)["input_ids"]) == expected
    loaded.save_pretrained(tmp_path)  # the new pipeline is saved in tokenizer.json with it
    reloaded = GPT1Tokenizer.from_pretrained(tmp_path)
    assert reloaded.convert_ids_to_tokens(reloaded(text)["input_ids"]) == expected


# --- task templates ------------------------------------------------------------------------------------------------


def test_without_task_template_add_special_tokens_adds_nothing(tokenizer):
    assert tokenizer.task_template is None
    assert tokenizer("the lazy dog")["input_ids"] == tokenizer("the lazy dog", add_special_tokens=False)["input_ids"]
    assert tokenizer.num_special_tokens_to_add(pair=True) == 0


def test_classification_template_writes_gpt_layout(corpus_file):
    tokenizer = train_gpt1_tokenizer(corpus_file, vocab_size=150, show_progress=False, task_template="classification")
    plain_a = tokenizer("the fox", add_special_tokens=False)["input_ids"]
    plain_b = tokenizer("a lazy dog", add_special_tokens=False)["input_ids"]
    start, delimiter, extract = tokenizer.start_token_id, tokenizer.delimiter_token_id, tokenizer.extract_token_id
    assert tokenizer("the fox")["input_ids"] == [start, *plain_a, extract]
    assert tokenizer("the fox", "a lazy dog")["input_ids"] == [start, *plain_a, delimiter, *plain_b, extract]
    batch = tokenizer(["the fox", "dog"], padding=True)
    assert batch["input_ids"][1][-1] == tokenizer.pad_token_id and batch["attention_mask"][1][-1] == 0

    tokenizer.set_task_template(None)
    assert tokenizer("the fox")["input_ids"] == plain_a
    with pytest.raises(ValueError, match="task_template"):
        tokenizer.set_task_template("summarization")
    with pytest.raises(ValueError, match="task_template"):
        GPT1Tokenizer(task_template="summarization")


def test_task_template_survives_save_and_load(tokenizer, tmp_path):
    tokenizer.set_task_template("classification")
    try:
        expected = tokenizer("the fox", "the dog")["input_ids"]
        tokenizer.save_pretrained(tmp_path)
    finally:
        tokenizer.set_task_template(None)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["task_template"] == "classification"
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.task_template == "classification"
    assert loaded("the fox", "the dog")["input_ids"] == expected
    assert GPT1Tokenizer.from_pretrained(tmp_path, task_template=None)("the fox")["input_ids"][0] != expected[0]


# --- saving and loading --------------------------------------------------------------------------------------------


def test_save_and_load_give_identical_ids(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    for loaded in (GPT1Tokenizer.from_pretrained(tmp_path), AutoTokenizer.from_pretrained(tmp_path)):
        assert type(loaded) is GPT1Tokenizer
        assert loaded.get_vocab() == tokenizer.get_vocab()
        for text in CORPUS:
            assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
        assert loaded.start_token_id == tokenizer.start_token_id and loaded.pad_token_id == tokenizer.pad_token_id
        assert loaded.model_input_names == ["input_ids", "attention_mask"]


@pytest.mark.slow
def test_saved_folder_loads_with_trust_remote_code_without_this_package(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path / "tok")
    config = json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())
    assert config["auto_map"]["AutoTokenizer"][0] == "tokenization_gpt1.GPT1Tokenizer"
    script = (
        "import sys, json\n"
        "from transformers import AutoTokenizer\n"
        f"t = AutoTokenizer.from_pretrained({str(tmp_path / 'tok')!r}, trust_remote_code=True)\n"
        "print(json.dumps([type(t).__module__, 'modeling_gpt1' in sys.modules, t('the lazy dog')['input_ids']]))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    module, package_imported, ids = json.loads(result.stdout.strip().splitlines()[-1])
    assert module.startswith("transformers_modules.") and not package_imported
    assert ids == tokenizer("the lazy dog")["input_ids"]


# --- adding the special tokens to another tokenizer ---------------------------------------------------------------


def test_add_gpt1_special_tokens_to_a_tokenizer_that_lacks_them(tmp_path):
    backend = Tokenizer(WordLevel({"[UNK]": 0, "the": 1, "dog": 2}, unk_token="[UNK]"))
    backend.pre_tokenizer = WhitespaceSplit()
    other = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    assert add_gpt1_special_tokens(other) == 4
    assert [other.start_token_id, other.delimiter_token_id, other.extract_token_id, other.pad_token_id] == [3, 4, 5, 6]
    assert len(other) == 7 and other.tokenize("_start_ the dog _classify_") == ["_start_", "the", "dog", "_classify_"]
    assert GPT1Tokenizer.add_gpt1_special_tokens(other) == 0

    other.save_pretrained(tmp_path)
    assert PreTrainedTokenizerFast.from_pretrained(tmp_path).extract_token_id == 5


def test_add_gpt1_special_tokens_adds_nothing_to_a_gpt1_tokenizer(tokenizer):
    size = len(tokenizer)
    assert add_gpt1_special_tokens(tokenizer) == 0 and len(tokenizer) == size


# --- OpenAI's release files and Transformers' openai-gpt files ---------------------------------------------------

# A miniature vocabulary in the released layout: characters, then characters ending a word, then merge results.
MERGES = [
    ("e", "r</w>"), ("n", "e"), ("ne", "w"), ("l", "o"), ("lo", "w</w>"), ("lo", "w"), ("t", "h"), ("th", "e</w>")
]  # fmt: skip


def _vocabulary(with_unk: bool) -> dict[str, int]:
    symbols = (["<unk>"] if with_unk else []) + list("lowernth.")
    vocab = {symbol: i for i, symbol in enumerate(symbols)}
    for char in "lowernth.":
        vocab[char + "</w>"] = len(vocab)
    for left, right in MERGES:
        vocab[left + right] = len(vocab)
    return vocab


def _write_files(directory, vocab, merges=MERGES, header="#version: 0.2"):
    vocab_path, merges_path = directory / "encoder.json", directory / "merges.bpe"
    vocab_path.write_text(json.dumps(vocab), encoding="utf-8")
    lines = [header] + [" ".join(merge) for merge in merges]
    merges_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return vocab_path, merges_path


@pytest.mark.parametrize("loader", ["from_original_files", "from_openai_gpt_files"])
@pytest.mark.parametrize("with_unk", [True, False])
def test_release_vocabularies_give_the_ids_their_files_define(tmp_path, loader, with_unk):
    vocab = _vocabulary(with_unk)
    tokenizer = getattr(GPT1Tokenizer, loader)(*_write_files(tmp_path, vocab))
    # BPE worked out by hand from MERGES (rank order: er</w>, ne, new, lo, low</w>, low, th, the</w>):
    #   "low"   -> l o w</w> -> lo w</w> -> low</w>
    #   "newer" -> n e w e r</w> -> n e w er</w> -> ne w er</w> -> new er</w>
    #   "lower" -> l o w e r</w> -> l o w er</w> -> lo w er</w> -> low er</w>
    #   "the"   -> t h e</w> -> th e</w> -> the</w>;   "."  -> .</w>;   "lol" -> lo l</w>
    expected = ["the</w>", "low</w>", "new", "er</w>", "low", "er</w>", "lo", "l</w>", ".</w>"]
    encoded = tokenizer("The LOW newer lower lol.")["input_ids"]
    assert encoded == [vocab[token] for token in expected]
    assert tokenizer.decode(encoded) == "the low newer lower lol ."

    n = len(vocab)
    assert [tokenizer.start_token_id, tokenizer.delimiter_token_id, tokenizer.extract_token_id] == [n, n + 1, n + 2]
    assert tokenizer.pad_token_id == n + 3 and len(tokenizer) == n + 4
    # An unknown character: `<unk>` where the vocabulary has one, otherwise id 0 as in OpenAI's encoder.
    assert tokenizer("z")["input_ids"] == [0]
    assert tokenizer.unk_token_id == (0 if with_unk else None)


def test_original_vocabulary_survives_save_and_load(tmp_path):
    vocab = _vocabulary(with_unk=False)
    tokenizer = GPT1Tokenizer.from_original_files(*_write_files(tmp_path, vocab), task_template="classification")
    tokenizer.save_pretrained(tmp_path / "saved")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "saved")
    assert loaded.unk_token is None and len(loaded) == len(tokenizer)
    assert loaded("the lower . z", "newer")["input_ids"] == tokenizer("the lower . z", "newer")["input_ids"]


def test_the_preprocessing_warning_is_logged_once(tmp_path, monkeypatch):
    messages = []
    monkeypatch.setattr(tokenization_gpt1.logger, "warning", messages.append)
    tokenization_gpt1._warn_about_original_preprocessing.cache_clear()
    paths = _write_files(tmp_path, _vocabulary(with_unk=True))
    GPT1Tokenizer.from_original_files(*paths)
    GPT1Tokenizer.from_openai_gpt_files(*paths)
    assert len(messages) == 1 and "spaCy" in messages[0] and "uses instead" in messages[0]


def test_missing_vocabulary_files_raise(tmp_path):
    vocab_path, merges_path = _write_files(tmp_path, _vocabulary(with_unk=True))
    with pytest.raises(FileNotFoundError, match="Vocabulary file"):
        GPT1Tokenizer.from_original_files(tmp_path / "missing.json", merges_path)
    with pytest.raises(FileNotFoundError, match="Merges file"):
        GPT1Tokenizer.from_openai_gpt_files(vocab_path, tmp_path / "missing.txt")


@pytest.mark.parametrize(
    ("merges", "header", "message"),
    [
        ([("l", "o", "w")], "#version: 0.2", "line 2: expected two symbols"),
        ([("l", "o"), ("o", "w")], "#version: 0.2", "merge 2 'o w': 'ow' is not in the vocabulary"),
        ([("x", "o")], "#version: 0.2", "'x' is not in the vocabulary"),
        ([("l", "o")], "t h", "must start with a '#version' line"),
    ],
)
def test_malformed_merges_files_raise(tmp_path, merges, header, message):
    paths = _write_files(tmp_path, _vocabulary(with_unk=True), merges=merges, header=header)
    with pytest.raises(ValueError, match=message):
        GPT1Tokenizer.from_original_files(*paths)


def test_constructor_takes_a_vocabulary_and_merges_and_checks_them(tmp_path):
    vocab = _vocabulary(with_unk=True)
    direct = GPT1Tokenizer(vocab=vocab, merges=[" ".join(merge) for merge in MERGES])
    from_files = GPT1Tokenizer.from_openai_gpt_files(*_write_files(tmp_path, vocab))
    assert direct.get_vocab() == from_files.get_vocab()
    assert direct("the newer lol")["input_ids"] == from_files("the newer lol")["input_ids"]
    with pytest.raises(ValueError, match="'lr' is not in the vocabulary"):
        GPT1Tokenizer(vocab=vocab, merges=[("l", "r")])
    with pytest.raises(ValueError, match="unk_token '<oov>' is not in the vocabulary"):
        GPT1Tokenizer(vocab=vocab, merges=MERGES, unk_token="<oov>")


def test_vocabulary_with_gaps_in_its_ids_raises(tmp_path):
    paths = _write_files(tmp_path, {"a": 0, "b": 2}, merges=[])
    with pytest.raises(ValueError, match="ids must be 0..1"):
        GPT1Tokenizer.from_openai_gpt_files(*paths)


# --- argument checks and the command line --------------------------------------------------------------------------


def test_training_rejects_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="iter\\(texts\\)"):
        train_gpt1_tokenizer(["the quick brown fox"], show_progress=False)
    with pytest.raises(ValueError, match="vocab_size"):
        train_gpt1_tokenizer(iter(CORPUS), vocab_size=0, show_progress=False)
    with pytest.raises(TypeError, match="iterable of texts"):
        train_gpt1_tokenizer(42, show_progress=False)


def test_command_line_writes_a_loadable_folder(corpus_file, tmp_path, capsys):
    output_dir = tmp_path / "trained"
    args = ["--files", str(corpus_file), "--vocab_size", "80", "--min_frequency", "1", "--no_progress"]
    assert main([*args, "--task_template", "classification", "--output_dir", str(output_dir)]) is None
    assert "Saved a GPT1Tokenizer" in capsys.readouterr().out
    loaded = AutoTokenizer.from_pretrained(output_dir)
    assert type(loaded) is GPT1Tokenizer and loaded.vocab_size == 80 and loaded.task_template == "classification"
    trained = train_gpt1_tokenizer(
        str(corpus_file), vocab_size=80, min_frequency=1, show_progress=False, task_template="classification"
    )
    assert loaded(CORPUS[1])["input_ids"] == trained(CORPUS[1])["input_ids"]


CONSOLE_SCRIPT = os.path.join(os.path.dirname(sys.executable), "gpt1-train-tokenizer")


@pytest.mark.skipif(not os.path.isfile(CONSOLE_SCRIPT), reason="the package's console script is not installed")
def test_console_script_exits_0_after_saving(corpus_file, tmp_path):
    """The entry-point wrapper passes `main()`'s return value to `sys.exit`: it must be None for status 0."""
    args = [CONSOLE_SCRIPT, "--vocab_size", "80", "--min_frequency", "1", "--no_progress"]
    saved = subprocess.run([*args, "--files", str(corpus_file), "--output_dir", str(tmp_path / "tok")],
                           capture_output=True, text=True)  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert "Saved a GPT1Tokenizer" in saved.stdout


def test_user_error_exits_2_with_one_line_naming_the_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(["--files", str(tmp_path / "nowhere.txt"), "--output_dir", str(tmp_path / "x")]))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "python -m modeling_gpt1.tokenization_gpt1: error: Training file not found: "
        f"{str(tmp_path / 'nowhere.txt')!r} (to train on texts, pass iter(texts))"
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--vocab_size", "0"], "vocab_size must be an integer >= 1, got 0"),
        (["--min_frequency", "-1"], "min_frequency must be an integer >= 0"),
        (["--vocab_size", "many"], "argument --vocab_size: invalid int value: 'many'"),
        (["--task_template", "qa"], "argument --task_template: invalid choice: 'qa'"),
        (["--dataset", "x"], "argument --dataset: not allowed with argument --files"),
    ],
)
def test_command_line_user_errors_exit_2_with_one_line(corpus_file, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--files", str(corpus_file), "--no_progress", "--output_dir", str(tmp_path / "t"), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_command_line_trains_on_a_datasets_column(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with open(data_dir / "train.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("id", "body"), *enumerate(CORPUS * 5)])
    output_dir = tmp_path / "trained"
    main(["--dataset", str(data_dir), "--text_column", "body", "--vocab_size", "70", "--min_frequency", "1",
          "--no_progress", "--output_dir", str(output_dir)])  # fmt: skip
    assert AutoTokenizer.from_pretrained(output_dir).vocab_size == 70
    with pytest.raises(SystemExit) as exit_info:
        main(["--dataset", str(data_dir), "--output_dir", str(output_dir), "--no_progress"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_batched_generation_with_the_default_padding_gives_each_prompts_own_output(
    tokenizer, padding_side, monkeypatch
):
    """With the tokenizer's default (right) padding, `generate` moves the padding to the left, so that a short prompt
    batched with a long one is continued from its own last token and generates what it generates alone (it was
    continued from its padding before either change)."""
    import torch

    from modeling_gpt1 import GPT1Config, GPT1LMHeadModel

    torch.manual_seed(0)
    config = GPT1Config(n_layer=2, n_embd=32, n_head=4, vocab_size=len(tokenizer), n_positions=64,
                        initializer_range=0.2, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    model = GPT1LMHeadModel(config).eval()
    prompts = ["the dog", "the quick brown fox jumps over the lazy"]
    settings = dict(max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    monkeypatch.setattr(tokenizer, "padding_side", padding_side)
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    batched = model.generate(**batch, **settings)[:, batch["input_ids"].shape[1] :]
    for row, prompt in zip(batched, prompts):
        alone = tokenizer(prompt, return_tensors="pt")
        expected = model.generate(**alone, **settings)[0, alone["input_ids"].shape[1] :]
        assert row.tolist() == expected.tolist(), prompt


# --- public bug reports: added tokens, empty training data, unreadable folders -----------------------------------


def test_tokens_added_later_keep_their_word_boundaries_in_decode(tokenizer, tmp_path):
    """`add_tokens` and `add_special_tokens` after the tokenizer was built: their tokens carry no `</w>`, and decoded
    glued to the next word ("the cat newwordsat"); they get a boundary like the built-in special tokens."""
    tokenizer = GPT1Tokenizer(tokenizer_object=tokenizer.backend_tokenizer)  # a copy
    tokenizer.add_tokens(["NewWord"])  # normalized=True (the default): stored lower-cased, as the text it matches
    ids = tokenizer("the cat NewWord sat")["input_ids"]
    assert tokenizer.decode(ids) == "the cat newword sat"
    tokenizer.add_special_tokens({"additional_special_tokens": ["<Speaker1>"]})
    ids = tokenizer("the cat <Speaker1> sat", split_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == "the cat <Speaker1> sat"
    assert tokenizer.decode(ids, skip_special_tokens=True) == "the cat sat"
    tokenizer.save_pretrained(tmp_path)
    loaded = GPT1Tokenizer.from_pretrained(tmp_path)
    assert loaded.decode(loaded("<Speaker1> NewWord dog", split_special_tokens=False)["input_ids"]) == (
        "<Speaker1> newword dog"
    )


@pytest.mark.parametrize("texts", [[], [""], ["  \t "]], ids=["empty", "empty-string", "white-space"])
def test_training_without_text_is_an_error(texts):
    with pytest.raises(ValueError, match="No text to train the tokenizer on"):
        train_gpt1_tokenizer(iter(texts), show_progress=False)


def test_training_on_an_empty_file_is_an_error(tmp_path):
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="No text to train the tokenizer on"):
        train_gpt1_tokenizer(tmp_path / "empty.txt", show_progress=False)


def test_loading_a_folder_that_is_not_there_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    # A valid Hub repository id, offline: not a folder here, not in the cache.
    with pytest.raises(OSError, match="Tokenizer folder no_such_dir not found.*offline"):
        GPT1Tokenizer.from_pretrained("no_such_dir")
    # Not a repository id at all (was: "Repo id must be in the form 'repo_name' or 'namespace/repo_name'").
    with pytest.raises(OSError, match=r"Tokenizer folder \./out/tok not found"):
        GPT1Tokenizer.from_pretrained("./out/tok")
    (tmp_path / "no_tokenizer").mkdir()
    with pytest.raises(OSError, match="no_tokenizer holds no tokenizer.json"):
        GPT1Tokenizer.from_pretrained(tmp_path / "no_tokenizer")


@pytest.mark.parametrize("file_name", ["tokenizer.json", "tokenizer_config.json"])
def test_a_truncated_or_invalid_json_file_is_named(tokenizer, tmp_path, file_name):
    tokenizer.save_pretrained(tmp_path)
    path = tmp_path / file_name
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")  # truncated mid-file, as by a full disk
    with pytest.raises(ValueError, match=f"{file_name} is not valid JSON"):
        GPT1Tokenizer.from_pretrained(tmp_path)
    path.write_text("{bad", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{file_name} is not valid JSON"):
        GPT1Tokenizer.from_pretrained(tmp_path)


def test_a_tokenizer_json_that_tokenizers_cannot_read_is_named(tokenizer, tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"model": 3}', encoding="utf-8")
    with pytest.raises(ValueError, match="tokenizer.json is not a valid tokenizers file"):
        GPT1Tokenizer(tokenizer_file=tmp_path / "tokenizer.json")


def test_long_runs_of_affixes_take_linear_time(tokenizer):
    """A run of quotes inside a chunk made the suffix look-ahead backtrack exponentially (`''` or `'` twice), until
    Oniguruma gave up with a Rust panic ("retry-limit-in-match over"). By spaCy's rules the chunk is one word: it ends
    in a letter, so no suffix comes off, and nothing else splits it; 20 quotes at a chunk's end come off as 10 `''`."""
    backend = tokenizer.backend_tokenizer
    for text, expected in [("b" + "'" * 5000 + "a", ["b" + "'" * 5000 + "a"]), ("a" + "'" * 20, ["a"] + ["''"] * 10)]:
        words = [word for word, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text))]
        assert words == expected
    assert len(tokenizer("x" + "'s" * 5000 + "." * 3, add_special_tokens=False)["input_ids"]) > 0
