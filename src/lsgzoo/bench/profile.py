"""Where the LSG encoder's time goes: `python -m lsgzoo.bench.profile --length 4096 [--backend fused] [--train]`.

Runs one warm-up and one profiled pass (torch.profiler, CPU) of the LSG encoder at
BART-base dims and groups the operators' self time into: projections/FFN (GEMMs),
attention kernels, data movement (copies, gathers, padding, concatenation, fills),
elementwise/normalisation, and the rest. Prints the groups and the top operators.
"""

import argparse

GROUPS = {
    "projections/FFN (GEMM)": ("aten::addmm", "aten::mm", "aten::linear"),
    "attention kernels": ("flash_attention", "aten::bmm", "aten::_softmax", "aten::baddbmm", "aten::div",
                          "TwoGroupBlockAttention", "aten::logaddexp", "aten::exp"),
    "data movement": ("aten::copy_", "aten::cat", "aten::index", "aten::gather", "aten::fill_", "aten::constant_pad_nd",
                      "aten::index_select", "aten::index_add_", "aten::scatter_add_", "aten::clone", "aten::contiguous",
                      "aten::zero_", "aten::new_zeros", "aten::unfold_backward", "aten::slice_backward",
                      "aten::masked_fill"),
    "elementwise/norm": ("aten::gelu", "aten::add", "aten::mul", "aten::native_layer_norm", "aten::sub",
                         "aten::add_", "aten::mul_", "aten::native_dropout", "aten::sum", "aten::layer_norm",
                         "aten::gelu_backward", "aten::native_layer_norm_backward", "aten::native_dropout_backward"),
    "selector": ("aten::sort", "aten::argsort", "aten::linalg_vector_norm"),
}


def group_of(name: str) -> str:
    for group, needles in GROUPS.items():
        if any(needle in name for needle in needles):
            return group
    return "other"


def profile_encoder(length: int, backend: str, train: bool, threads: int | None):
    import torch
    from torch.profiler import ProfilerActivity, profile

    from lsgzoo.bench.matrix import BART_BASE as D
    from lsgzoo.models.configuration_lsg_bart import LSGBartConfig
    from lsgzoo.models.modeling_lsg_bart import LSGBartEncoder

    if threads:
        torch.set_num_threads(threads)
    config = LSGBartConfig(d_model=D["d_model"], encoder_layers=D["layers"], encoder_attention_heads=D["heads"],
                           encoder_ffn_dim=D["ffn"], vocab_size=D["vocab"], decoder_layers=1,
                           max_position_embeddings=length, lsg_backend=backend)
    model = LSGBartEncoder(config).train(train)
    ids = torch.randint(4, 1000, (1, length))

    def one_pass(tokens):
        if train:
            model(input_ids=tokens)[0].square().mean().backward()
        else:
            with torch.no_grad():
                model(input_ids=tokens)

    one_pass(ids[:, :512])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        one_pass(ids)
    events = prof.key_averages()
    totals: dict[str, float] = {}
    for event in events:
        totals[group_of(event.key)] = totals.get(group_of(event.key), 0.0) + event.self_cpu_time_total / 1e6
    return totals, events


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lsgzoo.bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--backend", default="fused")
    parser.add_argument("--train", action="store_true", help="profile forward + backward instead of forward")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    totals, events = profile_encoder(args.length, args.backend, args.train, args.threads)
    whole = sum(totals.values())
    print(f"LSG encoder, {args.length} tokens, backend {args.backend}, {'fwd+bwd' if args.train else 'fwd'}: "
          f"{whole:.2f} s of operator self time")
    for group, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {group:26} {seconds:7.2f} s  {100 * seconds / whole:5.1f}%")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
