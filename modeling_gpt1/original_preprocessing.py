"""GPT-1's 2018 text pipeline, up to the BPE: the words that OpenAI's `TextEncoder` encodes.

OpenAI's released `text_utils.py` (MIT License) prepares each text as

    ftfy.fix_text -> text_standardize -> spaCy's English tokenizer -> each token lower-cased -> BPE

`original_words(text)` returns the lower-cased words of that pipeline; `GPT1Tokenizer` in the exact mode
(`preprocessing="original"`) feeds them to its BPE as pre-split words, which gives the original's ids.

ftfy and spaCy are an optional extra (`pip install "modeling-gpt1[original]"`). They are imported on first use, through
`importlib`, so that this module, which travels next to saved tokenizers for `trust_remote_code=True`, imports only the
standard library when the exact mode is not used. spaCy's rule-based English tokenizer ships with spaCy: no language
model is downloaded (the original's `spacy.load('en', disable=[...])` only used that model's tokenizer).

`SPACY_EXCEPTIONS` is a copy of spaCy's English tokenizer exceptions as data, for the default pipeline of
`GPT1Tokenizer` (regular expressions inside `tokenizer.json`, which needs neither ftfy nor spaCy).
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


# spaCy's English tokenizer exceptions (spaCy 3.8, MIT License) as data for the default pipeline, which runs without
# spaCy: each entry is one word of lower-cased text that spaCy keeps whole (`mr.`, `o'clock`) or splits where `+`
# stands (`ca+n't`, `can+not`, `gon+na`). Only entries of at most two words whose text survives the standardisation
# whole (no isolated punctuation), lower-cased; a capitalised entry (`Ala.`) only where it ends in a period, since
# spaCy's `dont`-like entries differ by case, and without a few that real text mostly writes in capitals (`ID`,
# `Ill.`, `Miss.`). Written by `scripts/original_tokenizer_cases.py --exceptions`.
_SPACY_EXCEPTIONS_TEXT = """
' '' 'bout 'cause 'cos 'coz 'cuz 'd 'em 'll 'nuff 're 's 0.0 0.o 1+a.m. 1+am 1+p.m. 1+pm 10+a.m. 10+am 10+p.m. 10+pm
11+a.m. 11+am 11+p.m. 11+pm 12+a.m. 12+am 12+p.m. 12+pm 2+a.m. 2+am 2+p.m. 2+pm 3+a.m. 3+am 3+p.m. 3+pm 4+a.m. 4+am
4+p.m. 4+pm 5+a.m. 5+am 5+p.m. 5+pm 6+a.m. 6+am 6+p.m. 6+pm 7+a.m. 7+am 7+p.m. 7+pm 8+a.m. 8+am 8+p.m. 8+pm 9+a.m.
9+am 9+p.m. 9+pm :0 :1 :3 :> :o :p :x <.< <3 <33 <333 <space> =3 >.< >.> >:o a. a.m. adm. ai+n't ai+nt ai+n’t ak.
ala. apr. are+n't are+nt are+n’t ariz. ark. aug. b. bros. c'm+on c. ca+n't ca+nt ca+n’t calif. can+not co. colo.
conn. corp. could+'ve could+n't could+nt could+n’t could+ve could+’ve c’m+on d. d.c. dare+n't dare+nt dare+n’t dec.
del. did+n't did+nt did+n’t do+n't do+nt do+n’t does+n't does+nt does+n’t doin' doin’ dr. e. e.g. f. feb. fla. g.
ga. gen. goin' goin’ gon+na got+ta gov. h. had+n't had+nt had+n’t has+n't has+nt has+n’t have+n't have+nt have+n’t
havin' havin’ he+'d he+'ll he+'s he+d he+s he+’d he+’ll he+’s how+'d how+'ll how+'re how+'s how+'ve how+d how+ll
how+re how+s how+ve how+’d how+’ll how+’re how+’s how+’ve i+'d i+'ll i+'m i+'ve i+m i+ve i+’d i+’ll i+’m i+’ve i.
i.e. ia. inc. ind. is+n't is+nt is+n’t it+'d it+'ll it+'s it+d it+ll it+’d it+’ll it+’s j. jan. jr. jul. jun. k.
kan. kans. ky. l. la. let+'s let+’s lovin' lovin’ ltd. m. ma'am mar. may+n't may+nt may+n’t ma’am md. messrs. mich.
might+'ve might+n't might+nt might+n’t might+ve might+’ve minn. mo. mont. mr. mrs. ms. mt. must+'ve must+n't must+nt
must+n’t must+ve must+’ve n. n.c. n.d. n.h. n.j. n.m. n.y. neb. nebr. need+n't need+nt need+n’t nev. not+'ve not+ve
not+’ve nothin' nothin’ nov. nuthin' nuthin’ o'clock o. o.0 o.o oct. okla. ol' ol’ ore. ought+n't ought+nt ought+n’t
o’clock p. p.m. pa. ph.d. prof. q. r. rep. rev. s. s.c. sen. sep. sept. sha+n't sha+nt sha+n’t she+'d she+'ll she+'s
she+s she+’d she+’ll she+’s should+'ve should+n't should+nt should+n’t should+ve should+’ve somethin' somethin’ st.
t. tenn. that+'d that+'ll that+'s that+d that+ll that+s that+’d that+’ll that+’s there+'d there+'ll there+'re
there+'s there+'ve there+d there+ll there+re there+s there+ve there+’d there+’ll there+’re there+’s there+’ve
these+'d these+'ll these+'re these+'ve these+d these+ll these+re these+ve these+’d these+’ll these+’re these+’ve
they+'d they+'ll they+'re they+'ve they+d they+ll they+re they+ve they+’d they+’ll they+’re they+’ve this+'d
this+'ll this+'s this+d this+ll this+s this+’d this+’ll this+’s those+'d those+'ll those+'re those+'ve those+d
those+ll those+re those+ve those+’d those+’ll those+’re those+’ve u. v. v.s. v.v va. vs. w. was+n't was+nt was+n’t
we+'d we+'ll we+'re we+'ve we+d we+ve we+’d we+’ll we+’re we+’ve were+n't were+nt were+n’t what+'d what+'ll what+'re
what+'s what+'ve what+d what+ll what+re what+s what+ve what+’d what+’ll what+’re what+’s what+’ve when+'d when+'ll
when+'re when+'s when+'ve when+d when+ll when+re when+s when+ve when+’d when+’ll when+’re when+’s when+’ve where+'d
where+'ll where+'re where+'s where+'ve where+d where+ll where+re where+s where+ve where+’d where+’ll where+’re
where+’s where+’ve who+'d who+'ll who+'re who+'s who+'ve who+d who+ll who+s who+ve who+’d who+’ll who+’re who+’s
who+’ve why+'d why+'ll why+'re why+'s why+'ve why+d why+ll why+re why+s why+ve why+’d why+’ll why+’re why+’s why+’ve
wis. wo+n't wo+nt wo+n’t would+'ve would+n't would+nt would+n’t would+ve would+’ve x. y'+all y+all y. you+'d you+'ll
you+'re you+'ve you+d you+ll you+re you+ve you+’d you+’ll you+’re you+’ve y’+all z. ä. ö. ü. ಠ︵ಠ — ‘s ’ ’bout ’cause
’cos ’coz ’cuz ’d ’em ’ll ’nuff ’re ’s ’’
"""
SPACY_EXCEPTIONS = _SPACY_EXCEPTIONS_TEXT.split()


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
    "SPACY_EXCEPTIONS",
]
