"""GPT-1's tokenizer: lower-cased BPE over words that end in `</w>`, plus the special tokens of GPT's input
transformations (`_start_`, `_delimiter_`, `_classify_`) and a padding token.

The whole pipeline lives in one `tokenizers.Tokenizer`, so `save_pretrained` writes it to `tokenizer.json` and it
loads back identically, with or without this package (`trust_remote_code=True`). This module imports only the
standard library, `tokenizers`, `transformers`, the configuration and `original_preprocessing` (standard library only),
so that it can travel next to saved files.

The exact mode (`preprocessing="original"`) reproduces OpenAI's 2018 encoder instead: ftfy's fixes, OpenAI's
standardisation, spaCy's English tokenizer rules and lower-casing run in Python (`original_preprocessing`, which needs
the `original` extra: ftfy and spaCy), and their words go to the same BPE as pre-split words.

Command line (trains a tokenizer and saves it):

    python -m modeling_gpt1.tokenization_gpt1 --files a.txt b.txt --vocab_size 40478 --output_dir tokenizer/
    python -m modeling_gpt1.tokenization_gpt1 --dataset NAME --dataset_config C --text_column text --output_dir tok/
"""

import argparse
import functools
import importlib.util
import json
import os
import re
import sys
from collections.abc import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE
from tokenizers.trainers import BpeTrainer
from transformers import AutoTokenizer, PreTrainedTokenizerFast
from transformers.utils import logging

from .configuration_gpt1 import SPECIAL_TOKENS, GPT1Config
from .original_preprocessing import (
    EXTRA_INSTALL,
    ORIGINAL_PREPROCESSING,
    SPACY_EXCEPTIONS,
    check_available,
    original_words,
)


logger = logging.get_logger(__name__)

# Fine-tuning appends these after the BPE vocabulary, in this order (40478..40481 for the released vocabulary):
# tokenizer attribute (`start_token`) -> token text, from the config's `SPECIAL_TOKENS` (`start_token_id` -> text).
GPT1_SPECIAL_TOKENS = {field.removesuffix("_id"): token for field, token in SPECIAL_TOKENS.items()}
START_TOKEN = GPT1_SPECIAL_TOKENS["start_token"]
DELIMITER_TOKEN = GPT1_SPECIAL_TOKENS["delimiter_token"]
EXTRACT_TOKEN = GPT1_SPECIAL_TOKENS["extract_token"]
PAD_TOKEN = GPT1_SPECIAL_TOKENS["pad_token"]
UNK_TOKEN = "<unk>"
END_OF_WORD = "</w>"

TASK_TEMPLATES = ("classification",)
# `preprocessing`: None (the default pipeline, inside tokenizer.json) or "original" (OpenAI's 2018 pipeline in Python).
PREPROCESSING_MODES = (None, ORIGINAL_PREPROCESSING)

# OpenAI's `text_standardize` isolates runs of these characters before spaCy sees the text (its `\\+` isolates `+`
# only: backslashes stay in words).
_PUNCTUATION_RUNS = r"""-+|~+|!+|"+|;+|\?+|\++|,+|\)+|\(+|\+|/+|\*+|\[+|\]+|\}+|\{+|\|+|_+"""

# spaCy's English tokenizer rules (spacy/lang/punctuation.py and char_classes.py, MIT License), for lower-cased text
# in which the standardisation has already isolated the characters above. Prefixes are split off the start of each
# space-separated chunk, suffixes off its end, infixes inside it; what remains is one word, unless it is an entry of
# SPACY_EXCEPTIONS.
_QUOTES = "'\"\u201d\u201c`\u2018\u00b4\u2019\u201a,\u201e\u00bb\u00ab\u300c\u300d\u300e\u300f\uff08\uff09\u3014\u3015\u3010\u3011\u300a\u300b\u3008\u3009\u2329\u232a\u27e6\u27e7"
_PUNCT = "\u2026,:;!?\u00bf\u061f\u00a1()[]{}<>_#*&\u3002\uff1f\uff01\uff0c\u3001\uff1b\uff1a\uff5e\u00b7\u0964\u060c\u06d4\u061b\u066a"
_CURRENCY = "$\u00a3\u20ac\u00a5\u0e3f\u20bd\ufdfc\u20b4"
_CURRENCY_RANGE = "\u20a0-\u20bf"
_UNITS_TEXT = (
    "km km² km³ m m² m³ dm dm² dm³ cm cm² cm³ mm mm² mm³ ha µm nm yd in ft kg g mg µg t lb oz m/s km/h kmh mph hpa pa "
    "mbar mb kb gb tb %"
)
_UNITS = _UNITS_TEXT.split()
_ICON = r"\p{So}"


def _chars(chars: str) -> str:
    """A regex character class body holding `chars` literally (ranges `a-b` written with a hyphen stay ranges)."""
    return "".join("\\" + c if c in "\\]^[-" else c for c in chars)


def _escape(text: str) -> str:
    """`text` as a literal in an Oniguruma pattern (`re.escape` would write `\\'`, an anchor there)."""
    return "".join("\\" + c if c in ".^$*+?()[]{}|\\" else c for c in text)


def _trie_pattern(ends: dict[str, str]) -> str:
    """A pattern matching each key of `ends` literally and then its value (a look-ahead), as a trie of the keys'
    characters, so that the engine follows one branch instead of trying every key."""
    branches, here = {}, None
    for key, end in ends.items():
        if key:
            branches.setdefault(key[0], {})[key[1:]] = end
        else:
            here = end
    parts = [_escape(char) + _trie_pattern(rest) for char, rest in sorted(branches.items())]
    if here is not None:
        parts.append(here)
    return parts[0] if len(parts) == 1 else f"(?:{'|'.join(parts)})"


