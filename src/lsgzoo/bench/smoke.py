"""The device smoke check (`benchmarks/gpu_smoke.sh`): does the `flex` path work here, in one JSON.

1. `flex` against `eager` in fp32 for every registered selector: forward, and on CUDA the gradients of
   q, k, v (FlexAttention has no CPU backward, so on CPU forward only, with `grad: null`);
2. one bf16 forward + backward of the encoder at `long_length` tokens, LSG (`auto`) against BART-sdpa;
3. a 50-step training run on variable-length documents (`data=files`): compile count and time, fallbacks,
   tokens/s and peak memory from its summary.json.

`tiny` shrinks every size so the machinery runs on CPU in seconds.
    python -m lsgzoo.bench.smoke OUT_DIR [--device cpu] [--tiny]
"""

import argparse
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import torch

from lsgzoo.bench.worker import synchronize

SIZES = {False: dict(long_length=16384, d_model=768, heads=12, layers=2, doc_words=(512, 4094), block=128),
         True: dict(long_length=1024, d_model=64, heads=4, layers=1, doc_words=(40, 200), block=16)}


def selector_grid(device: torch.device) -> dict:
    """{selector: {"forward": max |flex − eager|, "grad": max over dq, dk, dv (None without a backward)}}."""
    from lsgzoo import LSGAttentionConfig, lsg_attention
    from lsgzoo.selectors.registry import available_selectors

    results = {}
    backward = device.type != "cpu"
    for selector in available_selectors():
        cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type=selector,
                                 num_global_tokens=2)
        inputs = [torch.randn(2, 3, 2 + 150, 16, device=device) for _ in range(3)]
        padding = torch.ones(2, 150, device=device)
        padding[1, 110:] = 0
        outputs = {}
        for backend in ("flex", "eager"):
            torch.manual_seed(0)  # lsh draws its hash planes: the same draws for both backends
            leaves = [x.clone().requires_grad_(backward) for x in inputs]
            with torch.set_grad_enabled(backward):
                out = lsg_attention(*leaves, replace(cfg, lsg_backend=backend), padding)
                if backward:
                    out.sum().backward()
            outputs[backend] = (out.detach(), [x.grad for x in leaves] if backward else None)
        (flex_out, flex_grads), (eager_out, eager_grads) = outputs["flex"], outputs["eager"]
        results[selector] = {
            "forward": (flex_out - eager_out).abs().max().item(),
            "grad": max((a - b).abs().max().item() for a, b in zip(flex_grads, eager_grads)) if backward else None}
    return results


def long_timing(device: torch.device, sizes: dict) -> dict:
    """Seconds of one bf16 encoder forward + backward (after one warm-up) for LSG (`auto`) and BART-sdpa."""
    from transformers import BartConfig, BartModel

    from lsgzoo.models import LSGBartConfig, LSGBartModel

    dims = dict(vocab_size=1000, d_model=sizes["d_model"], encoder_layers=sizes["layers"], decoder_layers=1,
                encoder_attention_heads=sizes["heads"], decoder_attention_heads=sizes["heads"],
                encoder_ffn_dim=4 * sizes["d_model"], decoder_ffn_dim=4 * sizes["d_model"],
                max_position_embeddings=sizes["long_length"])
    models = {"lsg": LSGBartModel(LSGBartConfig(**dims, block_size=sizes["block"], sparse_block_size=sizes["block"],
                                                sparsity_factor=2, sparsity_type="norm")),
              "bart_sdpa": BartModel(BartConfig(**dims, attn_implementation="sdpa"))}
    ids = torch.randint(4, 1000, (1, sizes["long_length"]), device=device)
    result = {"length": sizes["long_length"], "dtype": "bf16"}
    for name, model in models.items():
        encoder = model.get_encoder().to(device=device, dtype=torch.bfloat16).train()
        for timed in (False, True):
            synchronize(device)
            started = time.perf_counter()
            encoder(input_ids=ids).last_hidden_state.float().sum().backward()
            synchronize(device)
        result[f"{name}_fwd_bwd_s"] = time.perf_counter() - started
    return result


def variable_length_run(out: Path, device: torch.device, sizes: dict, steps: int = 50) -> dict:
    """A `steps`-step training run on documents of random lengths; its summary's kernel and cost fields."""
    from lsgzoo.training.config import compose_config
    from lsgzoo.training.rundir import read_summary
    from lsgzoo.training.run import run_training

    rng = random.Random(0)
    low, high = sizes["doc_words"]
    files = {}
    for split, count in (("train", 64), ("validation", 8)):
        rows = [{"article": " ".join(rng.choice("abcdefgh") for _ in range(rng.randint(low, high))),
                 "abstract": "a b c"} for _ in range(count)]
        files[split] = out / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(row) + "\n" for row in rows))
    max_length = -(-(high + 2) // sizes["block"]) * sizes["block"]  # + <s> </s>, up to a block multiple
    overrides = ["data=files", f"data.source.train={files['train']}", f"data.source.validation={files['validation']}",
                 "data.tokenizer_kind=word", f"data.max_source_length={max_length}", "data.batch_size=4",
                 "data.eval_batch_size=4", "data.max_target_length=8", "data.generation.max_new_tokens=4",
                 f"attention.block_size={sizes['block']}", f"attention.sparse_block_size={sizes['block']}",
                 f"trainer.max_steps={steps}", f"trainer.val_check_interval={steps}", "trainer.limit_val_batches=1",
                 "test_after_training=false", "logger=csv", "trainer.enable_progress_bar=false",
                 *(["trainer=gpu"] if device.type == "cuda" else ["num_threads=1"])]
    run_dir = out / "variable-length-run"
    run_training(compose_config(overrides), run_dir, overrides)
    summary = read_summary(run_dir)
    return {key: summary.get(key) for key in (
        "status", "global_step", "attention_kernels_compiled", "attention_compile_s", "attention_fallbacks",
        "train_tokens_per_s", "train_mfu", "train_time_s", "peak_memory_mb")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: check the machinery on CPU")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    device, sizes = torch.device(args.device), SIZES[args.tiny]
    torch.manual_seed(0)
    report = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu", "torch": torch.__version__,
              "tiny": args.tiny, "sizes": sizes}
    for name, check in (("selectors_fp32", lambda: selector_grid(device)),
                        ("long_bf16", lambda: long_timing(device, sizes)),
                        ("variable_length_training", lambda: variable_length_run(args.out, device, sizes))):
        started = time.perf_counter()
        try:
            report[name] = check()
        except Exception as error:  # record and go on: the other checks still answer
            report[name] = {"error": f"{type(error).__name__}: {error}"[:500]}
        report[f"{name}_wall_s"] = time.perf_counter() - started
        (args.out / "smoke.json").write_text(json.dumps(report, indent=2) + "\n")
        print(name, json.dumps(report[name])[:400], flush=True)
    return 0 if not any(isinstance(report[k], dict) and "error" in report[k] for k in
                        ("selectors_fp32", "long_bf16", "variable_length_training")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
