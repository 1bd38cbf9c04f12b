"""Work out the expected values of tests/test_original_preprocessing.py with OpenAI's own 2018 encoder.

For each text of the test's `CASES`, runs the original `text_utils.TextEncoder` of OpenAI's release (imported at run
time from ../shared/data/openai-gpt1-release, with spaCy's English tokenizer rules standing in for
`spacy.load('en')`, of which only the tokenizer was used) and prints

- the words it BPE-encodes: `token.text.lower()` of the spaCy tokens of `text_standardize(ftfy.fix_text(text))`,
  taken from the original module's own functions;
- the BPE tokens of its ids, read back through the released vocabulary (`<unk>` for id 0),

and writes the merges that fire on these words, in the release's order, to tests/data/gpt1_merges_subset.txt: with
only these merges the BPE of these words is unchanged (a merge that never fires is never the best pair), so the test
builds a small vocabulary that gives exactly the original's tokens.

    .venv/bin/python scripts/original_tokenizer_cases.py > /tmp/cases.txt   # then paste into the test

With `--exceptions`, prints instead the `SPACY_EXCEPTIONS` data of modeling_gpt1/original_preprocessing.py (the
default pipeline's copy of spaCy's English tokenizer exceptions; needs spaCy only).
"""

import importlib.util
import json
import re
import sys
import textwrap
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT.parent / "shared" / "data" / "openai-gpt1-release"
sys.path.insert(0, str(ROOT / "tests"))


# Lower-cased, these entries of spaCy split or keep common words that real text mostly writes in capitals, where
# spaCy leaves them alone (`ID` is one word, `id` two: `i d`; `Ill.` is Illinois, `ill.` a word and a period).
CASE_DEPENDENT_EXCEPTIONS = {"id", "id.", "ill.", "mass.", "miss.", "wash."}


def spacy_exceptions() -> list[str]:
    """spaCy's English tokenizer exceptions that the default pipeline can apply to lower-cased text: one entry per
    word that spaCy keeps whole or splits (pieces joined by `+`), of at most two pieces, whose text the
    standardisation does not cut (no isolated punctuation); a capitalised entry only where it ends in a period
    (abbreviations such as `Ala.`); entries made of letters, digits and `_` only when they split."""
    from spacy.lang.en import English
    from spacy.symbols import ORTH

    exceptions = English.Defaults.tokenizer_exceptions
    isolated = re.compile(r"""[-~!";?+,)(\\/*\[\]}{|_\s]""")
    entries = {}
    for key, tokens in exceptions.items():
        pieces = [token[ORTH].lower() for token in tokens]
        lower = key.lower()
        if isolated.search(key) or len(pieces) > 2 or lower in CASE_DEPENDENT_EXCEPTIONS:
            continue
        if key != lower and (lower in exceptions or not key.endswith(".")):
            continue
        if len(pieces) == 1 and re.fullmatch(r"\w+", lower):
            continue
        entries[lower] = "+".join(pieces)
    return sorted(entries.values())


def main():
    if "--exceptions" in sys.argv[1:]:
        entries = spacy_exceptions()
        print(f"# {len(entries)} entries")
        print(textwrap.fill(" ".join(entries), 116))
        return
    import spacy

    spacy.load = lambda name, disable=None: spacy.blank("en")
    spec = importlib.util.spec_from_file_location("openai_text_utils", RELEASE / "text_utils.py")
    text_utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(text_utils)
    encoder = text_utils.TextEncoder(str(RELEASE / "encoder_bpe_40000.json"), str(RELEASE / "vocab_40000.bpe"))

    from test_original_preprocessing import CASES

    fired = set()

    def traced_bpe(token):
        """The original BPE loop, recording the merges it applies (same result as `encoder.bpe`)."""
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = {(a, b) for a, b in zip(word, word[1:])}
            best = min(pairs, key=lambda pair: encoder.bpe_ranks.get(pair, float("inf")))
            if best not in encoder.bpe_ranks:
                break
            fired.add(best)
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)

    print("CASES_EXPECTED = [")
    for text in CASES:
        doc = encoder.nlp(text_utils.text_standardize(text_utils.ftfy.fix_text(text)))
        words = [token.text.lower() for token in doc]
        for word in words:
            traced_bpe(word)
        ids = encoder.encode([text], verbose=False)[0]
        tokens = [encoder.decoder[i] for i in ids]
        print(f"    ({json.dumps(words, ensure_ascii=False)}, {json.dumps(tokens, ensure_ascii=False)}),")
    print("]")
    ranked = sorted(fired, key=encoder.bpe_ranks.get)
    out = ROOT / "tests" / "data" / "gpt1_merges_subset.txt"
    out.parent.mkdir(exist_ok=True)
    lines = [
        "#version: 0.2 (the merges of OpenAI's vocab_40000.bpe, MIT, that tests/test_original_preprocessing uses)"
    ]
    out.write_text("\n".join(lines + [" ".join(pair) for pair in ranked]) + "\n", encoding="utf-8")
    print(f"# {len(ranked)} merges written to {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