@functools.cache
def _word_pattern() -> str:
    """One match per word of spaCy's English tokenizer on standardised, lower-cased text (see above)."""
    prefix_chars = _chars(_PUNCT + _QUOTES + "§%=" + _CURRENCY) + _CURRENCY_RANGE
    # `''` is one of spaCy's exceptions made of affixes, which it joins back wherever its parts were split off.
    prefix = rf"''|\.\.+|us\$|c\$|a\$|[{prefix_chars}]|\+(?!\d)|{_ICON}"
    after_period = _chars("%²-+" + _PUNCT + _QUOTES)
    suffix = (
        rf"''|'s|\.\.+|[{_chars(_PUNCT + _QUOTES)}]|{_ICON}"
        rf"|(?<=\d)(?:[{_chars(_CURRENCY)}{_CURRENCY_RANGE}]|{_trie_pattern(dict.fromkeys(_UNITS, ''))}|\+)"
        rf"|(?<=°[fck])\.|(?<=[\d\p{{Ll}}{after_period}])\."
    )
    # Suffixes up to the chunk's end: atomic (no backtracking, which is exponential on a run of quotes: `''` or
    # `'` twice) and at most 16 (each position of a chunk tests this, so a longer bound makes long chunks slower).
    to_chunk_end = rf"(?>(?:{suffix}){{0,16}})(?!\S)"
    chunk_end = rf"(?={to_chunk_end})"
    infix = rf"\.\.+|{_ICON}|(?<=[\p{{L}}\d])[:<>=](?=\p{{L}})|(?<=\d)\^(?=[\d-])"
    start = rf"(?<![^\s{prefix_chars}.+])"  # the start of a chunk, or of what its prefixes leave
    # spaCy's exceptions: where the rest of the chunk is an entry (a trie of the entries' texts), its first word (a
    # trie of first words, each followed by its entries' second words, if any); the second word matches right after
    # its first.
    followers, second = {}, {}
    for entry in SPACY_EXCEPTIONS:
        head, _, tail = entry.partition("+")
        followers.setdefault(head, set()).add(_escape(tail))
        if tail:
            second.setdefault(tail, set()).add(_escape(head + tail))
    entries = _trie_pattern({entry.replace("+", ""): "" for entry in SPACY_EXCEPTIONS})
    heads = _trie_pattern(
        {head: f"(?={'|'.join(sorted(tails, key=len, reverse=True))})" if tails != {""} else ""
         for head, tails in followers.items()}
    )  # fmt: skip
    exceptions = f"(?=(?:{entries}){to_chunk_end}){heads}"
    seconds = _trie_pattern({tail: f"(?<={'|'.join(sorted(texts))})" for tail, texts in second.items()})
    return (
        r"\n"
        # Fast path: a chunk of letters only that is no exception.
        rf"|{start}(?!(?:{entries})(?!\S))\p{{L}}+(?!\S)"
        rf"|{start}(?:{exceptions})"
        rf"|(?:{seconds}){chunk_end}"
        # u.s., at&t., 1.a.: spaCy splits a final period off a lower-case letter but not off a single capital
        # (`U.S.`, `AT&T.`), which is how real text mostly writes these.
        rf"|{start}(?:[\p{{L}}\d]{{1,3}}[.&])+\p{{L}}\.{chunk_end}"
        rf"|{start}(?:{prefix})"
        rf"|(?:{infix})"
        rf"|(?:{suffix}){chunk_end}"
        # What the affixes leave: letters and digits in atomic runs (no suffix or infix starts inside one).
        rf"|(?:(?>\p{{L}}+)|(?>\p{{N}}+)|(?!{infix})\S)+?(?={to_chunk_end}|{infix})"
        r"|\S"
    )


# ftfy's fixes that need no guessing (ftfy/chardata.py, MIT License): full-width and half-width forms and Latin
# ligatures made plain (ftfy uses NFKC for them; NFKC also rewrites other compatibility characters, which ftfy keeps:
# those of the released vocabulary, and ² ³ µ, are kept by hiding them from NFKC behind noncharacters), C1 control
# characters read as Windows-1252, and the control characters it removes.
_KEPT_FROM_NFKC = "\u00a8\u00aa\u00af\u00b9\u00ba\u00bc\u00bd\u00be\u2011\u2122\u00b2\u00b3\u00b5"  # ¨ª¯¹º¼½¾‑™²³µ
_HIDDEN = {char: chr(0xFDD0 + i) for i, char in enumerate(_KEPT_FROM_NFKC)}  # U+FDD0..: never in text
_C1_CONTROLS = {
    chr(i): bytes([i]).decode("cp1252") for i in range(0x80, 0xA0) if i not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}
_REMOVED_CONTROLS = "[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]"
# The usual mojibake of curly quotes, dashes and the ellipsis (UTF-8 read as Windows-1252), which ftfy repairs.
_MOJIBAKE = {
    ("\u00e2\u20ac" + bad): good
    for bad, good in zip("\u2122\u02dc\u0153\u009d\u201c\u201d\u00a6", "\u2019\u2018\u201c\u201d\u2013\u2014\u2026")
}
# HTML entities ftfy unescapes, the common ones.
_HTML_ENTITIES = {
    "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&#39;": "'", "&#x27;": "'", "&#34;": '"',
    "&nbsp;": "\u00a0", "&mdash;": "\u2014", "&ndash;": "\u2013", "&hellip;": "\u2026", "&lsquo;": "\u2018",
    "&rsquo;": "\u2019", "&ldquo;": "\u201c", "&rdquo;": "\u201d", "&copy;": "\u00a9", "&reg;": "\u00ae",
    "&trade;": "\u2122", "&eacute;": "\u00e9", "&pound;": "\u00a3", "&euro;": "\u20ac", "&deg;": "\u00b0",
}  # fmt: skip


