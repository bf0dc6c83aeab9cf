"""Fixture groups of stage continuation and the paper's data shapes, run by make_golden.py
(`python Tests/Fixtures/make_golden.py stacked_adapters full_dpo chatml orpo_sequence`):

- stacked_adapters: the tiny Mistral under two PEFT LoRA adapters active at once (an SFT
  adapter frozen under a DPO adapter), and under the first alone (the DPO reference).
- full_dpo: full fine-tuning DPO through TRL's DPOTrainer._compute_loss with precomputed
  reference log-probs of the frozen starting policy: loss and gradients of every weight, then the
  loss after one SGD update of the policy (the reference stays).
- chatml: axolotl's `chat_template: chatml` rendered by transformers' apply_chat_template, and
  its token ids with the Mistral tokenizer (no <|im_start|> token: the markers are text).
- orpo_sequence: ORPO over 3 pairs with the NLL averaged per sequence, as TRL gives it with one
  pair per micro-batch (the paper's micro-batch 1): the mean over pairs of TRL's
  get_batch_loss_metrics loss on each pair alone, and its gradients.
"""

import json
import os

import torch

import make_golden as g

STACKED_TARGETS_2 = ["q_proj", "v_proj", "down_proj"]
CHATML_TEMPLATE = (  # axolotl's `chat_template: chatml` (src/axolotl/utils/chat_templates)
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _records(name):
    with open(os.path.join(g.FIXTURES, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _eval_batch(sp):
    records = _records("tiny-mistral-eval.jsonl")
    return g.sft_batch(sp, records)


def init_adapters(gen, named):
    """Sets the LoRA tensors (PEFT name, parameter): A kaiming-uniform, B normal(0, 0.1); returns them as init.<name>."""
    tensors = {}
    with torch.no_grad():
        for name, p in named:
            value = g.kaiming_uniform_like(gen, p.shape) if ".lora_A." in name else 0.1 * g.randn(gen, *p.shape)
            p.copy_(value)
            tensors[f"init.{name}"] = value
    return tensors


def make_stacked_adapters():
    import peft
    import sentencepiece
    from peft import LoraConfig, get_peft_model
    from transformers import MistralForCausalLM

    gen = g.generator(13001)
    sp = sentencepiece.SentencePieceProcessor(model_file=g.TOKENIZER_MODEL)
    input_ids, labels, attention_mask = _eval_batch(sp)
    base = MistralForCausalLM.from_pretrained(g.TINY_DIR, dtype=torch.float32, attn_implementation="eager")
    sft = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=g.LORA_TARGETS, bias="none", task_type="CAUSAL_LM")
    dpo = LoraConfig(
        r=2, lora_alpha=4, lora_dropout=0.0, target_modules=STACKED_TARGETS_2, bias="none", task_type="CAUSAL_LM", use_rslora=True,
    )
    model = get_peft_model(base, sft, adapter_name="sft")
    model.add_adapter("dpo", dpo)
    model.eval()
    tensors = {"input_ids": input_ids.to(torch.float32), "labels": labels.to(torch.float32)}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_" not in name:
                continue
            adapter = "sft" if ".sft." in name else "dpo"
            value = g.kaiming_uniform_like(gen, p.shape) if ".lora_A." in name else 0.2 * g.randn(gen, *p.shape)
            p.copy_(value)
            tensors[f"{adapter}.{name.replace(f'.{adapter}.', '.')}"] = value

    def token_logps():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
        return torch.log_softmax(logits, dim=-1).gather(2, input_ids[:, 1:, None])[..., 0]

    with torch.no_grad():
        model.base_model.set_adapter(["sft", "dpo"])
        both = token_logps()
        model.base_model.set_adapter("sft")
        sft_only = token_logps()
        with model.disable_adapter():
            plain = token_logps()
    assert (both - sft_only).abs().max() > 1e-3 and (sft_only - plain).abs().max() > 1e-3
    tensors.update({"logps_both": both, "logps_sft": sft_only})
    g.save("stacked_adapters", tensors, {
        "peft_version": peft.__version__,
        "model": "Tests/Fixtures/tiny-mistral loaded as float32, eager attention, eval mode",
        "sft": "adapter 'sft': r=4, lora_alpha=8, all seven projections; A kaiming-uniform, B normal(0, 0.2) from torch.Generator(13001); stored as sft.<PEFT state-dict name>",
        "dpo": f"adapter 'dpo': r=2, lora_alpha=4, use_rslora=True (scale 4/sqrt(2)), on {STACKED_TARGETS_2}; stored as dpo.<PEFT state-dict name>",
        "input_ids": "[3, L] the tiny-mistral-eval.jsonl records in the JANUS template, right-padded with 0; labels as lora_sft's",
        "logps_both": "[3, L-1] log_softmax(logits[:, t])[id_{t+1}] with model.base_model.set_adapter(['sft', 'dpo']) (both active: y = W x + s1 B1 A1 x + s2 B2 A2 x)",
        "logps_sft": "[3, L-1] the same with only 'sft' active (the DPO reference over a continued stage)",
    })


def make_full_dpo():
    import sentencepiece
    import trl
    from transformers import MistralForCausalLM

    sp = sentencepiece.SentencePieceProcessor(model_file=g.TOKENIZER_MODEL)
    records = _records("tiny-mistral-pairs.jsonl")
    input_ids, attention_mask, completion_mask, rows = g.preference_batch(sp, records)
    model = MistralForCausalLM.from_pretrained(g.TINY_DIR, dtype=torch.float32, attn_implementation="eager")
    model.train()
    named = list(model.named_parameters())
    params = [p for _, p in named]
    # The reference: the frozen policy at the start, scored once (TRL's precompute_ref_log_probs).
    with torch.no_grad():
        _, reference = g.response_token_logps(model, input_ids, completion_mask)

    def trl_loss():
        per_token, logps = g.response_token_logps(model, input_ids, completion_mask)
        stub = g._LogProbModel(per_token)
        trainer = g.trl_dpo_trainer("sigmoid", g.PREF_BETA, 0.0, True, stub)
        inputs = {
            "input_ids": input_ids, "attention_mask": attention_mask, "completion_mask": completion_mask,
            "ref_chosen_logps": reference[:2], "ref_rejected_logps": reference[2:],
        }
        loss = trainer._compute_loss(stub, inputs, False)
        metrics = {k: v[0] for k, v in trainer._metrics["train"].items()}
        return loss, logps, metrics

    loss0, logps0, metrics0 = trl_loss()
    assert abs(loss0.item() - 0.6931472) < 1e-6  # policy = reference at the start
    grads = torch.autograd.grad(loss0, params)
    lr = 0.5
    with torch.no_grad():
        for p, grad in zip(params, grads):
            p -= lr * grad
    loss1, logps1, metrics1 = trl_loss()
    assert abs(loss1.item() - loss0.item()) > 1e-3
    used = sorted(set(input_ids.flatten().tolist()))
    tensors = {
        "reference_logps": reference, "loss0": loss0.reshape(1), "loss1": loss1.detach().reshape(1),
        "policy_logps1": logps1.detach(), "metrics1": torch.tensor([metrics1[k] for k in g.DPO_METRICS], dtype=torch.float32),
        "used_ids": torch.tensor(used, dtype=torch.float32),
    }
    for (name, _), grad in zip(named, grads):
        if name in ("model.embed_tokens.weight", "lm_head.weight"):
            tensors[f"grad_rows.{name}"] = grad[used]
            tensors[f"grad_norm.{name}"] = grad.norm().reshape(1)
        else:
            tensors[f"grad.{name}"] = grad
    print(f"full dpo: loss0 {loss0.item():.7f}, loss1 after SGD lr {lr}: {loss1.item():.7f}, metrics {metrics1}")
    g.save("full_dpo", tensors, {
        "trl_version": trl.__version__,
        "model": "Tests/Fixtures/tiny-mistral as float32, eager attention, every weight trainable (full fine-tuning), no adapter",
        "data": "Tests/Fixtures/tiny-mistral-pairs.jsonl, one batch of both pairs (rows c0, c1, r0, r1), JANUS template",
        "reference_logps": "[4] summed response log-probs of the starting model under no_grad (TRL's precompute_ref_log_probs: the reference is the frozen policy at the start)",
        "loss0": "[1] DPOTrainer._compute_loss (sigmoid, beta 0.1) of the starting policy with those reference log-probs: ln 2",
        "grad": f"grad.<HF name>: d loss0 / d weight for every weight but the embedding and the LM head; grad_rows.<name> [{len(used)}, hidden]: their gradient rows at used_ids (the embedding's only nonzero rows), grad_norm.<name> [1]: the whole gradient's L2 norm",
        "used_ids": "[n] sorted distinct token ids of the batch (padding id 0 included)",
        "loss1": f"[1] the same loss after one SGD step p -= {lr} * grad on every weight, reference unchanged; policy_logps1 [4] the policy's summed log-probs then",
        "metrics1": f"[{len(g.DPO_METRICS)}] TRL's logged metrics of that second call, in the order {g.DPO_METRICS}",
    })


def make_chatml():
    import sentencepiece
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models

    sp = sentencepiece.SentencePieceProcessor(model_file=g.TOKENIZER_MODEL)
    # apply_chat_template needs a tokenizer object; the template alone decides the text.
    renderer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    cases = [
        {"system": "You are a terse assistant.", "prompt": "Name a prime.", "response": "7"},
        {"system": None, "prompt": "Why is the sky blue?\nBe brief.", "response": "Rayleigh scattering:\nblue scatters most."},
        {"system": "Answer as a pirate", "prompt": "Hi <b>", "response": "Arr, ahoy!"},
    ]
    expected = []
    for case in cases:
        messages = ([{"role": "system", "content": case["system"]}] if case["system"] else []) + [
            {"role": "user", "content": case["prompt"]}
        ]
        prompt = renderer.apply_chat_template(messages, chat_template=CHATML_TEMPLATE, tokenize=False, add_generation_prompt=True)
        full = renderer.apply_chat_template(
            messages + [{"role": "assistant", "content": case["response"]}], chat_template=CHATML_TEMPLATE, tokenize=False,
        )
        assert full == prompt + case["response"] + "<|im_end|>\n", full
        response = case["response"] + "<|im_end|>"
        expected.append({
            **case, "prompt_text": prompt, "response_text": response,
            # Mistral's 32000-token vocabulary has no <|im_start|>: the markers are ordinary text.
            "prompt_ids": sp.encode(prompt, add_bos=True), "response_ids": sp.encode(response) + [2],
        })
    path = os.path.join(g.OUT_DIR, "chatml.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({
            "about": "axolotl's chat_template: chatml via transformers apply_chat_template(add_generation_prompt=True) for the prompt; "
            "the response is the text between the prompt and the final newline of the full conversation's rendering; ids with "
            "assets/mistral/tokenizer.model (sentencepiece): BOS + prompt, response + EOS",
            "template": CHATML_TEMPLATE, "cases": expected,
        }, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")
    print(f"chatml: {len(cases)} cases written to {path}")


def make_orpo_sequence():
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=g.TOKENIZER_MODEL)
    records = _records("tiny-mistral-pairs.jsonl")
    records = records + [{
        "system": "You reply with a long, careful answer.", "prompt": "Is 7 a prime number?",
        "chosen": "Yes: 7 is prime, because the only whole numbers that divide it evenly are 1 and 7 itself, and no other.",
        "rejected": "No.",
    }]
    gen = g.generator(13002)
    model, _ = g.lora_model()
    named = g.lora_parameters(model)
    params = [p for _, p in named]
    tensors = init_adapters(gen, named)
    orpo = g.trl_orpo_trainer(g.PREF_BETA)
    total, nlls = 0, []
    for record in records:  # one pair per micro-batch, as the paper's micro-batch 1
        input_ids, attention_mask, completion_mask, _ = g.preference_batch(sp, [record])
        labels = torch.where(completion_mask.bool(), input_ids, torch.full_like(input_ids, -100))
        batch = {
            "chosen_input_ids": input_ids[:1], "chosen_attention_mask": attention_mask[:1], "chosen_labels": labels[:1],
            "rejected_input_ids": input_ids[1:], "rejected_attention_mask": attention_mask[1:], "rejected_labels": labels[1:],
        }
        loss, metrics = orpo.get_batch_loss_metrics(model, batch, train_eval="train")
        total = total + loss / len(records)  # HF Trainer: each micro-batch's loss / accumulation steps
        nlls.append(metrics["nll_loss"])
    grads = torch.autograd.grad(total, params)
    tensors["loss"] = total.detach().reshape(1)
    tensors["nll"] = torch.tensor([sum(nlls) / len(nlls)], dtype=torch.float32)
    for (name, _), grad in zip(named, grads):
        tensors[f"grad.{name}"] = grad
    path = os.path.join(g.FIXTURES, "tiny-mistral-pairs-3.jsonl")
    g.write_jsonl(path, records)
    print(f"orpo sequence: loss {total.item():.7f}, nll per sequence {[round(x, 5) for x in nlls]}")
    g.save("orpo_sequence", tensors, {
        "model": "Tests/Fixtures/tiny-mistral float32 + peft LoRA r=4, lora_alpha=8, all seven projections; A kaiming-uniform, B normal(0, 0.1) from torch.Generator(13002); stored as init.<PEFT name>",
        "data": "Tests/Fixtures/tiny-mistral-pairs-3.jsonl: the two tiny pairs and a third with a long chosen answer, JANUS template",
        "loss": "[1] mean over the 3 pairs of trl.experimental.orpo.ORPOTrainer.get_batch_loss_metrics on each pair alone (beta 0.1): NLL = token mean over that chosen sequence (prompt after BOS and response) minus beta * logsigmoid(log odds); what HF's Trainer gives with micro-batch 1 and 3 accumulation steps",
        "nll": "[1] mean over the pairs of TRL's nll_loss (per-sequence token means)",
        "grad": "grad.<PEFT name>: d loss / d adapter tensor",
    })


REWARD_MARGIN = 0.5
REWARD_CENTER = 0.01


def make_reward():
    import peft
    import sentencepiece
    import trl
    from collections import defaultdict
    from types import SimpleNamespace

    from peft import LoraConfig, get_peft_model
    from transformers import MistralForSequenceClassification
    from trl import RewardTrainer

    sp = sentencepiece.SentencePieceProcessor(model_file=g.TOKENIZER_MODEL)
    records = _records("tiny-mistral-pairs-3.jsonl")
    input_ids, attention_mask, _, rows = g.preference_batch(sp, records)
    gen = g.generator(13003)
    base = MistralForSequenceClassification.from_pretrained(
        g.TINY_DIR, num_labels=1, pad_token_id=0, dtype=torch.float32, attn_implementation="eager")
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=g.LORA_TARGETS, bias="none")
    model = get_peft_model(base, config)
    named = g.lora_parameters(model)
    score = model.base_model.model.score.weight
    tensors = init_adapters(gen, named)
    with torch.no_grad():
        # Larger than transformers' normal(0, 0.02) init, so that the rewards differ well beyond rounding.
        score.copy_(0.5 * g.randn(gen, *score.shape))
        tensors["init.score.weight"] = score.detach().clone()
    score.requires_grad_(True)
    model.train()

    trainer = object.__new__(RewardTrainer)  # the attributes RewardTrainer.compute_loss reads
    trainer.model = model
    trainer.accelerator = g._OneProcessAccelerator()
    trainer.args = SimpleNamespace(center_rewards_coefficient=REWARD_CENTER)
    trainer._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    trainer._total_train_tokens = 0
    trainer._tp_size = 1
    n = len(records)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "margin": torch.full((n,), REWARD_MARGIN)}
    loss, outputs = trainer.compute_loss(model, inputs, return_outputs=True)
    rewards = outputs.logits.squeeze(-1).detach()
    grads = torch.autograd.grad(loss, [p for _, p in named] + [score])
    for (name, _), grad in zip(named, grads):
        tensors[f"grad.{name}"] = grad
    tensors["grad.score.weight"] = grads[-1]
    metrics = {k: v[0] for k, v in trainer._metrics["train"].items()}

    model.eval()
    merged = model.merge_and_unload()  # the merged MistralForSequenceClassification an export holds
    with torch.no_grad():
        merged_rewards = merged(input_ids=input_ids, attention_mask=attention_mask).logits.squeeze(-1)
    assert (merged_rewards - rewards).abs().max() < 1e-5, (merged_rewards, rewards)
    last = torch.tensor([len(p) + len(r) - 1 for p, r in rows], dtype=torch.float32)
    tensors.update({
        "loss": loss.detach().reshape(1), "rewards_chosen": rewards[:n], "rewards_rejected": rewards[n:], "last_token": last,
        "accuracy": torch.tensor([metrics["accuracy"]]), "margin": torch.tensor([metrics["margin"]]),
    })
    print(f"reward: loss {loss.item():.7f}, rewards {rewards.tolist()}, metrics {metrics}")
    g.save("reward", tensors, {
        "trl_version": trl.__version__,
        "peft_version": peft.__version__,
        "model": "Tests/Fixtures/tiny-mistral as transformers MistralForSequenceClassification (num_labels 1, pad_token_id 0), float32, eager attention, + peft LoRA r=4, lora_alpha=8 on all seven projections; A kaiming-uniform, B normal(0, 0.1), score.weight 0.5 * normal from torch.Generator(13003); stored as init.<PEFT name> and init.score.weight",
        "data": "Tests/Fixtures/tiny-mistral-pairs-3.jsonl, one batch: rows c0, c1, c2, r0, r1, r2 in the JANUS template (BOS + prompt, response + EOS), right-padded with 0",
        "loss": f"[1] trl.RewardTrainer.compute_loss: -logsigmoid(r_c - r_r - margin).mean() + center_rewards_coefficient * mean((r_c + r_r)^2), margin {REWARD_MARGIN} for every pair, coefficient {REWARD_CENTER}",
        "rewards": "rewards_chosen, rewards_rejected [3]: the score of each row's last non-padding token (the EOS); the merged model (merge_and_unload) gives the same within 1e-5",
        "last_token": "[6] index of that token in each row",
        "grad": "grad.<PEFT name>, grad.score.weight: d loss / d tensor",
        "metrics": "accuracy, margin [1]: TRL's logged metrics (share with r_c > r_r; mean r_c - r_r)",
        "margin_value": REWARD_MARGIN, "center_rewards_coefficient": REWARD_CENTER,
    })
