"""Trains one LoRA fine-tune: the training container's entrypoint, and the local executor's script.

The environment is the contract set by trainer/job-manifest.ts:

  BASE_MODEL                 served model name; written as base_model_name_or_path, the name the
                             engine checks an adapter against
  BASE_MODEL_PATH            optional: local directory holding the base weights and tokenizer
                             (default: BASE_MODEL, resolved by transformers from its cache/hub)
  TRAINING_FILE_URI          chat JSONL: s3://bucket/key, file:///path or a plain path
  VALIDATION_FILE_URI        optional; its mean loss is printed after training
  OUTPUT_URI                 where adapter_config.json + adapter_model.safetensors go (same schemes)
  N_EPOCHS, BATCH_SIZE, LEARNING_RATE_MULTIPLIER, LORA_RANK, LORA_ALPHA, SEED
  LORA_TARGET_MODULES        optional, comma-separated (default q_proj,v_proj)
  MAX_SEQ_LEN                optional token limit per example (default 1024)
  BASE_LEARNING_RATE         optional (default 2e-4); the rate used is this × the multiplier
  S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION: from the tenant's Secret

Progress goes to stdout as `LORAPLEX_PROGRESS {"step":N,"loss":x,"epoch":e}` after every optimizer
step (trainer/progress.ts parses it); a failure exits non-zero with `LORAPLEX_ERROR <message>` on
stderr.
"""

import json
import math
import os
import random
import sys
import tempfile
from urllib.parse import urlparse

PROGRESS_MARKER = "LORAPLEX_PROGRESS "
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class TrainingError(Exception):
    pass


def env_str(name, default=None):
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise TrainingError(f"environment variable {name} is required")
    return default


def env_num(name, cast, default=None, minimum=None):
    raw = env_str(name, None if default is None else str(default))
    try:
        value = cast(raw)
    except ValueError as e:
        raise TrainingError(f"{name}={raw!r} is not a valid {cast.__name__}") from e
    if minimum is not None and value < minimum:
        raise TrainingError(f"{name}={raw} must be at least {minimum}")
    return value


def s3_client():
    import boto3  # only S3 URIs need it
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ.get("S3_ENDPOINT") or None,
        region_name=os.environ.get("AWS_REGION") or "us-east-1",
        # Path-style addressing works with MinIO/s3rver as well as AWS.
        config=Config(s3={"addressing_style": "path"}),
    )


def split_s3(uri):
    u = urlparse(uri)
    return u.netloc, u.path.lstrip("/")


def local_path(uri):
    return urlparse(uri).path if uri.startswith("file://") else uri


def read_text(uri):
    if uri.startswith("s3://"):
        bucket, key = split_s3(uri)
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    with open(local_path(uri), encoding="utf-8") as f:
        return f.read()


def render_chat(tokenizer, messages):
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False)
    # Tokenizers without a chat template (base models) get a plain transcript.
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def load_examples(uri, tokenizer, max_len):
    examples = []
    for n, line in enumerate(read_text(uri).splitlines(), 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
            text = render_chat(tokenizer, [{"role": m["role"], "content": m["content"] or ""} for m in messages])
        except (ValueError, KeyError, TypeError) as e:
            raise TrainingError(f"{uri} line {n} is not a chat example: {e}") from e
        ids = tokenizer(text, add_special_tokens=True, truncation=True, max_length=max_len - 1)["input_ids"]
        if tokenizer.eos_token_id is not None:
            ids = ids + [tokenizer.eos_token_id]
        if len(ids) >= 2:
            examples.append(ids)
    if not examples:
        raise TrainingError(f"{uri} holds no usable training examples")
    return examples


def collate(batch, pad_id, torch):
    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)  # padding is not learned
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, ids in enumerate(batch):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(ids)] = torch.tensor(ids)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def progress(step, loss, epoch):
    print(PROGRESS_MARKER + json.dumps({"step": step, "loss": round(loss, 6), "epoch": round(epoch, 4)}), flush=True)


def mean_loss(model, examples, batch_size, pad_id, device, torch):
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            batch = {k: v.to(device) for k, v in collate(examples[i : i + batch_size], pad_id, torch).items()}
            total += model(**batch).loss.item()
            n += 1
    model.train()
    return total / n


def save_adapter(model, out_uri, base_model):
    def write(directory):
        model.save_pretrained(directory, safe_serialization=True)
        config_path = os.path.join(directory, "adapter_config.json")
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
        # PEFT records the path the weights came from; the engine checks the served model name.
        config["base_model_name_or_path"] = base_model
        with open(config_path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)

    if not out_uri.startswith("s3://"):
        write(local_path(out_uri))
        return
    bucket, prefix = split_s3(out_uri)
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    with tempfile.TemporaryDirectory() as tmp:
        write(tmp)
        client = s3_client()
        # Weights first: a config without its weights would look like a finished adapter.
        for name in reversed(ADAPTER_FILES):
            client.upload_file(os.path.join(tmp, name), bucket, prefix + name)


def train():
    base_model = env_str("BASE_MODEL")
    model_path = env_str("BASE_MODEL_PATH", base_model)
    train_uri = env_str("TRAINING_FILE_URI")
    val_uri = os.environ.get("VALIDATION_FILE_URI", "").strip()
    out_uri = env_str("OUTPUT_URI")
    epochs = env_num("N_EPOCHS", int, minimum=1)
    batch_size = env_num("BATCH_SIZE", int, minimum=1)
    lr = env_num("BASE_LEARNING_RATE", float, 2e-4) * env_num("LEARNING_RATE_MULTIPLIER", float, minimum=0)
    rank = env_num("LORA_RANK", int, minimum=1)
    alpha = env_num("LORA_ALPHA", float, minimum=1)
    seed = env_num("SEED", int, 0)
    max_len = env_num("MAX_SEQ_LEN", int, 1024, minimum=8)
    targets = [t.strip() for t in env_str("LORA_TARGET_MODULES", "q_proj,v_proj").split(",") if t.strip()]

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    random.seed(seed)
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        raise TrainingError("the tokenizer has neither a pad nor an eos token")
    examples = load_examples(train_uri, tokenizer, max_len)
    val_examples = load_examples(val_uri, tokenizer, max_len) if val_uri else []

    model = AutoModelForCausalLM.from_pretrained(model_path, torch_dtype=dtype).to(device)
    lora = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=targets, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)

    steps_per_epoch = math.ceil(len(examples) / batch_size)
    print(
        f"training {base_model} ({device}, {dtype}): {len(examples)} examples, {epochs} epochs, "
        f"batch {batch_size}, lr {lr:g}, rank {rank}, alpha {alpha}, targets {targets}",
        flush=True,
    )
    step = 0
    for epoch in range(epochs):
        order = list(range(len(examples)))
        random.shuffle(order)
        for i in range(steps_per_epoch):
            batch = collate([examples[j] for j in order[i * batch_size : (i + 1) * batch_size]], pad_id, torch)
            loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
            if not torch.isfinite(loss):
                raise TrainingError(f"training loss became {loss.item()} at step {step + 1}")
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            progress(step, loss.item(), epoch + (i + 1) / steps_per_epoch)
    if val_examples:
        print(f"validation loss {mean_loss(model, val_examples, batch_size, pad_id, device, torch):.4f}", flush=True)
    save_adapter(model, out_uri, base_model)
    print(f"adapter written to {out_uri}", flush=True)


def main():
    try:
        train()
    except TrainingError as e:
        print(f"LORAPLEX_ERROR {e}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