def _gpt1_normalizer() -> normalizers.Normalizer:
    """The text fixes of OpenAI's pipeline that need no guessing: ftfy's HTML entities, usual mojibake, C1 controls,
    curly quotes, line breaks and control characters, OpenAI's dash/ellipsis/accent replacements, then widths and
    ligatures (NFKC, with the characters of `_KEPT_FROM_NFKC` hidden from it: `™` and `½` stay, as in ftfy's NFC),
    newline runs collapsed, then lower case."""
    tables = (_HTML_ENTITIES, _MOJIBAKE, _C1_CONTROLS)
    replace = [normalizers.Replace(old, new) for table in tables for old, new in table.items()]
    standardize = [("\u2014", "-"), ("\u2013", "-"), ("\u2015", "-"), ("\u2026", "..."), ("\u00b4", "'")]
    return normalizers.Sequence(
        replace
        + [
            normalizers.Replace(Regex("[\u02bc\u2018-\u201b]"), "'"),
            normalizers.Replace(Regex("[\u201c-\u201f]"), '"'),
            normalizers.Replace(Regex("\r\n|[\r\u2028\u2029]"), "\n"),
            normalizers.Replace(Regex(_REMOVED_CONTROLS), ""),
        ]
        + [normalizers.Replace(old, new) for old, new in standardize]
        + [normalizers.Replace(char, hidden) for char, hidden in _HIDDEN.items()]
        + [normalizers.NFKC()]
        + [normalizers.Replace(hidden, char) for char, hidden in _HIDDEN.items()]
        + [normalizers.Replace(Regex(r"\s*\n\s*"), "\n"), normalizers.Strip()]
        # Python's str.lower() makes a capital sigma that ends a word final (ΟΔΟΣ -> οδος); Lowercase does not.
        + [normalizers.Replace(Regex(r"(?<=\p{L})\u03a3(?!\p{M}*\p{L})"), "\u03c2"), normalizers.Lowercase()]
    )


def _gpt1_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """OpenAI's standardisation isolates runs of some punctuation; spaCy's rules split the rest into words."""
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PUNCTUATION_RUNS), behavior="isolated"),
            pre_tokenizers.Split(Regex(_word_pattern()), behavior="removed", invert=True),
        ]
    )


def _gpt1_decoder(special_tokens: Iterable[str]) -> decoders.Decoder:
    """`</w>` becomes a space; special tokens, which carry no `</w>`, get one so they do not stick to the next word."""
    spaced = [decoders.Replace(Regex(f"^{re.escape(token)}$"), token + END_OF_WORD) for token in special_tokens]
    return decoders.Sequence([*spaced, decoders.BPEDecoder(suffix=END_OF_WORD)])


def _gpt1_backend(vocab: dict[str, int], merges: list[tuple[str, str]], unk_token: str | None) -> Tokenizer:
    """A BPE model with GPT-1's normalizer and word split around it (the decoder is set by `GPT1Tokenizer`)."""
    # `tokenizers` crashes (a Rust panic) on a merge whose result is missing: check them all first.
    for rank, pair in enumerate(merges, start=1):
        if len(pair) != 2:
            raise ValueError(f"merge {rank} {pair!r}: expected two symbols")
        for token in (*pair, pair[0] + pair[1]):
            if token not in vocab:
                raise ValueError(f"merge {rank} {' '.join(pair)!r}: {token!r} is not in the vocabulary")
    if vocab and unk_token is not None and unk_token not in vocab:
        raise ValueError(f"unk_token {unk_token!r} is not in the vocabulary")
    backend = Tokenizer(
        BPE(vocab=vocab, merges=merges, unk_token=unk_token, end_of_word_suffix=END_OF_WORD, fuse_unk=False)
    )
    backend.normalizer = _gpt1_normalizer()
    backend.pre_tokenizer = _gpt1_pre_tokenizer()
    return backend


def _exact_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """The exact mode's backend: words arrive pre-split (and lower-cased) from `original_preprocessing`; only spaces,
    which none of them holds, would split one further. No normalizer: the BPE sees the original's words unchanged."""
    return pre_tokenizers.Split(Regex(" +"), behavior="removed")


def _set_backend_preprocessing(backend: Tokenizer, preprocessing: str | None, upgrade: bool = False) -> None:
    """Give the backend the normalizer and word split of `preprocessing`. For the default mode, a backend that holds
    the exact mode's (a folder saved in the exact mode, loaded with `preprocessing=None`), or any backend with
    `upgrade=True` (`set_preprocessing(None)`), gets this version's default pipeline; otherwise a backend keeps the
    pipeline it was saved with (a folder saved before issue 12's default keeps its ids)."""
    if preprocessing == ORIGINAL_PREPROCESSING:
        backend.normalizer, backend.pre_tokenizer = None, _exact_pre_tokenizer()
    elif upgrade or (backend.normalizer is None and _pipeline_json(backend) == _pipeline_json(_exact_backend())):
        backend.normalizer, backend.pre_tokenizer = _gpt1_normalizer(), _gpt1_pre_tokenizer()


def _exact_backend() -> Tokenizer:
    backend = Tokenizer(BPE())
    backend.pre_tokenizer = _exact_pre_tokenizer()
    return backend


def _pipeline_json(backend: Tokenizer) -> tuple:
    """The normalizer and pre-tokenizer of a backend, as saved in tokenizer.json."""
    saved = json.loads(backend.to_str())
    return saved["normalizer"], saved["pre_tokenizer"]


