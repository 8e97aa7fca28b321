"""One measurement in a fresh process: `python -m lsgzoo.bench.worker '<job json>'`.

Prints one line `BENCH_RESULT {...}`. A job is {"case": Case.as_json(), "length",
"mode" ("fwd" | "train"), "iterations", "threads", "device", "dtype", "dims"}
(dims: d_model, heads, ffn, layers, vocab).

This module must also run in the original's environment (transformers 4.44, see
`lsgzoo.bench.run`), so it imports only the standard library at module level and
never imports `lsgzoo.models` for the "original" and "bart" kinds.

Timing: a warm-up pass at a short length (at the target length where kernels are
built per shape: LSG on CUDA, `flex`), then `iterations` timed passes at the
target length. fwd = eval mode under `torch.no_grad()`; train = forward + backward
of a scalar loss in train mode (parameter gradients are allocated during the
warm-up, so the memory figure is activations + temporaries). Memory on CPU: peak
resident set size during the timed passes, sampled every 2 ms, minus the RSS just
before them; on CUDA: `max_memory_allocated` minus the allocation before them.
"""

import gc
import json
import os
import sys
import threading
import time

WARMUP_LENGTH = 512
RESULT_PREFIX = "BENCH_RESULT "


class RssPeak:
    """Context manager sampling this process' resident set size (Linux /proc) in a thread."""

    def __init__(self, interval: float = 0.002):
        self.interval, self.peak, self.baseline = interval, 0, 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def rss(self) -> int:
        with open("/proc/self/statm") as stats:
            return int(stats.read().split()[1]) * self._page

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __enter__(self):
        gc.collect()
        self.baseline = self.peak = self.rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())

    @property
    def delta(self) -> int:
        return self.peak - self.baseline


def warmup_length(length: int, case: dict | None = None, device=None) -> int:
    """Length of the untimed warm-up pass: short, except where kernels are built per shape (compiled
    FlexAttention, which `auto` runs on CUDA): there the warm-up is the timed shape itself."""
    per_shape = case is not None and case["kind"] == "lsg" and (
        case["params"].get("lsg_backend") == "flex" or (device is not None and device.type == "cuda"))
    return length if per_shape else min(WARMUP_LENGTH, length)


def build_model(case: dict, length: int, D: dict):
    """The encoder of `case` at dims `D`, random init."""
    kind, params = case["kind"], case["params"]
    dims = dict(d_model=D["d_model"], encoder_layers=D["layers"], encoder_attention_heads=D["heads"],
                encoder_ffn_dim=D["ffn"], vocab_size=D["vocab"])
    positions = length
    if kind == "lsg":
        from lsgzoo.models.configuration_lsg_bart import LSGBartConfig
        from lsgzoo.models.modeling_lsg_bart import LSGBartEncoder

        return LSGBartEncoder(LSGBartConfig(**dims, decoder_layers=1, max_position_embeddings=positions, **params))
    if kind == "original":
        from lsg_converter.bart.modeling_lsg_bart import LSGBartConfig, LSGBartEncoder

        return LSGBartEncoder(LSGBartConfig(**dims, decoder_layers=1, max_position_embeddings=positions, **params))
    if kind == "bart":
        from transformers import BartConfig
        from transformers.models.bart.modeling_bart import BartEncoder

        return BartEncoder(BartConfig(**dims, decoder_layers=1, max_position_embeddings=positions,
                                      attn_implementation="sdpa"))
    if kind == "led":
        from transformers import LEDConfig
        from transformers.models.led.modeling_led import LEDEncoder

        config = LEDConfig(**dims, decoder_layers=1, max_encoder_position_embeddings=positions + 2 * params["window"],
                           attention_window=[params["window"]] * D["layers"])
        return LEDEncoder(config)
    if kind == "bigbird":
        from transformers import BigBirdPegasusConfig
        from transformers.models.bigbird_pegasus.modeling_bigbird_pegasus import BigBirdPegasusEncoder

        config = BigBirdPegasusConfig(**dims, decoder_layers=1, max_position_embeddings=positions,
                                      attention_type="block_sparse", block_size=params["block_size"],
                                      num_random_blocks=params["random_blocks"])
        return BigBirdPegasusEncoder(config)
    raise ValueError(f"unknown case kind {kind!r}")


def encoder_inputs(case: dict, length: int, device):
    import torch

    ids = torch.randint(4, 1000, (1, length), device=device)
    kwargs = dict(input_ids=ids, attention_mask=torch.ones_like(ids))
    if case["kind"] == "led":  # one global token, like LSG's
        kwargs["global_attention_mask"] = torch.zeros_like(ids)
        kwargs["global_attention_mask"][:, 0] = 1
    return kwargs


