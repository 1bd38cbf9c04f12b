"""GPT1Tokenizer's exact mode (`preprocessing="original"`): OpenAI's 2018 pipeline (ftfy, the original
standardisation, spaCy's English tokenizer rules, lower case) before the BPE, giving the 2018 encoder's ids.

The expected words and tokens below were not worked out by this package: they are the output of OpenAI's own
`text_utils.TextEncoder` (its release's text_utils.py, with ftfy 6.3.1 and spaCy 3.8.18's English tokenizer rules,
and the released 40,478-token vocabulary), printed by `scripts/original_tokenizer_cases.py` on the machine that has
the release. That script also wrote tests/data/gpt1_merges_subset.txt: the released merges that fire on these words,
in their order, from which `mini_release` builds a small vocabulary giving the same tokens. One case per difference
class measured between the package's default pipeline and the 2018 encoder (issue 12); tests never read the release.
"""

import importlib.util
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

import modeling_gpt1.original_preprocessing as original_preprocessing
from modeling_gpt1.original_preprocessing import text_standardize
from modeling_gpt1.tokenization_gpt1 import GPT1Tokenizer


MERGES_FILE = Path(__file__).parent / "data" / "gpt1_merges_subset.txt"

CASES = [
    "I don’t think Ogg’s “big” plan will work.",
    "She said ‘no’ and left.",
    "Mr. Smith and Dr. Jones met on St. James St. in the U.S. last week.",
    "See p. 12 of the report, e.g. the table.",
    "The company paid $10,000,000 for 1,500 shares.",
    "He was born on the 6th of May in the 1970s, not the 21st century.",
    "Visit http://www.example.com/page?id=3 or example.org for details.",
    "R&D spending rose to US$5 billion at AT&T.",
    "Chapter one ends here.\n\n***\n\nChapter two begins.",
    "I cannot believe you're gonna leave.",
    "Acme™ sold ½ of its stock.",
    "Iraqâ€™s oil exports fell.",
    "Tom &amp; Jerry is a cartoon.",
    "The bell rang\x07 twice.",
    "Wait -- what?! No... it’s fine…",
    "He said—quickly—that it was 10–20 years.",
    "A back\\slash, a c++ compiler and 2+2.",
    "Café naïve résumé",
    "ﬁnal ＡＢＣ",
    "Line one\nLine two\r\nLine three",
    "  Leading and   trailing spaces  ",
    "I'll, we've, they'd, she's, isn't, can't, won't",
    "“Hello,” she said. “How are you?”",
    "The rate was 3.5% (up from 2.9%) in Q3.",
    "Write to john.doe@example.com today.",
    "It costs £5 or €6, about ¥700.",
    "😀 emoji and ☃ snowman",
    "Non-breaking\u00a0space and tab\tseparated",
    "O'Neill's dog's bone´s",
    "Jan. 5, 2010 at 5:30pm",
    "ΟΔΟΣ and Straße",
    "[brackets] {braces} under_score ~tilde~ |pipe| semi;colon",
]

