#!/usr/bin/env python3
"""Golden fixtures for the GGUF reader, the Llama mapping and the GGUF export.

Run from the repository root (the smollm2 group needs `make assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`):

    python Tests/Fixtures/make_gguf_golden.py [GROUP...]   (groups: dequant tiny_llama smollm2)

Pinned versions as in make_golden.py, plus gguf==0.18.0 (the `gguf` package: GGUFWriter,
gguf.quants). Outputs, committed with this script; the Swift tests never need Python:

- dequant: Tests/Fixtures/gguf/quant-blocks.gguf holds small tensors quantized by gguf.quants
  (Q4_0, Q4_1, Q8_0, F16, BF16, F32); golden/gguf_dequant.safetensors their values from
  gguf.quants.dequantize.
- tiny_llama: Tests/Fixtures/gguf/tiny-llama.gguf, a random tied-embedding Llama written with
  GGUFWriter in llama.cpp's conventions (tensor names, metadata keys, the rotary permutation of
  the query and key rows; Q8_0 embedding, Q4_0/Q4_1/Q8_0/F16/BF16 matrices, F32 norms); the
  HF folder Tests/Fixtures/tiny-llama/ (config.json with model_type llama, float32
  safetensors) that transformers makes when it loads that file with gguf_file=; and
  golden/tiny_llama.safetensors: logits of transformers on the GGUF for a few id sequences,
  and the logits of the same model with its matrices rounded to F16 (what a GGUF export in F16
  holds).
- smollm2: golden/smollm2.safetensors: token ids of a few prompts (the transformers tokenizer
  built from the GGUF) and transformers' logits on the real SmolLM2-135M-Instruct Q4_1 GGUF at
  their first positions, for a fixed slice of the vocabulary, with each row's logsumexp over
  the whole vocabulary.
"""

import os
import sys

import gguf
import numpy as np
import torch
from gguf.quants import dequantize, quantize
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import save  # noqa: E402

