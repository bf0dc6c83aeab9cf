# Run by hand: the merged export of a reward model checkpoint, loaded with transformers'
# MistralForSequenceClassification, must give the rewards `train score --json` prints.
#   train score --model MODEL_DIR --checkpoint RM.h5 --data records.jsonl --json > scores.jsonl
#   train export RM.h5 --format merged --out EXPORT_DIR
#   python Tests/Fixtures/check_reward_export.py EXPORT_DIR records.jsonl scores.jsonl
import json, sys, torch, sentencepiece as spm
from transformers import MistralForSequenceClassification
export, data, scores = sys.argv[1:4]
sp = spm.SentencePieceProcessor(model_file=f"{export}/tokenizer.model")
model = MistralForSequenceClassification.from_pretrained(export, dtype=torch.float32, attn_implementation="eager").eval()
assert model.config.num_labels == 1 and model.config.pad_token_id == 0
def ids(r, response):
    text = f"[INST] {r['system']}\n{r['prompt']} [/INST]" if r.get("system") else f"[INST] {r['prompt']} [/INST]"
    if not isinstance(response, str):
        response = [m["content"] for m in response if m["role"] == "assistant"][-1]
    return [1] + sp.encode(text) + sp.encode(response) + [2]
records = [json.loads(line) for line in open(data)]
rows = [ids(r, r[side]) for r in records for side in (("chosen", "rejected") if "chosen" in r else ("output",))]
batch = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)  # right-padded with id 0, scored at the last non-pad token
for i, row in enumerate(rows): batch[i, : len(row)] = torch.tensor(row)
with torch.no_grad(): rewards = model(input_ids=batch, attention_mask=(batch != 0).long()).logits[:, 0].tolist()
expected = [x for line in open(scores) for x in ([json.loads(line)["chosen_reward"], json.loads(line)["rejected_reward"]] if "chosen_reward" in line else [json.loads(line)["reward"]])]
worst = max(abs(a - b) for a, b in zip(rewards, expected))
print(f"{len(rows)} rewards, max |transformers - train score| = {worst:.2e}")
sys.exit(0 if len(rows) == len(expected) and worst < 1e-4 else 1)