# (words, BPE tokens) of OpenAI's 2018 TextEncoder for each text of CASES, in order. Its words keep spaCy's
# newline token `"\\n "`; its BPE turns that into the symbol `"\\n</w>"`.
# fmt: off
CASES_EXPECTED = [
    (["i", "do", "n't", "think", "ogg", "'s", "\"", "big", "\"", "plan", "will", "work", "."], ["i</w>", "do</w>", "n't</w>", "think</w>", "ogg</w>", "'s</w>", "\"</w>", "big</w>", "\"</w>", "plan</w>", "will</w>", "work</w>", ".</w>"]),
    (["she", "said", "'", "no", "'", "and", "left", "."], ["she</w>", "said</w>", "'</w>", "no</w>", "'</w>", "and</w>", "left</w>", ".</w>"]),
    (["mr.", "smith", "and", "dr.", "jones", "met", "on", "st.", "james", "st.", "in", "the", "u.s.", "last", "week", "."], ["mr.</w>", "smith</w>", "and</w>", "dr.</w>", "jones</w>", "met</w>", "on</w>", "st.</w>", "james</w>", "st.</w>", "in</w>", "the</w>", "u.s.</w>", "last</w>", "week</w>", ".</w>"]),
    (["see", "p.", "12", "of", "the", "report", ",", "e.g.", "the", "table", "."], ["see</w>", "p.</w>", "12</w>", "of</w>", "the</w>", "report</w>", ",</w>", "e.", "g.</w>", "the</w>", "table</w>", ".</w>"]),
    (["the", "company", "paid", "$", "10", ",", "000", ",", "000", "for", "1", ",", "500", "shares", "."], ["the</w>", "company</w>", "paid</w>", "$</w>", "10</w>", ",</w>", "000</w>", ",</w>", "000</w>", "for</w>", "1</w>", ",</w>", "500</w>", "shares</w>", ".</w>"]),
    (["he", "was", "born", "on", "the", "6th", "of", "may", "in", "the", "1970s", ",", "not", "the", "21st", "century", "."], ["he</w>", "was</w>", "born</w>", "on</w>", "the</w>", "6th</w>", "of</w>", "may</w>", "in</w>", "the</w>", "1970s</w>", ",</w>", "not</w>", "the</w>", "21st</w>", "century</w>", ".</w>"]),
    (["visit", "http", ":", "//", "www.example.com", "/", "page", "?", "id=3", "or", "example.org", "for", "details", "."], ["visit</w>", "http</w>", ":</w>", "//</w>", "www.", "exa", "mp", "le", ".com</w>", "/</w>", "page</w>", "?</w>", "id", "=", "3</w>", "or</w>", "exa", "mp", "le", ".", "org</w>", "for</w>", "details</w>", ".</w>"]),
    (["r&d", "spending", "rose", "to", "us$", "5", "billion", "at", "at&t."], ["r", "&", "d</w>", "spending</w>", "rose</w>", "to</w>", "us", "$</w>", "5</w>", "billion</w>", "at</w>", "at", "&", "t.</w>"]),
    (["chapter", "one", "ends", "here", ".", "\n ", "*", "*", "*", "\n ", "chapter", "two", "begins", "."], ["chapter</w>", "one</w>", "ends</w>", "here</w>", ".</w>", "\n</w>", "*</w>", "*</w>", "*</w>", "\n</w>", "chapter</w>", "two</w>", "begins</w>", ".</w>"]),
    (["i", "can", "not", "believe", "you", "'re", "gon", "na", "leave", "."], ["i</w>", "can</w>", "not</w>", "believe</w>", "you</w>", "'re</w>", "gon</w>", "na</w>", "leave</w>", ".</w>"]),
    (["acme", "™", "sold", "½", "of", "its", "stock", "."], ["ac", "me</w>", "™</w>", "sold</w>", "½</w>", "of</w>", "its</w>", "stock</w>", ".</w>"]),
    (["iraq", "'s", "oil", "exports", "fell", "."], ["iraq</w>", "'s</w>", "oil</w>", "exp", "orts</w>", "fell</w>", ".</w>"]),
    (["tom", "&", "jerry", "is", "a", "cartoon", "."], ["tom</w>", "&</w>", "jerry</w>", "is</w>", "a</w>", "cartoon</w>", ".</w>"]),
    (["the", "bell", "rang", "twice", "."], ["the</w>", "bell</w>", "rang</w>", "twice</w>", ".</w>"]),
    (["wait", "--", "what", "?", "!", "no", "...", "it", "'s", "fine", "..."], ["wait</w>", "--</w>", "what</w>", "?</w>", "!</w>", "no</w>", "...</w>", "it</w>", "'s</w>", "fine</w>", "...</w>"]),
    (["he", "said", "-", "quickly", "-", "that", "it", "was", "10", "-", "20", "years", "."], ["he</w>", "said</w>", "-</w>", "quickly</w>", "-</w>", "that</w>", "it</w>", "was</w>", "10</w>", "-</w>", "20</w>", "years</w>", ".</w>"]),
    (["a", "back\\slash", ",", "a", "c", "+", "+", "compiler", "and", "2", "+", "2", "."], ["a</w>", "back", "\\", "slash</w>", ",</w>", "a</w>", "c</w>", "+</w>", "+</w>", "comp", "iler</w>", "and</w>", "2</w>", "+</w>", "2</w>", ".</w>"]),
    (["café", "naïve", "résumé"], ["café</w>", "naïve</w>", "r", "é", "sum", "é</w>"]),
    (["final", "abc"], ["final</w>", "abc</w>"]),
    (["line", "one", "\n ", "line", "two", "\n ", "line", "three"], ["line</w>", "one</w>", "\n</w>", "line</w>", "two</w>", "\n</w>", "line</w>", "three</w>"]),
    (["leading", "and", "trailing", "spaces"], ["leading</w>", "and</w>", "trailing</w>", "spaces</w>"]),
    (["i", "'ll", ",", "we", "'ve", ",", "they", "'d", ",", "she", "'s", ",", "is", "n't", ",", "ca", "n't", ",", "wo", "n't"], ["i</w>", "'ll</w>", ",</w>", "we</w>", "'ve</w>", ",</w>", "they</w>", "'d</w>", ",</w>", "she</w>", "'s</w>", ",</w>", "is</w>", "n't</w>", ",</w>", "ca</w>", "n't</w>", ",</w>", "wo</w>", "n't</w>"]),
    (["\"", "hello", ",", "\"", "she", "said", ".", "\"", "how", "are", "you", "?", "\""], ["\"</w>", "hello</w>", ",</w>", "\"</w>", "she</w>", "said</w>", ".</w>", "\"</w>", "how</w>", "are</w>", "you</w>", "?</w>", "\"</w>"]),
    (["the", "rate", "was", "3.5", "%", "(", "up", "from", "2.9", "%", ")", "in", "q3", "."], ["the</w>", "rate</w>", "was</w>", "3.", "5</w>", "%</w>", "(</w>", "up</w>", "from</w>", "2.", "9</w>", "%</w>", ")</w>", "in</w>", "q", "3</w>", ".</w>"]),
    (["write", "to", "john.doe@example.com", "today", "."], ["write</w>", "to</w>", "john", ".", "do", "e", "@", "exa", "mp", "le", ".com</w>", "today</w>", ".</w>"]),
    (["it", "costs", "£", "5", "or", "€", "6", ",", "about", "¥", "700", "."], ["it</w>", "costs</w>", "£</w>", "5</w>", "or</w>", "€</w>", "6</w>", ",</w>", "about</w>", "<unk>", "700</w>", ".</w>"]),
    (["😀", "emoji", "and", "☃", "snowman"], ["<unk>", "emo", "ji</w>", "and</w>", "<unk>", "snowman</w>"]),
    (["non", "-", "breaking", "space", "and", "tab", "separated"], ["non</w>", "-</w>", "breaking</w>", "space</w>", "and</w>", "tab</w>", "separated</w>"]),
    (["o'neill", "'s", "dog", "'s", "bone", "'s"], ["o'neill</w>", "'s</w>", "dog</w>", "'s</w>", "bone</w>", "'s</w>"]),
    (["jan.", "5", ",", "2010", "at", "5:30pm"], ["jan", ".</w>", "5</w>", ",</w>", "2010</w>", "at</w>", "5:", "30", "pm</w>"]),
    (["οδος", "and", "straße"], ["ο", "δ", "ο", "ς</w>", "and</w>", "stra", "ß", "e</w>"]),
    (["[", "brackets", "]", "{", "braces", "}", "under", "_", "score", "~", "tilde", "~", "|", "pipe", "|", "semi", ";", "colon"], ["[</w>", "brack", "ets</w>", "]</w>", "{</w>", "braces</w>", "}</w>", "under</w>", "_</w>", "score</w>", "~</w>", "til", "de</w>", "~</w>", "|</w>", "pipe</w>", "|</w>", "semi</w>", ";</w>", "colon</w>"]),
]
# fmt: on

