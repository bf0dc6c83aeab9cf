#!/usr/bin/env python3
"""Writes the tokenizer goldens under Tests/Fixtures/tokenizer/ from Mistral's tokenizer.model.

    make assets/mistral/tokenizer.model
    python Tests/Fixtures/make_tokenizer_golden.py

Needs sentencepiece (0.2.x), tokenizers and transformers from PyPI; the versions used are
recorded in expected.json. Outputs:

- corpus.json: hard strings; "round_trip" ones decode back to themselves with sentencepiece
  (checked here), "encode_only" ones do not (a literal U+2581 decodes to a space).
- expected.json: sentencepiece ids without and with BOS and the decoded text of every
  string, decode cases (hand-made id lists, including invalid byte sequences), and the ids
  that the `tokenizers` library gives for variants of tokenizer.json.
- tokenizer.json: a Hugging Face tokenizer equivalent to the model, laid out like the one
  Mistral publishes (Prepend + Replace normalizer, merges ordered by piece score, which is
  what makes it agree with sentencepiece; ordering merges by id, as transformers 5 does
  by default, splits whitespace runs differently). Its ids are checked against
  sentencepiece here.
"""

import json
import pathlib

import sentencepiece
import tokenizers
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, processors
from tokenizers.models import BPE
from transformers.tokenization_utils_base import generate_merges

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "assets" / "mistral" / "tokenizer.model"
OUT = ROOT / "Tests" / "Fixtures" / "tokenizer"

LONG_ENGLISH = (
    "Aligning language models to the preferences of individual users is usually done by "
    "collecting feedback from many people and averaging it into a single reward. That average "
    "hides the fact that people disagree: one reader wants a terse answer with code, another "
    "wants a gentle explanation with analogies, and a third wants citations. Instead of training "
    "one assistant for the average person, the model can be told what this particular user "
    "prefers in its system message, and trained on many such messages so that it generalises to "
    "preferences it has never seen.\n\nThe Multifaceted Collection pairs about 65,000 "
    "instructions with three system messages each (roughly 197k records), covering style, "
    "background knowledge, informativeness and harmlessness. Fine-tuning Mistral 7B v0.2 on it, "
    "then continuing with DPO or ORPO on preference pairs, produced the JANUS models.  "
)
LONG_MIXED = (
    "Résumé of the naïve café owner: 42 croissants (€3.50 each), 7 crêpes — “délicieux!” "
    "Der Straßenbahnfahrer sagte: „Grüß Gott“. Москва — столица России. Ελληνικά γράμματα: αβγδ. "
    "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다. 🚀🌍✨ "
    "مرحبا بالعالم — שלום עולם — नमस्ते दुनिया — สวัสดีชาวโลก\n\t(end)"
)

ROUND_TRIP = [
    "",
    " ",
    "  ",
    "   ",
    "a",
    "Hello world",
    " Hello world",
    "Hello world ",
    "   leading and trailing   ",
    "multiple     spaces    between      words",
    "a" + " " * 17 + "b" + " " * 33 + "c",
    " " * 40,
    "line one\nline two\n\nline four\n",
    "\n",
    "\n\n\n",
    "\t",
    "\ttab\tseparated\tvalues\t",
    " \t \n \t\n  mixed whitespace  \n\t ",
    "\r\nwindows line endings\r\n",
    "I love 🍕 and 🤖!",
    "👩‍👩‍👧‍👦 family, 👨🏽‍💻 coder, 🏳️‍🌈 flag",
    "👍🏽 👍🏿 ❤️ ✔️",
    "🇫🇷🇯🇵🇺🇸",
    "日本語のテキストです。",
    "中文测试：你好，世界！",
    "한국어 문장입니다.",
    "e\u0301 vs \u00e9, A\u030a vs \u00c5, n\u0303",
    "Z̷̢̛a̸l̴g̵o̶ t̷e̵x̸t̴",
    "𠀋𡈽𡌛 𪚲 rare CJK",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 𐌰𐌱𐌲",
    "a\u0000b",
    "\u007f\u0001\u001b[31mred\u001b[0m",
    "\ufeffBOM at the start",
    "zero\u200bwidth\u200djoiner\u00a0nbsp",
    "\U0010ffff\U000e0001",
    "[INST] What is 2+2? [/INST]",
    "[INST] You are a concise assistant who answers in one sentence.\n"
    "Explain photosynthesis. [/INST]",
    " The answer is 4.",
    "<s> and </s> and <unk> are plain text here",
    "<0x41> <0xFF> look like byte pieces",
    "3.14159 2,718 1e-10 -42 0x1F 1234567890 007",
    "2024-05-17T12:34:56Z, $1,000,000.00, 50%, #1, @user",
    "def greet(name: str) -> str:\n    \"\"\"Say hello.\"\"\"\n    return f\"Hello, {name}!\"\n",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
    "int main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}",
    "<div class=\"x\">&amp; &lt;tag&gt;</div>",
    "https://example.com/path?query=1&x=y#frag user@example.com",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "!!!!!!!!!!!!???????...........============------",
    "ALL CAPS SENTENCE WITH NUMBERS 123",
    "mIxEd CaSe wOrDs",
    LONG_ENGLISH,
    LONG_MIXED,
    " ".join(f"item {i}: value={i * i};" for i in range(300)),
]
ENCODE_ONLY = [
    "\u2581",
    "a\u2581b",
    "\u2581leading marker",
    " \u2581 ",
]

