"""GPT-1's 2018 text pipeline, up to the BPE: the words that OpenAI's `TextEncoder` encodes.

OpenAI's released `text_utils.py` (MIT License) prepares each text as

    ftfy.fix_text -> text_standardize -> spaCy's English tokenizer -> each token lower-cased -> BPE

`original_words(text)` returns the lower-cased words of that pipeline; `GPT1Tokenizer` in the exact mode
(`preprocessing="original"`) feeds them to its BPE as pre-split words, which gives the original's ids.

ftfy and spaCy are an optional extra (`pip install "modeling-gpt1[original]"`). They are imported on first use, through
`importlib`, so that this module, which travels next to saved tokenizers for `trust_remote_code=True`, imports only the
standard library when the exact mode is not used. spaCy's rule-based English tokenizer ships with spaCy: no language
model is downloaded (the original's `spacy.load('en', disable=[...])` only used that model's tokenizer).
"""

import functools
import importlib
import re


ORIGINAL_PREPROCESSING = "original"
EXTRA_INSTALL = 'pip install "modeling-gpt1[original]"'

# `text_standardize` of OpenAI's released text_utils.py (MIT), rewritten here so that it behaves identically. Its
# first pattern is a plain (not raw) string in which `\\+` becomes `\+`: it isolates runs of these characters and
# single plus signs, but not backslashes.
_STANDARDIZE_REPLACEMENTS = (("\u2014", "-"), ("\u2013", "-"), ("\u2015", "-"), ("\u2026", "..."), ("\u00b4", "'"))
_ISOLATED_RUNS = re.compile(r"""(-+|~+|!+|"+|;+|\?+|\++|,+|\)+|\(+|\+|\/+|\*+|\[+|\]+|}+|{+|\|+|_+)""")
_NEWLINE_RUN = re.compile(r"\s*\n\s*")
_SPACE_RUN = re.compile(r"[^\S\n]+")


def text_standardize(text: str) -> str:
    """OpenAI's standardisation: dashes, ellipsis and acute accent replaced, runs of some punctuation isolated by
    spaces, each newline and the white space around it made `" \\n "`, other white space runs made one space."""
    for old, new in _STANDARDIZE_REPLACEMENTS:
        text = text.replace(old, new)
    text = _ISOLATED_RUNS.sub(r" \1 ", text)
    text = _NEWLINE_RUN.sub(" \n ", text)
    text = _SPACE_RUN.sub(" ", text)
    return text.strip()


class MissingOriginalPreprocessingError(ImportError):
    """ftfy or spaCy, needed by `preprocessing="original"`, is not installed."""


@functools.cache
def _pipeline():
    """`ftfy.fix_text` and spaCy's English tokenizer, loaded once per process (kept out of the tokenizer object, so
    that pickling or hashing a tokenizer, as `datasets.map` does, never touches spaCy)."""
    try:
        ftfy = importlib.import_module("ftfy")
        english = importlib.import_module("spacy.lang.en")
    except ImportError as error:
        raise MissingOriginalPreprocessingError(
            f"preprocessing='original' (GPT-1's 2018 pipeline) needs ftfy and spaCy, the `original` extra: "
            f"{EXTRA_INSTALL} ({error})"
        ) from error
    return ftfy.fix_text, english.English().tokenizer


def check_available() -> None:
    """Raise `MissingOriginalPreprocessingError` (an ImportError naming the extra) when ftfy or spaCy is missing."""
    _pipeline()


def original_words(text: str) -> list[str]:
    """The lower-cased words that OpenAI's `TextEncoder` BPE-encodes for `text`.

    spaCy keeps the space that follows a newline in the newline's token (`"\\n "`); the original's BPE turns that
    token into the symbol `"\\n</w>"`, which is what the word `"\\n"` gives, so it comes back as `"\\n"`.
    """
    fix_text, tokenizer = _pipeline()
    words = []
    for token in tokenizer(text_standardize(fix_text(text))):
        word = token.text.lower()
        words.append("\n" if word == "\n " else word)
    return words


def original_words_batch(texts: list[str]) -> list[list[str]]:
    """`original_words` of each text."""
    return [original_words(text) for text in texts]


__all__ = [
    "ORIGINAL_PREPROCESSING",
    "EXTRA_INSTALL",
    "MissingOriginalPreprocessingError",
    "check_available",
    "original_words",
    "original_words_batch",
    "text_standardize",
]
