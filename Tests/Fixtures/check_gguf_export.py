#!/usr/bin/env python3
"""Checks a GGUF written by `train export --format gguf` with the reference readers (by hand;
the Swift tests cover the same files without Python):

    python Tests/Fixtures/check_gguf_export.py EXPORT.gguf [SOURCE.gguf|SOURCE_DIR [PEFT_ADAPTER_DIR]]

- the `gguf` package reads it: architecture, file type, every tensor's type (F16/BF16 matrices,
  F32 norms) and the tokenizer metadata carried over from SOURCE;
- transformers loads it with gguf_file= (and its tokenizer, when the file has one);
- with SOURCE (the GGUF file or HF folder the export was made from) and, for a checkpoint's
  export, its adapter written by `train export --format peft` (merged here by peft):
  transformers' logits on the export equal its logits on SOURCE (+ adapter) with the matrices
  rounded to the export's type, within 1e-4, so names, metadata, rotary permutation and merge
  round-trip; a GGUF SOURCE's tokenizer metadata must be carried over unchanged.
"""

import os
import sys

import gguf
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def load(path):
    folder, name = os.path.split(os.path.abspath(path))
    return AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()


def load_source(source, adapter):
    if source.endswith(".gguf"):
        model = load(source)
    else:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).eval()
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload().eval()
    return model


def main(export, source=None, adapter=None):
    reader = gguf.GGUFReader(export)
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("tokenizer.ggml.")}
    print("architecture", fields["general.architecture"], "file_type", fields["general.file_type"])
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    matrix_types = {types[t.name] for t in reader.tensors if len(t.shape) == 2}
    assert matrix_types <= {"F16", "BF16"} and len(matrix_types) == 1, matrix_types
    assert all(types[t.name] == "F32" for t in reader.tensors if len(t.shape) == 1)
    print(len(reader.tensors), "tensors,", matrix_types.pop(), "matrices, F32 norms")
    model = load(export)
    vocab = model.config.vocab_size
    ids = torch.tensor([[1, 17, 200, 3, 99, 42, 255, 8], [1, 5, 5, 5, 130, 77, 2, 64]]) % vocab
    if source is None:
        return
    src = gguf.GGUFReader(source) if source.endswith(".gguf") else None
    carried = []
    if src is not None:
        carried = [k for k in src.fields if k.startswith("tokenizer.")]
    for key in carried:
        assert key in reader.fields, f"{key} not carried over"
        assert reader.fields[key].contents() == src.fields[key].contents(), key
    print(len(carried), "tokenizer keys carried over unchanged")
    if src is not None and "tokenizer.ggml.tokens" in reader.fields:
        folder, name = os.path.split(os.path.abspath(export))
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        sfolder, sname = os.path.split(os.path.abspath(source))
        reference = AutoTokenizer.from_pretrained(sfolder, gguf_file=sname)
        text = "Name the final item of this list: pear, river, apple, boat\n\t  ünïcode 😀"
        assert tokenizer(text)["input_ids"] == reference(text)["input_ids"]
        ids = torch.tensor([tokenizer(text)["input_ids"][:8]])
        print("tokenizer from the export gives the source's ids")
    original = load_source(source, adapter)
    dtype = torch.float16 if "F16" in {types[t.name] for t in reader.tensors} else torch.bfloat16
    with torch.no_grad():
        for p in original.parameters():
            if p.dim() == 2:
                p.copy_(p.to(dtype).to(torch.float32))
        difference = (model(ids).logits - original(ids).logits).abs().max().item()
    print(f"max |logits(export) - logits(source rounded to {dtype})| = {difference:.3g}")
    assert difference <= 1e-4, difference


if __name__ == "__main__":
    main(*sys.argv[1:])