HF_VARIANTS = {
    # What transformers 5 writes for this model (its merges aside).
    "metaspace_first": {
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
    },
    "metaspace_always_split": {
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
    },
}


def byte_ids(sp, *values):
    return [sp.piece_to_id(f"<0x{value:02X}>") for value in values]


def decode_cases(sp):
    hello, world, marker = sp.piece_to_id("\u2581Hello"), sp.piece_to_id("\u2581world"), sp.piece_to_id("\u2581")
    lists = [
        [],
        [sp.bos_id(), hello, world, sp.eos_id()],
        [hello, sp.bos_id(), world],
        [sp.piece_to_id("hi")],
        [marker],
        [sp.bos_id(), marker, hello],
        [marker, marker, hello],
        [sp.piece_to_id("\u2581\u2581"), hello],
        [sp.unk_id()],
        [hello, sp.unk_id(), sp.unk_id(), world],
        byte_ids(sp, 0xE2, 0x82, 0xAC),
        byte_ids(sp, 0xF0, 0x9F, 0x98, 0x80) + [world],
        byte_ids(sp, 0xE2, 0x82),
        byte_ids(sp, 0xE2, 0x82) + [world],
        byte_ids(sp, 0xC3, 0x28),
        byte_ids(sp, 0xFF, 0xFE, 0x41),
        byte_ids(sp, 0xC0, 0x80),
        byte_ids(sp, 0xED, 0xA0, 0x80),
        byte_ids(sp, 0xF4, 0x90, 0x80, 0x80),
        byte_ids(sp, 0xEF, 0xBF, 0xBD),
        byte_ids(sp, 0x41) + [world],
        byte_ids(sp, 0x20) + [hello],
        [hello] + byte_ids(sp, 0x0A) + [world],
        [sp.eos_id()] + byte_ids(sp, 0xE6, 0x97, 0xA5) + [sp.bos_id()] + byte_ids(sp, 0x9F),
    ]
    return [{"ids": ids, "text": sp.decode(ids)} for ids in lists]


def make_tokenizer_json(sp):
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    scores = {sp.id_to_piece(i): sp.get_score(i) for i in range(sp.get_piece_size())}
    merges = generate_merges(vocab, scores)
    tokenizer = Tokenizer(BPE(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tokenizer.add_special_tokens(
        [AddedToken(sp.id_to_piece(i), normalized=False, special=True) for i in (sp.unk_id(), sp.bos_id(), sp.eos_id())]
    )
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    bos = sp.id_to_piece(sp.bos_id())
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, sp.bos_id())]
    )
    document = json.loads(tokenizer.to_str())
    # The legacy "left right" merge strings keep the committed file small.
    document["model"]["merges"] = [" ".join(pair) for pair in document["model"]["merges"]]
    return document


def hf_encoder(document):
    tokenizer = Tokenizer.from_str(json.dumps(document))
    return lambda text: tokenizer.encode(text, add_special_tokens=False).ids


def main():
    sp = sentencepiece.SentencePieceProcessor(model_file=str(MODEL))
    strings = ROUND_TRIP + ENCODE_ONLY
    for text in ROUND_TRIP:
        decoded = sp.decode(sp.encode(text))
        assert decoded == text, f"sentencepiece does not round-trip {text!r}: {decoded!r}"

    document = make_tokenizer_json(sp)
    # `tokenizers` splits added tokens out of the text, sentencepiece (and Facet) do not, so
    # strings holding them are compared with sentencepiece only.
    special = [token["content"] for token in document["added_tokens"]]
    comparable = [t for t in strings if not any(s in t for s in special)]
    hf_ids = hf_encoder(document)
    mismatches = [t for t in comparable if hf_ids(t) != sp.encode(t)]
    assert not mismatches, f"tokenizer.json disagrees with sentencepiece on {mismatches!r}"

    variants = {}
    for name, changes in HF_VARIANTS.items():
        variant_ids = hf_encoder({**document, **changes})
        variants[name] = {**changes, "ids": [variant_ids(t) if t in comparable else None for t in strings]}

    expected = {
        "versions": {
            "sentencepiece": sentencepiece.__version__,
            "tokenizers": tokenizers.__version__,
            "transformers": transformers.__version__,
        },
        "bos_id": sp.bos_id(),
        "eos_id": sp.eos_id(),
        "unk_id": sp.unk_id(),
        "vocabulary_size": sp.get_piece_size(),
        "encodings": [
            {"ids": sp.encode(t), "ids_with_bos": sp.encode(t, add_bos=True), "decoded": sp.decode(sp.encode(t))}
            for t in strings
        ],
        "decode_cases": decode_cases(sp),
        "hf_variants": variants,
    }

    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "corpus.json", "w", encoding="utf-8") as f:
        json.dump({"round_trip": ROUND_TRIP, "encode_only": ENCODE_ONLY}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(OUT / "expected.json", "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    with open(OUT / "tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(strings)} strings, {len(expected['decode_cases'])} decode cases to {OUT}")


if __name__ == "__main__":
    main()