def add_gpt1_special_tokens(tokenizer) -> int:
    """Give a Transformers tokenizer the tokens it lacks among `_start_`, `_delimiter_`, `_classify_` and a pad token.

    They are added in that order and become attributes (`tokenizer.start_token_id`, ...). Returns the number of new
    ids: when it is not 0, call `model.resize_token_embeddings(len(tokenizer))`.
    """
    missing = {name: token for name, token in GPT1_SPECIAL_TOKENS.items() if getattr(tokenizer, name, None) is None}
    if not missing:
        return 0
    unnamed = {name: token for name, token in missing.items() if name not in tokenizer.SPECIAL_TOKENS_ATTRIBUTES}
    if unnamed:
        # Transformers' own mechanism for model-specific special tokens: the names become attributes and are saved.
        tokenizer._set_model_specific_special_tokens(unnamed)
    added = tokenizer.add_special_tokens(missing)
    if isinstance(tokenizer, GPT1Tokenizer):
        tokenizer.update_post_processor()
    return added


class GPT1Tokenizer(PreTrainedTokenizerFast):
    """GPT-1's BPE tokenizer (Radford et al., 2018), backed by the `tokenizers` library.

    By default, text goes through ftfy's unambiguous fixes (curly quotes, HTML entities, control characters, widths
    and ligatures; `™` and `½` stay), OpenAI's standardisation (dashes, ellipses, isolated punctuation runs such as
    the commas of `10,000`), lower case and spaCy's English tokenizer rules and exceptions (`mr.`, `do n't`,
    `can not`), all as regular expressions inside the fast backend (`tokenizer.json`), which gives the 2018 encoder's
    words for 99.9% of real texts; each word is BPE-encoded with `</w>` marking its end. `decode` joins the words
    with spaces. A folder saved before this pipeline keeps the one in its `tokenizer.json` (`set_preprocessing(None)`
    switches it).

    Args:
        vocab: token -> id of the BPE model; `None` gives an empty vocabulary holding only `unk_token`.
        merges: the BPE merges, best first, as `(left, right)` pairs or `"left right"` strings.
        unk_token: token for pieces outside the vocabulary. `None` maps them to id 0 instead, as OpenAI's encoder
            does with its vocabulary, which has no unknown token.
        pad_token, start_token, delimiter_token, extract_token: GPT-1's special tokens, appended after the vocabulary
            in the order start, delimiter, extract, pad when the vocabulary lacks them.
        task_template: `None` (plain text, for language modelling) or `"classification"`, which makes the tokenizer
            itself write GPT's layout: `_start_ A _classify_` for one text, `_start_ A _delimiter_ B _classify_` for
            a pair. Saved in `tokenizer_config.json`; change it with `set_task_template`.
        preprocessing: `None` (the default pipeline above, all inside the fast backend) or `"original"`, the exact
            mode: OpenAI's 2018 pipeline (`ftfy.fix_text`, its `text_standardize`, spaCy's English tokenizer rules,
            lower case) runs in Python and its words go to the BPE, which gives the ids of OpenAI's `TextEncoder`.
            It needs ftfy and spaCy (`pip install "modeling-gpt1[original]"`). Saved in `tokenizer_config.json`;
            change it with `set_preprocessing`. In this mode, `is_split_into_words=True` takes the given words as
            the original's words (only lower-cased), `word_ids()` refer to the original's words, and
            `return_offsets_mapping` is refused (ftfy and the standardisation rewrite the text before it is split).

    Other keyword arguments go to `PreTrainedTokenizerFast`, with two defaults of this class:

    - `split_special_tokens=True`: text is always text. A special token's string inside it (`"_classify_"`) is
      tokenised as ordinary words, never as the special id, so only the task template (or GPT's input
      transformations) places `_start_`, `_delimiter_` and `_classify_`. Pass `False` to match them in text.
    - `padding_side="right"`, as GPT-2's tokenizer: Transformers' language-modelling collators
      (`DataCollatorForLanguageModeling`) then score each example as alone (with left padding the first real token
      becomes a target predicted from a padding state). `GPT1LMHeadModel.generate` moves right-padded prompts to the
      left, so a batch of prompts still generates as each prompt alone; the heads read the first `_classify_` state
      and count positions over real tokens, so either side gives them the same results.

    Raises:
        ValueError: an unknown `task_template` or `preprocessing`, or a merge or `unk_token` that the vocabulary lacks.
        ImportError: `preprocessing="original"` without ftfy or spaCy (the message names the extra to install).
    """

    vocab_files_names = {"tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask"]
    model = BPE
    SPECIAL_TOKENS_ATTRIBUTES = [
        *PreTrainedTokenizerFast.SPECIAL_TOKENS_ATTRIBUTES,
        "start_token",
        "delimiter_token",
        "extract_token",
    ]

    def __init__(
        self,
        vocab: dict[str, int] | None = None,
        merges: list[tuple[str, str]] | list[str] | None = None,
        unk_token: str | None = UNK_TOKEN,
        pad_token: str | None = PAD_TOKEN,
        start_token: str | None = START_TOKEN,
        delimiter_token: str | None = DELIMITER_TOKEN,
        extract_token: str | None = EXTRACT_TOKEN,
        task_template: str | None = None,
        preprocessing: str | None = None,
        **kwargs,
    ):
        _check_task_template(task_template)
        _check_preprocessing(preprocessing)
        kwargs.setdefault("split_special_tokens", True)
        kwargs.setdefault("padding_side", "right")
        kwargs.setdefault("model_max_length", 512)  # GPT-1's context, so truncation=True cuts where the model must
        tokenizer_object = kwargs.pop("tokenizer_object", None)
        tokenizer_file = kwargs.pop("tokenizer_file", None)
        if tokenizer_object is not None:
            backend = Tokenizer.from_str(tokenizer_object.to_str())  # a copy: the caller's object stays untouched
        elif tokenizer_file is not None:
            try:
                backend = Tokenizer.from_file(str(tokenizer_file))
            except Exception as error:  # tokenizers raises a bare Exception for a file it cannot parse
                raise ValueError(
                    f"{tokenizer_file} is not a valid tokenizers file ({error}): it may be truncated or hand-edited; "
                    "save the tokenizer again"
                ) from error
        else:
            vocab = vocab if vocab is not None else {unk_token or UNK_TOKEN: 0}
            merges = [tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge) for merge in merges or []]
            # Without an unknown token, pieces outside the vocabulary get the lowest id (0), as in OpenAI's encoder.
            model_unk = min(vocab, key=vocab.get) if unk_token is None and vocab else unk_token
            backend = _gpt1_backend(vocab, merges, model_unk)

        _set_backend_preprocessing(backend, preprocessing)
        special = [str(t) for t in (start_token, delimiter_token, extract_token, pad_token) if t is not None]
        backend.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in special])
        self._tokenizer = backend
        self.task_template = task_template
        self.preprocessing = preprocessing

        super().__init__(
            unk_token=unk_token,
            pad_token=pad_token,
            start_token=start_token,
            delimiter_token=delimiter_token,
            extract_token=extract_token,
            task_template=task_template,
            preprocessing=preprocessing,
            **kwargs,
        )
        self._update_decoder()
        self.update_post_processor()

    def _update_decoder(self) -> None:
        """Give every added token (the special tokens, `unk_token` where the vocabulary has one, and tokens added
        later with `add_tokens` or `add_special_tokens`) a word boundary in `decode`: they carry no `</w>`, so
        without one they would be glued to the next word (`"the cat newwordsat"`)."""
        # `id_to_token`: a token added with `normalized=True` (the default of `add_tokens`) is stored normalized.
        ids = self._tokenizer.get_added_tokens_decoder()
        added = [self._tokenizer.id_to_token(i) or token.content for i, token in ids.items() if token.content]
        if getattr(self, "unk_token", None) is not None:
            added.append(str(self.unk_token))
        self._tokenizer.decoder = _gpt1_decoder(dict.fromkeys(added))

    def _add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        added = super()._add_tokens(new_tokens, special_tokens=special_tokens)
        if hasattr(self, "_tokenizer"):
            self._update_decoder()
        return added

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *init_inputs, **kwargs):
        """`PreTrainedTokenizerFast.from_pretrained`, with errors that name the folder or file: a folder that does not
        exist (or holds no `tokenizer.json`) and is not on the Hub, or whose JSON files are truncated or invalid."""
        _check_tokenizer_source(
            os.fspath(pretrained_model_name_or_path),
            subfolder=kwargs.get("subfolder") or "",
            local_files_only=kwargs.get("local_files_only", False),
            cache_dir=kwargs.get("cache_dir"),
        )
        return super().from_pretrained(pretrained_model_name_or_path, *init_inputs, **kwargs)

    @classmethod
    def convert_to_native_format(cls, trust_remote_code=False, **kwargs):
        # A GPT1Tokenizer's tokenizer.json holds its whole pipeline and added tokens: load it as saved instead of
        # letting the base class rebuild the tokenizer from the bare vocabulary and merges.
        return super().convert_to_native_format(trust_remote_code=True, **kwargs)

    def set_task_template(self, task_template: str | None) -> None:
        """Switch what `add_special_tokens=True` writes: nothing (`None`) or GPT's `"classification"` layout."""
        _check_task_template(task_template)
        self.task_template = task_template
        self.update_post_processor()

    def set_preprocessing(self, preprocessing: str | None) -> None:
        """Switch between the default pipeline (`None`) and OpenAI's 2018 one (`"original"`, needs ftfy and spaCy);
        the BPE and the ids of each word stay the same. `set_preprocessing(None)` installs this version's default
        pipeline, also on a tokenizer loaded from a folder saved with an earlier one (which otherwise keeps it)."""
        _check_preprocessing(preprocessing)
        _set_backend_preprocessing(self._tokenizer, preprocessing, upgrade=True)
        self.preprocessing = preprocessing

    def _encode_plus(self, text, text_pair=None, **kwargs):
        # The exact mode: the 2018 pipeline splits each text into the original's words, which the backend then
        # encodes as pre-split words (its BPE gives each word the original's ids; see `_set_backend_preprocessing`).
        if getattr(self, "preprocessing", None) == ORIGINAL_PREPROCESSING and not kwargs.get(
            "sanitize_control_tokens"
        ):
            if kwargs.get("return_offsets_mapping"):
                raise ValueError(
                    "return_offsets_mapping is not available with preprocessing='original': ftfy and OpenAI's "
                    "standardisation rewrite the text before it is split into words, so tokens have no offsets in "
                    "it. word_ids() gives each token's word of the original pipeline."
                )
            if kwargs.get("is_split_into_words"):
                text, text_pair = _lower_cased_words(text), _lower_cased_words(text_pair)
            else:
                split_special_tokens = kwargs.get("split_special_tokens")
                if split_special_tokens is None:
                    split_special_tokens = self.split_special_tokens
                pattern = self._added_tokens_pattern(split_special_tokens)
                text, text_pair = (_original_words_of(t, pattern) for t in (text, text_pair))
            kwargs["is_split_into_words"] = True
        return super()._encode_plus(text, text_pair=text_pair, **kwargs)

    def _encode_without_added_tokens(self, text: str) -> list[int]:
        if getattr(self, "preprocessing", None) != ORIGINAL_PREPROCESSING:
            return super()._encode_without_added_tokens(text)
        return [token.id for word in original_words(text) for token in self._tokenizer.model.tokenize(word)]

    def _added_tokens_pattern(self, split_special_tokens: bool) -> re.Pattern | None:
        """A pattern matching the added tokens that the backend would match in the text (all of them, or the
        non-special ones under `split_special_tokens`), longest first, or None when there are none: the exact mode
        keeps them whole instead of letting the 2018 pipeline split them."""
        tokens = {
            token.content
            for token in self.added_tokens_decoder.values()
            if token.content and not (token.special and split_special_tokens)
        }
        if not tokens:
            return None
        return re.compile("|".join(re.escape(token) for token in sorted(tokens, key=len, reverse=True)))

    def update_post_processor(self) -> None:
        """Set the backend's post-processor from `task_template` (the base class calls this after loading)."""
        if getattr(self, "task_template", None) is None:
            self._tokenizer.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B:1")
            return
        start, delimiter, extract = self.start_token, self.delimiter_token, self.extract_token
        if None in (start, delimiter, extract):
            raise ValueError(f"task_template={self.task_template!r} needs start, delimiter and extract tokens")
        self._tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{start} $A {extract}",
            pair=f"{start} $A {delimiter} $B:1 {extract}:1",
            special_tokens=[(token, self.convert_tokens_to_ids(token)) for token in (start, delimiter, extract)],
        )

    add_gpt1_special_tokens = staticmethod(add_gpt1_special_tokens)

    @classmethod
    def from_original_files(cls, encoder_json: str | os.PathLike, bpe_merges: str | os.PathLike, **kwargs):
        """Load OpenAI's released vocabulary: `encoder_bpe_40000.json` (token -> id) and `vocab_40000.bpe` (a version
        line, then one merge per line, best first). Every word gets the ids these files define.

        The special tokens follow the vocabulary: `_start_`, `_delimiter_`, `_classify_` at `len(encoder)`, +1, +2
        (40478, 40479, 40480 for the release) and `<pad>` after them. `<unk>` is the unknown token when the encoder
        has it; otherwise pieces outside the vocabulary get id 0, as in OpenAI's `TextEncoder`, and `unk_token` is
        `None`.
        Other keyword arguments go to `GPT1Tokenizer` (e.g. `task_template`). Pass `preprocessing="original"` for
        the ids of OpenAI's 2018 encoder on any text (needs `pip install "modeling-gpt1[original]"`); the default
        pipeline splits some texts into other words (it needs no extra dependency).
        """
        return cls._from_vocab_and_merges_files(encoder_json, bpe_merges, **kwargs)

    @classmethod
    def from_openai_gpt_files(cls, vocab_json: str | os.PathLike, merges_txt: str | os.PathLike, **kwargs):
        """Load Transformers' `openai-gpt` vocabulary (`vocab.json`, and `merges.txt` with a `#version` line first),
        with the same id rules as `from_original_files`."""
        return cls._from_vocab_and_merges_files(vocab_json, merges_txt, **kwargs)

    @classmethod
    def _from_vocab_and_merges_files(cls, vocab_path, merges_path, **kwargs):
        vocab, merges = _read_vocab(vocab_path), _read_merges(merges_path)
        unk_token = kwargs.pop("unk_token", UNK_TOKEN)
        tokenizer = cls(vocab=vocab, merges=merges, unk_token=unk_token if unk_token in vocab else None, **kwargs)
        if tokenizer.preprocessing != ORIGINAL_PREPROCESSING:
            _warn_about_original_preprocessing()
        return tokenizer