needs_extra = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("ftfy", "spacy")),
    reason='the exact mode needs ftfy and spaCy: pip install -e ".[original]"',
)


# --- the standardisation (standard library only) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Values printed by the release's own `text_standardize`. Its first pattern is a plain string in which `\\+`
        # becomes `\+`: backslashes stay glued, runs of `+` are isolated.
        ("a back\\slash, c++ and 2+2", "a back\\slash , c ++ and 2 + 2"),
        ("Wait -- what?!  No… it´s—fine", "Wait -- what ? ! No... it's - fine"),
        (" one\n\n  two\r\nthree\t four ", "one \n two \n three four"),
        ('x***y [a]{b}(c) u_v ~w~ |p| s;c "q" 1/2', 'x *** y [ a ] { b } ( c ) u _ v ~ w ~ | p | s ; c " q " 1 / 2'),
        ("a\u00a0b\u2028c", "a b c"),
    ],
)
def test_text_standardize_is_the_releases(text, expected):
    assert text_standardize(text) == expected


# --- the words and ids of the 2018 encoder -------------------------------------------------------------------------


def _release_files(directory: Path) -> tuple[Path, Path]:
    """A vocabulary in the release's layout (`<unk>` at 0) with the merges of MERGES_FILE and the symbols the cases
    end with; the special tokens come after it, as for the release."""
    lines = MERGES_FILE.read_text(encoding="utf-8").split("\n")
    merges = [tuple(line.split(" ")) for line in lines[1:] if line]
    merged = [left + right for left, right in merges]
    symbols = {symbol for pair in merges for symbol in pair} | {t for _, tokens in CASES_EXPECTED for t in tokens}
    base = sorted(symbols - set(merged) - {"<unk>"})
    vocab = {token: i for i, token in enumerate(dict.fromkeys(["<unk>", *base, *merged]))}
    encoder_path, merges_path = directory / "encoder_bpe.json", directory / "vocab.bpe"
    encoder_path.write_text(json.dumps(vocab), encoding="utf-8")
    merges_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return encoder_path, merges_path


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return _release_files(tmp_path_factory.mktemp("release"))