def synchronize(device):
    """Wait for the device's queued work, so wall-clock times measure it (no-op on CPU)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def one_pass(model, inputs, mode: str):
    import torch

    if mode == "fwd":
        with torch.no_grad():
            model(**inputs)
        return
    out = model(**inputs)[0]
    out.float().square().mean().backward()


def measure_encoder(job: dict) -> dict:
    import torch

    device, case, mode = torch.device(job["device"]), job["case"], job["mode"]
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[job["dtype"]]
    model = build_model(case, job["length"], job["dims"]).to(device=device, dtype=dtype)
    model.train(mode == "train")
    one_pass(model, encoder_inputs(case, warmup_length(job["length"], case, device), device), mode)
    if mode == "train":
        model.zero_grad(set_to_none=False)  # keep gradient buffers: they are not activation memory
    inputs = encoder_inputs(case, job["length"], device)
    seconds = []
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
        for _ in range(job["iterations"]):
            start = time.perf_counter()
            one_pass(model, inputs, mode)
            synchronize(device)
            seconds.append(time.perf_counter() - start)
        peak = torch.cuda.max_memory_allocated() - baseline
    else:
        with RssPeak() as probe:
            for _ in range(job["iterations"]):
                start = time.perf_counter()
                one_pass(model, inputs, mode)
                seconds.append(time.perf_counter() - start)
        peak = probe.delta
    return dict(seconds=seconds, peak_bytes=peak)


def measure_generate(job: dict) -> dict:
    """Greedy generate() latency with the KV cache: `new_tokens` tokens after a `length`-token input."""
    import torch

    params, device, D = job["case"]["params"], torch.device(job["device"]), job["dims"]
    dims = dict(d_model=D["d_model"], encoder_layers=D["layers"], decoder_layers=D["layers"],
                encoder_attention_heads=D["heads"], decoder_attention_heads=D["heads"], encoder_ffn_dim=D["ffn"],
                decoder_ffn_dim=D["ffn"], vocab_size=D["vocab"], max_position_embeddings=params["length"])
    if params["model"] == "lsg":
        from lsgzoo.models import LSGBartConfig, LSGBartForConditionalGeneration

        model = LSGBartForConditionalGeneration(LSGBartConfig(**dims))
    else:
        from transformers import BartConfig, BartForConditionalGeneration

        model = BartForConditionalGeneration(BartConfig(**dims, attn_implementation="sdpa"))
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[job["dtype"]]
    model = model.to(device=device, dtype=dtype).eval()
    ids = torch.randint(4, 1000, (1, params["length"]), device=device)
    settings = dict(do_sample=False, num_beams=1, use_cache=True, max_new_tokens=params["new_tokens"],
                    min_new_tokens=params["new_tokens"])
    with torch.no_grad():
        model.generate(ids[:, :warmup_length(params["length"])], **{**settings, "max_new_tokens": 2,
                                                                     "min_new_tokens": 2})
        seconds = []
        for _ in range(job["iterations"]):
            synchronize(device)
            start = time.perf_counter()
            model.generate(ids, **settings)
            synchronize(device)
            seconds.append(time.perf_counter() - start)
    return dict(seconds=seconds, peak_bytes=None)


def lightning_training_step(job: dict) -> dict:
    """One Lightning training step of lsgzoo's Seq2SeqModule vs the bare model (see `bench.lightning_step`)."""
    try:
        from lsgzoo.bench.lightning_step import training_step_overhead
    except ImportError as error:
        return dict(skipped=f"lsgzoo.training is not importable ({error}); Lightning step not measured")
    return training_step_overhead(job)


def measure_gemm(job: dict) -> dict:
    """Achieved GEMM rate (FLOP/s, median of 5) on a square and the encoder's projection/FFN shapes."""
    import torch

    device, D = torch.device(job["device"]), job["dims"]
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[job["dtype"]]
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    t = job["length"] + 1
    shapes = {"square-2048": (2048, 2048, 2048), "proj": (t, D["d_model"], D["d_model"]),
              "ffn-in": (t, D["d_model"], D["ffn"]), "ffn-out": (t, D["ffn"], D["d_model"])}
    rates = {}
    for name, (m, k, n) in shapes.items():
        a, b = torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype)
        a @ b
        times = []
        for _ in range(5):
            synchronize(device)
            start = time.perf_counter()
            a @ b
            synchronize(device)
            times.append(time.perf_counter() - start)
        rates[name] = 2 * m * k * n / sorted(times)[2]
    return dict(seconds=[], peak_bytes=None, gemm_flops_per_second=rates)


def run_job(job: dict) -> dict:
    import torch

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    kind = job["case"]["kind"]
    if kind == "generate":
        result = measure_generate(job)
    elif kind == "lightning":
        result = lightning_training_step(job)
    elif kind == "gemm":
        result = measure_gemm(job)
    else:
        result = measure_encoder(job)
    result.update(threads=torch.get_num_threads(), torch=torch.__version__)
    try:
        import transformers

        result["transformers"] = transformers.__version__
    except ImportError:
        pass
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(argv[0])
    try:
        result = run_job(job)
    except Exception as error:  # reported in the table, the run goes on
        result = dict(error=f"{type(error).__name__}: {error}"[:500])
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