# The JSON files `save_pretrained` writes (the last two only in folders saved by older Transformers versions).
_SAVED_JSON_FILES = ("tokenizer_config.json", "tokenizer.json", "special_tokens_map.json", "added_tokens.json")


def _check_tokenizer_source(name: str, subfolder: str, local_files_only: bool, cache_dir) -> None:
    """Raise an error naming the folder or file where `from_pretrained` would otherwise fail obscurely: a folder
    without `tokenizer.json`, JSON that does not parse, a path that is neither a folder nor (offline) a cached Hub
    repository."""
    folder = os.path.join(name, subfolder) if subfolder else name
    if os.path.isdir(folder):
        if not os.path.isfile(os.path.join(folder, "tokenizer.json")):
            raise OSError(
                f"Tokenizer folder {folder} holds no tokenizer.json (save the tokenizer with save_pretrained)"
            )
        for file_name in _SAVED_JSON_FILES:
            path = os.path.join(folder, file_name)
            if not os.path.isfile(path):
                continue
            try:
                with open(path, encoding="utf-8") as handle:
                    json.load(handle)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise ValueError(
                    f"{path} is not valid JSON ({error}): it may be truncated or hand-edited; save the tokenizer again"
                ) from error
        return
    if os.path.isfile(name):
        return
    from huggingface_hub import is_offline_mode
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        raise OSError(f"Tokenizer folder {name} not found (and it is not a Hugging Face Hub repository id)") from None
    if local_files_only or is_offline_mode():
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, os.path.join(subfolder, "tokenizer.json"), cache_dir=cache_dir)
        if not isinstance(cached, str):
            raise OSError(
                f"Tokenizer folder {name} not found, and the Hugging Face Hub is offline (HF_HUB_OFFLINE=1 or "
                f"local_files_only=True), so no repository {name!r} with a tokenizer.json was found in its cache"
            )