@pytest.fixture
def exact(release):
    return GPT1Tokenizer.from_original_files(*release, preprocessing="original")


def test_cases_and_expectations_line_up():
    assert len(CASES) == len(CASES_EXPECTED)


@needs_extra
@pytest.mark.parametrize(("text", "expected"), list(zip(CASES, CASES_EXPECTED)), ids=[c[:24] for c in CASES])
def test_words_are_the_2018_encoders(text, expected):
    words, _ = expected
    assert original_preprocessing.original_words(text) == ["\n" if word == "\n " else word for word in words]


@needs_extra
def test_exact_mode_gives_the_2018_encoders_tokens_and_ids(exact):
    vocab = exact.get_vocab()
    for text, (_, tokens) in zip(CASES, CASES_EXPECTED):
        ids = exact(text, add_special_tokens=False)["input_ids"]
        assert exact.convert_ids_to_tokens(ids) == tokens, text
        assert ids == [vocab[token] for token in tokens]
        assert exact.tokenize(text) == tokens
    assert exact("")["input_ids"] == []


def test_the_default_mode_gives_the_2018_encoders_tokens_on_every_case(release):
    """Issue 12's default pipeline (no ftfy, no spaCy: their rules as data inside tokenizer.json) gives the 2018
    encoder's tokens, hence ids, on every case, among them the words that depend on case in spaCy but are written in
    the usual case here (`AT&T.`, `U.S.`)."""
    default = GPT1Tokenizer.from_original_files(*release)
    vocab = default.get_vocab()
    for text, (_, tokens) in zip(CASES, CASES_EXPECTED):
        ids = default(text, add_special_tokens=False)["input_ids"]
        assert default.convert_ids_to_tokens(ids) == tokens, text
        assert ids == [vocab[token] for token in tokens]


@needs_extra
def test_the_default_mode_is_unchanged_by_the_option(release, exact):
    default = GPT1Tokenizer.from_original_files(*release)
    assert default.preprocessing is None and exact.preprocessing == "original"
    assert exact.backend_tokenizer.normalizer is None  # all of the text pipeline runs in Python, before the BPE
    assert default.backend_tokenizer.normalizer is not None and default.backend_tokenizer.pre_tokenizer is not None
    # ftfy uncurls the apostrophe and spaCy splits off the possessive.
    assert exact.tokenize("Ogg’s") == ["ogg</w>", "'s</w>"]

    expected = exact(CASES)["input_ids"]
    exact.set_preprocessing(None)
    assert exact.preprocessing is None and exact(CASES)["input_ids"] == default(CASES)["input_ids"]
    exact.set_preprocessing("original")
    assert exact(CASES)["input_ids"] == expected


