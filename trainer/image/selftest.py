"""End-to-end check of train.py with no downloads (`make trainer-selftest`).

Builds a tiny randomly initialised Llama and a word-level tokenizer in code, trains a LoRA on a
small chat JSONL by running train.py as a child process (the same way the local executor runs
it), checks that the loss falls, then loads the adapter into the engine simulator and serves a
chat completion with it. Exits non-zero on any failure.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SERVED_MODEL = "selftest/tiny-llama"
RANK = 8
STEPS_EXPECTED = 60  # 80 examples, batch 8, 6 epochs
COLORS = {"sky": "blue", "grass": "green", "snow": "white", "coal": "black", "sun": "yellow"}


def chat_examples():
    # A fixed mapping the adapter can learn: the answer depends on the question.
    examples = []
    for i in range(80):
        thing = list(COLORS)[i % len(COLORS)]
        examples.append(
            {
                "messages": [
                    {"role": "system", "content": "answer with the color"},
                    {"role": "user", "content": f"what color is the {thing} ?"},
                    {"role": "assistant", "content": f"the {thing} is {COLORS[thing]} ."},
                ]
            }
        )
    return examples


def build_base_model(directory, texts):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<unk>", "<pad>", "<s>", "</s>"]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=specials))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.save_pretrained(directory)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(directory, safe_serialization=True)
    return tok.get_vocab_size()


def run_training(base_dir, data_path, out_dir):
    env = {
        **os.environ,
        "FINE_TUNE_ID": "ftjob-selftest",
        "BASE_MODEL": SERVED_MODEL,
        "BASE_MODEL_PATH": base_dir,
        "TRAINING_FILE_URI": "file://" + data_path,
        "OUTPUT_URI": out_dir,
        "N_EPOCHS": "6",
        "BATCH_SIZE": "8",
        # A random base model needs a large step to move in a few dozen steps: 2e-4 × 100.
        "LEARNING_RATE_MULTIPLIER": "100",
        "LORA_RANK": str(RANK),
        "LORA_ALPHA": str(RANK * 2),
        "SEED": "7",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "train.py")], env=env, capture_output=True, text=True, timeout=900
    )
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"train.py exited with {proc.returncode}")
    losses = []
    for line in proc.stdout.splitlines():
        if line.startswith("LORAPLEX_PROGRESS "):
            losses.append(json.loads(line[len("LORAPLEX_PROGRESS ") :])["loss"])
    return losses


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def check_in_engine_sim(adapter_dir):
    port = free_port()
    node = os.environ.get("NODE", "node")
    sim = subprocess.Popen(
        [node, os.path.join(REPO, "bin", "loraplex.js"), "engine-sim", "--port", str(port),
         "--model", SERVED_MODEL, "--max-lora-rank", "64", "--time-scale", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline or sim.poll() is not None:
                raise SystemExit("the engine simulator did not become healthy")
            time.sleep(0.2)
        status, text = post(base + "/v1/load_lora_adapter", {"lora_name": "selftest-ft", "lora_path": adapter_dir})
        print(f"engine simulator load_lora_adapter: {status} {text.strip()}")
        if status != 200:
            raise SystemExit("the engine simulator refused the trained adapter")
        status, text = post(
            base + "/v1/chat/completions",
            {"model": "selftest-ft", "messages": [{"role": "user", "content": "what color is the sky ?"}],
             "max_tokens": 8},
        )
        print(f"engine simulator chat completion with model=selftest-ft: {status}")
        if status != 200 or json.loads(text).get("model") != "selftest-ft":
            raise SystemExit(f"chat completion with the adapter failed: {text[:300]}")
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def main():
    examples = chat_examples()
    with tempfile.TemporaryDirectory(prefix="loraplex-trainer-selftest-") as tmp:
        base_dir = os.path.join(tmp, "base")
        out_dir = os.path.join(tmp, "adapter")
        data_path = os.path.join(tmp, "train.jsonl")
        with open(data_path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(e) + "\n" for e in examples)
        texts = [f"{m['role']}: {m['content']}" for e in examples for m in e["messages"]]
        vocab = build_base_model(base_dir, texts)
        print(f"tiny Llama built: hidden 64, 2 layers, 4 heads, vocab {vocab}")

        losses = run_training(base_dir, data_path, out_dir)
        if len(losses) != STEPS_EXPECTED:
            raise SystemExit(f"expected {STEPS_EXPECTED} progress lines, got {len(losses)}")
        first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        print(f"loss: first 5 steps {first:.4f} → last 5 steps {last:.4f}")
        if not last < first * 0.8:
            raise SystemExit("the loss did not fall by at least 20%")

        with open(os.path.join(out_dir, "adapter_config.json"), encoding="utf-8") as f:
            config = json.load(f)
        print(f"adapter_config.json: base {config['base_model_name_or_path']}, r {config['r']}, "
              f"targets {sorted(config['target_modules'])}")
        check_in_engine_sim(out_dir)
    print("trainer selftest passed")


if __name__ == "__main__":
    main()