def _check_task_template(task_template: str | None) -> None:
    if task_template is not None and task_template not in TASK_TEMPLATES:
        raise ValueError(f"Unknown task_template {task_template!r}: use None or one of {TASK_TEMPLATES}")


def _check_preprocessing(preprocessing: str | None) -> None:
    """An unknown mode is a ValueError; the exact mode without ftfy or spaCy an ImportError naming the extra."""
    if preprocessing not in PREPROCESSING_MODES:
        raise ValueError(f"Unknown preprocessing {preprocessing!r}: use None (default) or {ORIGINAL_PREPROCESSING!r}")
    if preprocessing == ORIGINAL_PREPROCESSING:
        check_available()


def _original_words_of(text, added_tokens: re.Pattern | None):
    """The 2018 pipeline's words of a text, or of each text of a batch (None stays None). Added tokens matched by
    `added_tokens` stay whole words; the text around them goes through the pipeline."""
    if text is None:
        return None
    if not isinstance(text, str):
        return [_original_words_of(item, added_tokens) for item in text]
    if added_tokens is None:
        return original_words(text)
    words, start = [], 0
    for match in added_tokens.finditer(text):
        words += original_words(text[start : match.start()])
        words.append(match.group())
        start = match.end()
    return words + original_words(text[start:])


