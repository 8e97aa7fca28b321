"""Bounded compilation of the `flex` backend: any mix of lengths compiles one kernel per length bucket.

The compiled kernel (inductor's CPU FlexAttention, no backward on CPU) runs under no_grad: through
`lsg_attention` at 24 lengths, and in the validation of a short training run on variable-length files.
Each compile takes 10-20 s on this CPU, so the lengths are chosen to fall into few buckets.
"""

import json
import logging
from dataclasses import replace

import pytest
import torch
from torch._dynamo.utils import counters

from lsgzoo import LSGAttentionConfig, lsg_attention
from lsgzoo.attention import flex

pytestmark = pytest.mark.skipif(flex.flex_attention is None, reason="torch without FlexAttention")


@pytest.fixture
def kernel_log(monkeypatch):
    """A fresh `KERNEL_LOG`, the compiled kernel enabled (conftest disables it for the rest of the suite)."""
    log = flex.KernelLog()
    monkeypatch.setattr(flex, "KERNEL_LOG", log)
    monkeypatch.setenv("LSGZOO_FLEX_COMPILE", "1")
    return log


def test_buckets_are_three_and_four_times_powers_of_two():
    assert [flex.bucket_blocks(b) for b in (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 17, 25, 33, 100)] == \
        [1, 2, 3, 4, 6, 6, 8, 8, 12, 12, 16, 24, 32, 48, 128]
    assert flex.bucket_sizes(12) == [3, 4, 6, 8, 12]
    assert len(flex.bucket_sizes(128)) == 12  # 16,384 tokens at block 128
    assert all(flex.bucket_blocks(b) < 1.5 * b or b == 3 for b in range(3, 2000))  # at most 1.5× the blocks


def compile_events(caplog):
    return [r.getMessage() for r in caplog.records if "recompile_limit" in r.getMessage()
            or "cache_size_limit" in r.getMessage()]


def test_24_lengths_compile_one_kernel_per_bucket_and_equal_eager(kernel_log, caplog):
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type="norm",
                             num_global_tokens=1)
    lengths = [65 + 63 * i // 23 for i in range(24)]  # 24 lengths, 65..128 tokens: 5..8 blocks → buckets 6, 8
    graphs = counters["stats"]["unique_graphs"]
    caplog.set_level(logging.INFO)
    with torch.no_grad():
        for length in lengths:
            q, k, v = (torch.randn(2, 2, 1 + length, 8) for _ in range(3))
            padding = torch.ones(2, length)
            padding[1, length // 2:] = 0
            got = lsg_attention(q, k, v, replace(cfg, lsg_backend="flex"), padding)
            want = lsg_attention(q, k, v, replace(cfg, lsg_backend="eager"), padding)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5, msg=lambda m: f"length {length}: {m}")
    assert [entry["bucket"] for entry in kernel_log.compiles] == [96, 128]
    assert len(kernel_log.compiles) <= len(flex.bucket_sizes(8))
    assert counters["stats"]["unique_graphs"] - graphs == 2
    assert kernel_log.fallbacks == [] and compile_events(caplog) == []
    logged = [r.getMessage() for r in caplog.records if r.name == flex.__name__]
    assert logged[0] == "compiling attention kernel for length 80 (bucket 96, float32)"
    summary = kernel_log.summary()
    assert summary["attention_kernels_compiled"] == 2 and summary["attention_compile_s"] > 0


def test_a_kernel_that_cannot_compile_falls_back_to_fused_once_with_eager_results(kernel_log, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no kernel for you")

    monkeypatch.setattr(flex, "compiled_flex_attention", lambda: broken)
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type="pooling",
                             lsg_backend="flex")
    q, k, v = (torch.randn(1, 2, 1 + 100, 8) for _ in range(3))
    with torch.no_grad(), pytest.warns(UserWarning, match="RuntimeError: no kernel for you.*falls back to 'fused'"):
        got = lsg_attention(q, k, v, cfg)
    with torch.no_grad():
        again = lsg_attention(q, k, v, cfg)  # the refused shape goes straight to fused, no second warning
        want = lsg_attention(q, k, v, replace(cfg, lsg_backend="eager"))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(again, want, atol=1e-5, rtol=1e-5)
    assert kernel_log.summary()["attention_fallbacks"] == ["RuntimeError: no kernel for you"]


def test_past_the_kernel_limit_the_backend_falls_back_instead_of_running_eager_flex(kernel_log, monkeypatch):
    monkeypatch.setattr(flex, "MAX_KERNELS", 0)
    monkeypatch.setattr(flex, "compiled_flex_attention", lambda: pytest.fail("the kernel ran past its limit"))
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type="none",
                             lsg_backend="flex")
    q, k, v = (torch.randn(1, 2, 1 + 100, 8) for _ in range(3))
    with torch.no_grad(), pytest.warns(UserWarning, match="more than 0 compiled shapes"):
        got = lsg_attention(q, k, v, cfg)
    with torch.no_grad():
        torch.testing.assert_close(got, lsg_attention(q, k, v, replace(cfg, lsg_backend="eager")),
                                   atol=1e-5, rtol=1e-5)


def test_a_training_run_on_variable_lengths_records_its_kernels(kernel_log, tmp_path, caplog):
    """Validation (no_grad) runs compiled flex on 24 documents of distinct lengths (66..128 tokens), batch 1,
    block 8: 9..16 blocks → buckets 12, 16; training steps fall back to fused (no CPU backward)."""
    from lsgzoo.training.config import compose_config
    from lsgzoo.training.rundir import read_summary
    from lsgzoo.training.run import run_training

    def rows(count):  # words + <s> </s>: 66..128 distinct token lengths
        return [{"text": " ".join(["good" if i % 2 else "bad"] * (64 + 62 * i // (count - 1))), "label": i % 2}
                for i in range(count)]

    for split, part in (("train", rows(8)), ("validation", rows(24))):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    overrides = ["data=files", "data.task=classification", "data.tokenizer_kind=word",
                 f"data.source.train={tmp_path / 'train.jsonl'}", f"data.source.validation={tmp_path / 'validation.jsonl'}",
                 "data.source.text_column=text", "data.source.target_column=null", "data.source.label_column=label",
                 "data.metrics=[]", "data.monitor=val/accuracy", "data.max_source_length=256", "data.batch_size=4",
                 "data.eval_batch_size=1", "attention.block_size=8", "attention.sparse_block_size=8",
                 "attention.lsg_backend=flex", "trainer.max_steps=2", "trainer.val_check_interval=2",
                 "test_after_training=false", "logger=csv", "optim.warmup_steps=0", "num_threads=1"]
    caplog.set_level(logging.INFO)
    run_dir = tmp_path / "run"
    with pytest.warns(UserWarning, match="lsg_backend='flex' cannot run here"):
        run_training(compose_config(overrides), run_dir, overrides)
    summary = read_summary(run_dir)
    assert summary["status"] == "completed"
    assert summary["attention_kernels_compiled"] == 2 <= len(flex.bucket_sizes(16))
    assert summary["attention_compile_s"] > 0 and summary["attention_fallbacks"] == []
    assert compile_events(caplog) == []