@needs_extra
def test_batches_padding_truncation_and_tensors(exact):
    texts = CASES[:6]
    single = [exact(text)["input_ids"] for text in texts]
    assert exact(texts)["input_ids"] == single
    assert exact(texts, padding="longest", truncation=True, max_length=10)["input_ids"][0] == single[0][:10]

    batch = exact(texts, padding=True, return_tensors="pt")
    longest = max(len(ids) for ids in single)
    assert tuple(batch["input_ids"].shape) == (len(texts), longest)
    for row, mask, ids in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist(), single):
        pad = longest - len(ids)  # right padding, as GPT-2's tokenizer
        assert row == ids + [exact.pad_token_id] * pad and mask == [1] * len(ids) + [0] * pad
    assert exact.decode(single[2]) == " ".join(CASES_EXPECTED[2][0])
    assert exact.batch_decode(single[:2]) == [" ".join(CASES_EXPECTED[i][0]) for i in range(2)]


@needs_extra
def test_classification_template_and_pairs(release):
    tokenizer = GPT1Tokenizer.from_original_files(*release, preprocessing="original", task_template="classification")
    first = tokenizer(CASES[0], add_special_tokens=False)["input_ids"]
    second = tokenizer(CASES[1], add_special_tokens=False)["input_ids"]
    start, delimiter, extract = tokenizer.start_token_id, tokenizer.delimiter_token_id, tokenizer.extract_token_id
    assert tokenizer(CASES[0])["input_ids"] == [start, *first, extract]
    assert tokenizer(CASES[0], CASES[1])["input_ids"] == [start, *first, delimiter, *second, extract]
    pairs = tokenizer([CASES[0], CASES[2]], [CASES[1], CASES[3]], padding=True)
    assert pairs["input_ids"][0][: len(first) + 2] == [start, *first, delimiter]
    # Special tokens' strings inside text stay text (split_special_tokens=True, as in the default mode).
    assert extract not in tokenizer("a _classify_ b", add_special_tokens=False)["input_ids"]


@needs_extra
def test_gpt_input_transformations_use_the_exact_words(exact):
    from modeling_gpt1.transforms import InputTransform

    transform = InputTransform(
        exact, "multiple_choice", text_fields="story", answer_fields=["a", "b"], label_field=None
    )
    batch = transform({"story": [CASES[0]], "a": [CASES[1]], "b": [CASES[9]]})
    story, first, second = (
        exact(text, add_special_tokens=False)["input_ids"] for text in (CASES[0], CASES[1], CASES[9])
    )
    start, delimiter, extract = exact.start_token_id, exact.delimiter_token_id, exact.extract_token_id
    assert batch["input_ids"] == [
        [[start, *story, delimiter, *first, extract], [start, *story, delimiter, *second, extract]]
    ]