def _lower_cased_words(words):
    """Pre-split words (one list, or a batch of lists) lower-cased as the original does each word; None stays."""
    if words is None:
        return None
    return [word.lower() if isinstance(word, str) else _lower_cased_words(word) for word in words]


def _read_vocab(path: str | os.PathLike) -> dict[str, int]:
    """A JSON token -> id map whose ids are exactly 0..n-1, so that the special tokens can follow it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Vocabulary file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        try:
            vocab = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"Vocabulary file {path} is not valid JSON: {error}") from error
    if not isinstance(vocab, dict) or not all(isinstance(i, int) and not isinstance(i, bool) for i in vocab.values()):
        raise ValueError(f"Vocabulary file {path} must map tokens to integer ids")
    if not vocab:
        raise ValueError(f"Vocabulary file {path} is empty")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError(f"Vocabulary file {path}: ids must be 0..{len(vocab) - 1}, each used once")
    return vocab


def _read_merges(path: str | os.PathLike) -> list[tuple[str, str]]:
    """The merges after the `#version` line, one pair of symbols a line, best first."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Merges file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    if not lines[0].startswith("#"):
        raise ValueError(f"Merges file {path} must start with a '#version' line, got {lines[0]!r}")
    merges = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        pair = tuple(line.split())
        if len(pair) != 2:
            raise ValueError(f"Merges file {path}, line {number}: expected two symbols, got {line!r}")
        merges.append(pair)
    return merges


@functools.cache
def _warn_about_original_preprocessing() -> None:
    """Say once per process how the text is prepared, since OpenAI's ftfy + spaCy pipeline is not reproduced."""
    missing = [name for name in ("ftfy", "spacy") if importlib.util.find_spec(name) is None]
    reason = f"{' and '.join(missing)} not installed" if missing else "ftfy and spaCy cannot run inside tokenizer.json"
    logger.warning(
        f"GPT-1's original pre-processing used ftfy.fix_text and spaCy's English tokenizer ({reason}). "
        "GPT1Tokenizer uses instead ftfy's unambiguous fixes, OpenAI's standardisation and spaCy's English rules and "
        "exceptions as regular expressions, then lower case: the 2018 ids for 99.9% of real English texts measured; "
        "some texts (mojibake, words whose split depends on their capitals) may split into different words. For the "
        f"original's ids on every text, pass preprocessing='original' ({EXTRA_INSTALL})."
    )