FIXTURES = os.path.dirname(os.path.abspath(__file__))
GGUF_DIR = os.path.join(FIXTURES, "gguf")
META = {"generator": "Tests/Fixtures/make_gguf_golden.py", "gguf_version": gguf.__version__ if hasattr(gguf, "__version__") else "see pip"}
Q = gguf.GGMLQuantizationType
SMOLLM2 = os.path.join(os.path.dirname(os.path.dirname(FIXTURES)), "assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


def make_dequant():
    rng = np.random.default_rng(16)
    os.makedirs(GGUF_DIR, exist_ok=True)
    path = os.path.join(GGUF_DIR, "quant-blocks.gguf")
    writer = gguf.GGUFWriter(path, "facet-test")
    expected = {}
    for qtype, shape in [(Q.Q4_0, (3, 64)), (Q.Q4_1, (3, 64)), (Q.Q8_0, (2, 2, 32)), (Q.F16, (5, 7)), (Q.BF16, (4, 9)), (Q.F32, (6,))]:
        data = (rng.standard_normal(shape) * rng.uniform(0.01, 3)).astype(np.float32)
        if qtype == Q.Q4_1:
            data[0] += 2.5  # a block that is all positive: Q4_1's minimum is not 0
        raw = quantize(data, qtype)
        name = qtype.name.lower()
        writer.add_tensor(name, raw, raw_dtype=qtype)
        expected[name] = torch.from_numpy(np.ascontiguousarray(dequantize(raw, qtype).reshape(shape)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    save("gguf_dequant", expected, META)


TINY = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, rope_theta=100000.0, rms_norm_eps=1e-5, max_position_embeddings=512,
            tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
TINY_IDS = [[1, 17, 200, 3, 99, 42, 255, 8], [1, 5, 5, 5, 130, 77, 2, 64]]
# The type of each GGUF matrix (the other layer's matrices are all Q4_1).
TINY_TYPES = {"attn_q": Q.Q4_1, "attn_k": Q.Q4_0, "attn_v": Q.Q8_0, "attn_output": Q.F16, "ffn_gate": Q.Q4_1,
              "ffn_up": Q.BF16, "ffn_down": Q.Q4_1}


def llama_cpp_permute(w, n_head, n_head_kv=None):
    """llama.cpp convert_hf_to_gguf.py LlamaModel.permute: HF's split rotary halves -> interleaved."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tiny_logits(model):
    with torch.no_grad():
        return model(torch.tensor(TINY_IDS)).logits


def make_tiny_llama():
    gen = torch.Generator().manual_seed(1616)
    config = LlamaConfig(**TINY)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=gen))
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    os.makedirs(GGUF_DIR, exist_ok=True)
    path = os.path.join(GGUF_DIR, "tiny-llama.gguf")
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("tiny-llama")
    writer.add_vocab_size(TINY["vocab_size"])
    writer.add_context_length(TINY["max_position_embeddings"])
    writer.add_embedding_length(TINY["hidden_size"])
    writer.add_block_count(TINY["num_hidden_layers"])
    writer.add_feed_forward_length(TINY["intermediate_size"])
    writer.add_rope_dimension_count(TINY["head_dim"])
    writer.add_head_count(TINY["num_attention_heads"])
    writer.add_head_count_kv(TINY["num_key_value_heads"])
    writer.add_rope_freq_base(TINY["rope_theta"])
    writer.add_layer_norm_rms_eps(TINY["rms_norm_eps"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_1)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_string("tokenizer.chat_template", "{{ messages }}")

    def add(name, array, qtype):
        writer.add_tensor(name, quantize(array.astype(np.float32), qtype), raw_dtype=qtype)

    add("token_embd.weight", sd["model.embed_tokens.weight"], Q.Q8_0)
    add("output_norm.weight", sd["model.norm.weight"], Q.F32)
    hf = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
          "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    for i in range(TINY["num_hidden_layers"]):
        prefix = f"model.layers.{i}"
        add(f"blk.{i}.attn_norm.weight", sd[f"{prefix}.input_layernorm.weight"], Q.F32)
        add(f"blk.{i}.ffn_norm.weight", sd[f"{prefix}.post_attention_layernorm.weight"], Q.F32)
        for short, module in hf.items():
            w = sd[f"{prefix}.{module}.weight"]
            if short == "attn_q":
                w = llama_cpp_permute(w, TINY["num_attention_heads"], TINY["num_attention_heads"])
            elif short == "attn_k":
                w = llama_cpp_permute(w, TINY["num_attention_heads"], TINY["num_key_value_heads"])
            add(f"blk.{i}.{short}.weight", w, TINY_TYPES[short] if i == 0 else Q.Q4_1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    loaded = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file="tiny-llama.gguf", dtype=torch.float32).eval()
    assert loaded.config.tie_word_embeddings
    logits = tiny_logits(loaded)
    # The dequantized weights stay close to the float ones: the permutation was undone right.
    assert (logits - tiny_logits(model)).abs().max() < 0.5, (logits - tiny_logits(model)).abs().max()
    folder = os.path.join(FIXTURES, "tiny-llama")
    plain = LlamaForCausalLM(LlamaConfig(**TINY)).eval()  # a GGUF-loaded model refuses save_pretrained
    plain.load_state_dict(loaded.state_dict())
    assert torch.equal(tiny_logits(plain), logits)
    plain.save_pretrained(folder)
    for name in os.listdir(folder):
        if name not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(folder, name))
    with torch.no_grad():
        for name, p in loaded.named_parameters():
            if p.dim() == 2:
                p.copy_(p.to(torch.float16).to(torch.float32))
    save("tiny_llama", {"ids": torch.tensor(TINY_IDS, dtype=torch.float32), "logits": logits,
                        "logits_f16": tiny_logits(loaded)}, META)


SMOLLM2_PROMPTS = [
    "<|im_start|>user\nName the final item of this list: pear, river, apple, boat<|im_end|>\n",
    "The capital of France is Paris, and the capital of Italy is",
    "def fibonacci(n):\n    return",
]
SMOLLM2_POSITIONS = 8
SMOLLM2_VOCAB_SLICE = 512


def make_smollm2():
    folder, name = os.path.split(SMOLLM2)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    ids = torch.tensor([tokenizer(p)["input_ids"][:SMOLLM2_POSITIONS] for p in SMOLLM2_PROMPTS])
    with torch.no_grad():
        logits = model(ids).logits
    save("smollm2", {"ids": ids.to(torch.float32), "logits": logits[..., :SMOLLM2_VOCAB_SLICE],
                     "logsumexp": torch.logsumexp(logits, dim=-1)}, META)


GROUPS = {"dequant": make_dequant, "tiny_llama": make_tiny_llama, "smollm2": make_smollm2}

if __name__ == "__main__":
    for group in sys.argv[1:] or list(GROUPS):
        GROUPS[group]()