@needs_extra
def test_pre_split_words_are_lower_cased_and_encoded_as_given(exact):
    ids = exact(["Mr.", "Smith"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    assert exact.convert_ids_to_tokens(ids) == ["mr.</w>", "smith</w>"]
    batch = exact([["Mr.", "Smith"], ["week"]], is_split_into_words=True, add_special_tokens=False)
    assert batch["input_ids"] == [ids, [exact.convert_tokens_to_ids("week</w>")]]
    # word_ids() map each token to its word of the 2018 pipeline.
    assert exact("the U.S. met")["input_ids"] and exact("the U.S. met").word_ids() == [0, 1, 2]


@needs_extra
def test_offsets_are_refused_in_the_exact_mode(exact):
    with pytest.raises(ValueError, match="offsets"):
        exact("the week", return_offsets_mapping=True)


@needs_extra
def test_added_tokens_keep_their_ids(exact):
    exact = pickle.loads(pickle.dumps(exact))  # a copy (pickling is what datasets.map does with a tokenizer)
    exact.add_tokens(["NewWord"])
    new_id = exact.convert_tokens_to_ids("NewWord")
    ids = exact("the NewWord met", add_special_tokens=False)["input_ids"]
    assert ids == [exact.convert_tokens_to_ids("the</w>"), new_id, exact.convert_tokens_to_ids("met</w>")]


# --- saving and loading --------------------------------------------------------------------------------------------


@needs_extra
def test_exact_mode_survives_save_and_load(release, exact, tmp_path):
    exact.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["preprocessing"] == "original"
    expected = exact(CASES, add_special_tokens=False)["input_ids"]
    for loaded in (AutoTokenizer.from_pretrained(tmp_path), GPT1Tokenizer.from_pretrained(tmp_path)):
        assert type(loaded) is GPT1Tokenizer and loaded.preprocessing == "original"
        assert loaded(CASES, add_special_tokens=False)["input_ids"] == expected
    # Overriding the saved mode gives the default pipeline back.
    default = GPT1Tokenizer.from_pretrained(tmp_path, preprocessing=None)
    fresh = GPT1Tokenizer.from_original_files(*release)
    assert default.preprocessing is None
    assert default(CASES)["input_ids"] == fresh(CASES)["input_ids"]


@needs_extra
@pytest.mark.slow
def test_exact_mode_loads_with_trust_remote_code_without_this_package(exact, tmp_path):
    exact.save_pretrained(tmp_path / "tok")
    files = sorted(os.listdir(tmp_path / "tok"))
    assert "original_preprocessing.py" in files and "tokenization_gpt1.py" in files
    script = (
        "import importlib.abc, json, sys\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'modeling_gpt1':\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from transformers import AutoTokenizer\n"
        f"t = AutoTokenizer.from_pretrained({str(tmp_path / 'tok')!r}, trust_remote_code=True)\n"
        f"ids = t({CASES!r}, add_special_tokens=False)['input_ids']\n"
        "print(json.dumps([type(t).__module__, t.preprocessing, ids]))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    module, preprocessing, ids = json.loads(result.stdout.strip().splitlines()[-1])
    assert module.startswith("transformers_modules.") and preprocessing == "original"
    assert ids == exact(CASES, add_special_tokens=False)["input_ids"]


# --- options and errors --------------------------------------------------------------------------------------------


def test_missing_extra_raises_an_error_naming_it(release, monkeypatch):
    real_import = original_preprocessing.importlib.import_module

    def without_spacy(name, *args, **kwargs):
        if name.split(".")[0] in ("ftfy", "spacy"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(original_preprocessing.importlib, "import_module", without_spacy)
    original_preprocessing._pipeline.cache_clear()
    try:
        with pytest.raises(ImportError, match=r'pip install "modeling-gpt1\[original\]"'):
            GPT1Tokenizer.from_original_files(*release, preprocessing="original")
        with pytest.raises(ImportError, match=r"modeling-gpt1\[original\]"):
            original_preprocessing.original_words("text")
        # The default mode needs neither.
        assert GPT1Tokenizer.from_original_files(*release).tokenize("the week") == ["the</w>", "week</w>"]
    finally:
        original_preprocessing._pipeline.cache_clear()


@needs_extra
def test_a_saved_exact_folder_without_the_extra_names_it_and_loads_in_the_default_mode(exact, tmp_path, monkeypatch):
    exact.save_pretrained(tmp_path)
    real_import = original_preprocessing.importlib.import_module

    def without_ftfy(name, *args, **kwargs):
        if name.split(".")[0] == "ftfy":
            raise ModuleNotFoundError("No module named 'ftfy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(original_preprocessing.importlib, "import_module", without_ftfy)
    original_preprocessing._pipeline.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"modeling-gpt1\[original\]"):
            AutoTokenizer.from_pretrained(tmp_path)
        default = AutoTokenizer.from_pretrained(tmp_path, preprocessing=None)
        assert default.preprocessing is None and default.tokenize("The week") == ["the</w>", "week</w>"]
    finally:
        original_preprocessing._pipeline.cache_clear()


def test_unknown_preprocessing_raises(release):
    with pytest.raises(ValueError, match="preprocessing"):
        GPT1Tokenizer.from_original_files(*release, preprocessing="spacy")