def train_gpt1_tokenizer(
    files_or_iterator: str | os.PathLike | list[str | os.PathLike] | Iterable[str] | Iterable[list[str]],
    vocab_size: int = 40478,
    min_frequency: int = 2,
    show_progress: bool = True,
    limit_alphabet: int | None = None,
    length: int | None = None,
    task_template: str | None = None,
) -> GPT1Tokenizer:
    """Train GPT-1's BPE with `tokenizers`' `BpeTrainer`.

    Args:
        files_or_iterator: a text file, a list of text files, or any other iterable of strings or of lists of
            strings (e.g. `(batch["text"] for batch in dataset.iter(batch_size=1000))`). A list is read as file paths;
            wrap a list of texts in `iter(...)`.
        vocab_size: size of the BPE vocabulary: `<unk>` (id 0), the alphabet and the merges. The paper's 40,478 is
            40,000 merges plus 478 symbols. The four special tokens come after it: `len(tokenizer) == vocab_size + 4`
            when the corpus is large enough to reach `vocab_size` (the alphabet is always kept whole).
        min_frequency: pairs seen fewer times are never merged.
        show_progress: show the trainer's progress bars.
        limit_alphabet: keep at most this many initial characters (the rarest become `<unk>`).
        length: number of items in the iterator, for the progress bar.
        task_template: passed to `GPT1Tokenizer`.
    """
    _check_task_template(task_template)
    for name, value, minimum in (("vocab_size", vocab_size, 1), ("min_frequency", min_frequency, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    limit = {} if limit_alphabet is None else {"limit_alphabet": limit_alphabet}
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        show_progress=show_progress,
        special_tokens=[UNK_TOKEN],
        end_of_word_suffix=END_OF_WORD,
        **limit,
    )
    backend = _gpt1_backend({}, [], unk_token=UNK_TOKEN)
    if isinstance(files_or_iterator, (str, os.PathLike, list, tuple)):
        files = [files_or_iterator] if isinstance(files_or_iterator, (str, os.PathLike)) else list(files_or_iterator)
        for path in files:
            if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
                raise FileNotFoundError(f"Training file not found: {path!r} (to train on texts, pass iter(texts))")
        if not files:
            raise ValueError("No training files given")
        backend.train([os.fspath(path) for path in files], trainer=trainer)
    elif isinstance(files_or_iterator, Iterable):
        backend.train_from_iterator(files_or_iterator, trainer=trainer, length=length)
    else:
        raise TypeError(f"Expected file paths or an iterable of texts, got {type(files_or_iterator).__name__}")
    if backend.get_vocab_size() <= 1:  # only `<unk>`: the trainer saw no text
        raise ValueError(
            "No text to train the tokenizer on: the training files or iterator gave no words (an empty iterator, or "
            "an iterator already consumed?)"
        )
    if backend.get_vocab_size() > vocab_size:  # the alphabet is kept whole, whatever vocab_size asks
        logger.warning(
            f"vocab_size={vocab_size} is below the corpus's alphabet: the BPE vocabulary has "
            f"{backend.get_vocab_size()} symbols (<unk> and every character, no merge), the smallest it can have"
        )
    return GPT1Tokenizer(tokenizer_object=_renumbered(backend), task_template=task_template)


def _renumbered(backend: Tokenizer) -> Tokenizer:
    """The trained BPE with ids in a fixed order: `<unk>`, the base symbols sorted, then each merge's result in merge
    order. `BpeTrainer` numbers the end-of-word symbols (`e</w>`, ...) in hash-map order, which changes from run to
    run, so the same corpus would otherwise give other ids, and a seeded pre-training run other results."""
    model = json.loads(backend.to_str())["model"]
    merges = [tuple(pair.split(" ", 1)) if isinstance(pair, str) else tuple(pair) for pair in model["merges"]]
    merged = dict.fromkeys(a + b for a, b in merges)
    base = sorted(token for token in model["vocab"] if token not in merged and token != UNK_TOKEN)
    tokens = [UNK_TOKEN, *base, *merged]  # a merge's result is never a base symbol (see `base`)
    return _gpt1_backend({token: i for i, token in enumerate(tokens)}, merges, unk_token=UNK_TOKEN)


class _OneLineErrorParser(argparse.ArgumentParser):
    """Usage errors in one line and status 2, without the usage block (this module imports nothing of the package's
    scripts, so that it can travel next to saved tokenizers)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> None:
    """Command line: train GPT-1's tokenizer on text files or a `datasets` data set and save it to `--output_dir`.

    Returns None (exit status 0 under the `gpt1-train-tokenizer` console script). A user error (a missing file, a
    bad value, a data set or column that is not there) prints one line and exits with status 2, as argparse does."""
    console_script = os.path.basename(sys.argv[0]) == "gpt1-train-tokenizer"
    prog = "gpt1-train-tokenizer" if console_script else "python -m modeling_gpt1.tokenization_gpt1"
    parser = _OneLineErrorParser(prog=prog, description=main.__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--files", nargs="+", help="plain-text training files")
    source.add_argument("--dataset", help="a data set name or path for datasets.load_dataset")
    parser.add_argument("--dataset_config", default=None, help="configuration name of --dataset")
    parser.add_argument("--split", default="train", help="split of --dataset (default: train)")
    parser.add_argument("--text_column", default="text", help="column of --dataset holding the text (default: text)")
    parser.add_argument("--vocab_size", type=int, default=40478, help="BPE vocabulary size before special tokens")
    parser.add_argument("--min_frequency", type=int, default=2, help="smallest count of a pair that gets merged")
    parser.add_argument("--limit_alphabet", type=int, default=None, help="keep at most this many characters")
    parser.add_argument("--task_template", choices=TASK_TEMPLATES, default=None, help="saved with the tokenizer")
    parser.add_argument("--output_dir", required=True, help="where save_pretrained writes the tokenizer")
    parser.add_argument("--no_progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args(argv)

    try:
        if args.files:
            texts, length = args.files, None
        else:
            texts, length = _dataset_texts(args.dataset, args.dataset_config, args.split, args.text_column)
        tokenizer = train_gpt1_tokenizer(
            texts,
            vocab_size=args.vocab_size,
            min_frequency=args.min_frequency,
            show_progress=not args.no_progress,
            limit_alphabet=args.limit_alphabet,
            length=length,
            task_template=args.task_template,
        )
        tokenizer.save_pretrained(args.output_dir)
    except (OSError, ValueError, ImportError) as error:
        parser.exit(2, f"{parser.prog}: error: {' '.join(str(error).split())}\n")
    print(f"Saved a GPT1Tokenizer with {len(tokenizer)} tokens to {args.output_dir}")


def _dataset_texts(name: str, config: str | None, split: str, column: str, batch_size: int = 1000):
    """Batches of texts from one column of a `datasets` split, and the number of texts."""
    try:
        from datasets import load_dataset
    except ImportError as error:
        raise ImportError("--dataset needs the `datasets` package (pip install datasets)") from error
    dataset = load_dataset(name, config, split=split)
    if column not in dataset.column_names:
        raise ValueError(f"Column {column!r} not in {name} ({split}); columns: {dataset.column_names}")
    batches = (batch[column] for batch in dataset.select_columns([column]).iter(batch_size=batch_size))
    return batches, len(dataset)


def register() -> None:
    """Make `AutoTokenizer` resolve GPT1Config to GPT1Tokenizer, and saved folders carry an `auto_map`."""
    AutoTokenizer.register(GPT1Config, fast_tokenizer_class=GPT1Tokenizer, exist_ok=True)
    GPT1Tokenizer.register_for_auto_class("AutoTokenizer")


register()

__all__ = ["GPT1Tokenizer", "add_gpt1_special_tokens", "train_gpt1_tokenizer", "main", "register"]


if __name__ == "__main__":
    # `python -m` runs this file as `__main__`: train with the package's copy of the module instead, so that saved
    # folders name `tokenization_gpt1.GPT1Tokenizer` in their `auto_map`, not `__main__.GPT1Tokenizer`.
    importlib.import_module(__spec__.name).main()
