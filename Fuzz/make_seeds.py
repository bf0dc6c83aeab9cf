"""Writes the seed corpora of the fuzz targets into Fuzz/corpus/<target>/ from the repository's
fixtures and the fetched Mistral tokenizer: small, valid inputs of each format, so that the
fuzzer starts from files the parser accepts. Run from the repository root after `make test`
(assets/ and a tiny checkpoint must exist); only the standard library is needed."""
import json, os, struct, sys

root = "Fuzz/corpus"


def out(target, name, data):
    os.makedirs(f"{root}/{target}", exist_ok=True)
    with open(f"{root}/{target}/{name}", "wb") as f:
        f.write(data)


def read_varint(buf, i):
    """The varint at buf[i:] and the index after it."""
    value, shift = 0, 0
    while True:
        value |= (buf[i] & 0x7F) << shift
        shift += 7
        i += 1
        if buf[i - 1] < 0x80:
            return value, i


def fields(buf):
    """Top-level (field number, raw bytes of the whole field) of a protobuf message."""
    i = 0
    while i < len(buf):
        start = i
        key, i = read_varint(buf, i)
        wire = key & 7
        if wire == 0:
            _, i = read_varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            length, i = read_varint(buf, i)
            i += length
        yield key >> 3, buf[start:i]


# JSONL records: the committed samples, and one line of each kind.
for name in ["sft-sample.jsonl", "preference-sample.jsonl", "tiny-mistral-pairs.jsonl"]:
    out("JSONLRecords", name, open(f"Tests/Fixtures/{name}", "rb").read())
out("JSONLRecords", "messages.jsonl", json.dumps({"system": "s", "prompt": [{"role": "user", "content": "p"}], "chosen": [{"role": "assistant", "content": "c"}], "rejected": "r"}).encode() + b"\n")

# Recipes: every committed one.
for name in sorted(os.listdir("Recipes")):
    out("RecipeYAML", name, open(f"Recipes/{name}", "rb").read())

# safetensors: small goldens and one file with each dtype.
for name in ["rmsnorm.safetensors", "rope.safetensors"]:
    out("SafetensorsHeader", name, open(f"Tests/Fixtures/golden/{name}", "rb").read())
header = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]},
          "c": {"dtype": "F16", "shape": [1, 3], "data_offsets": [22, 28]}, "__metadata__": {"format": "pt"}}
text = json.dumps(header).encode()
out("SafetensorsHeader", "dtypes.safetensors", struct.pack("<Q", len(text)) + text + struct.pack("<4f", 1, -2, 3.5, 0) + bytes(range(12)))

# GGUF: the quantized blocks and the tiny Llama, and a file with a value of every metadata type.
for name in ["quant-blocks.gguf", "tiny-llama.gguf"]:
    out("GGUFHeader", name, open(f"Tests/Fixtures/gguf/{name}", "rb").read())


def gguf_string(text):
    return struct.pack("<Q", len(text.encode())) + text.encode()


values = [(0, "<B", 7), (1, "<b", -7), (2, "<H", 700), (3, "<h", -700), (4, "<I", 7), (5, "<i", -7), (6, "<f", 0.5),
          (7, "<?", True), (10, "<Q", 7), (11, "<q", -7), (12, "<d", 0.25)]
kv = b"".join(gguf_string(f"k{code}") + struct.pack("<I", code) + struct.pack(fmt, value) for code, fmt, value in values)
kv += gguf_string("general.architecture") + struct.pack("<I", 8) + gguf_string("llama")
kv += gguf_string("list") + struct.pack("<IIQ", 9, 8, 2) + gguf_string("a") + gguf_string("bc")
kv += gguf_string("general.alignment") + struct.pack("<II", 4, 8)
info = gguf_string("t") + struct.pack("<IQQIQ", 2, 2, 2, 0, 0)
header = b"GGUF" + struct.pack("<IQQ", 3, 1, len(values) + 3) + kv + info
out("GGUFHeader", "all-types.gguf", header + bytes(-len(header) % 8) + struct.pack("<4f", 1, -2, 3.5, 0))

# tokenizer.model: the Mistral model cut to its first 400 pieces (control, byte and common pieces).
model = open("assets/mistral/tokenizer.model", "rb").read()
kept, pieces = [], 0
for number, raw in fields(model):
    if number == 1:
        pieces += 1
        if pieces > 400:
            continue
    kept.append(raw)
out("TokenizerModel", "mistral-400.model", b"".join(kept))

# tokenizer.json: the fixtures cut to their first ids and the merges among them; the byte-level
# one keeps its special tokens and 256 byte pieces, once with SmolLM2's Digits + ByteLevel.
def cut_tokenizer(path, size):
    tokenizer = json.load(open(path, encoding="utf-8"))
    vocab = {k: v for k, v in tokenizer["model"]["vocab"].items() if v < size}
    pairs = [(m.split(" ") if isinstance(m, str) else m, m) for m in tokenizer["model"]["merges"]]
    tokenizer["model"]["vocab"] = vocab
    tokenizer["model"]["merges"] = [m for parts, m in pairs if all(p in vocab for p in parts) and "".join(parts) in vocab]
    tokenizer["added_tokens"] = [t for t in tokenizer.get("added_tokens", []) if t["id"] < size]
    return tokenizer


tokenizer = cut_tokenizer("Tests/Fixtures/tokenizer/tokenizer.json", 400)
out("TokenizerJSON", "bpe-400.json", json.dumps(tokenizer, ensure_ascii=False).encode())
tokenizer = cut_tokenizer("Tests/Fixtures/smollm2-tokenizer/tokenizer.json", 600)
out("TokenizerJSON", "byte-level-600.json", json.dumps(tokenizer, ensure_ascii=False).encode())
tokenizer["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, tokenizer["pre_tokenizer"]]}
out("TokenizerJSON", "byte-level-digits-600.json", json.dumps(tokenizer, ensure_ascii=False).encode())

# HDF5: the h5py fixture and a small Facet checkpoint given on the command line, without its
# 512-byte checksum header (the fuzz target puts a header sealed for each input in front).
out("HDF5Checkpoint", "h5py_written.h5", open("Tests/Fixtures/h5py_written.h5", "rb").read())
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    out("HDF5Checkpoint", os.path.basename(path), data[512:] if data.startswith(b"facet-checkpoint\n") else data)
