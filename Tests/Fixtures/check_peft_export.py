# Run by hand: the PEFT export of a checkpoint, loaded with peft.PeftModel.from_pretrained on
# the base model, must give the log-probs that `train eval --checkpoint` prints.
#   python Tests/Fixtures/check_peft_export.py MODEL_DIR ADAPTER_DIR records.jsonl
import json, sys, torch, sentencepiece as spm
from transformers import MistralForCausalLM
from peft import PeftModel
base, adapter, data = sys.argv[1:4]
sp = spm.SentencePieceProcessor(model_file=f"{base}/tokenizer.model")
model = MistralForCausalLM.from_pretrained(base, dtype=torch.float32, attn_implementation="eager")
model = PeftModel.from_pretrained(model, adapter).eval()
for i, line in enumerate(open(data)):
    r = json.loads(line)
    text = f"[INST] {r['system']}\n{r['prompt']} [/INST]" if r.get("system") else f"[INST] {r['prompt']} [/INST]"
    p = [1] + sp.encode(text); resp = sp.encode(r["output"]) + [2]
    ids = torch.tensor([p + resp])
    with torch.no_grad(): logits = model(ids).logits[0].double()
    lp = torch.log_softmax(logits, -1)
    total = sum(lp[len(p) + j - 1, t].item() for j, t in enumerate(resp))
    print(json.dumps({"index": i, "logp": total, "tokens": len(resp)}))
