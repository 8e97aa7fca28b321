"""Record golden fixtures from the ORIGINAL LSG-BART implementation.

The original is the PyPI package ``lsg-converter==0.1.9`` (module
``lsg_converter.bart.modeling_lsg_bart``) running on ``transformers==4.44.2``.
This script only *uses* that package; none of its code is copied into this
repository.  It writes tiny random checkpoints, their config.json files (as the
original writes them) and the numerical outputs of the original, so that the
lsgzoo port can be checked for parity without the original installed.

Environment (separate venv, outside the repo; CPU only, no HF hub access):

    python3 -m venv /work/venv-orig
    /work/venv-orig/bin/pip install torch==2.13.0 transformers==4.44.2 lsg-converter==0.1.9

Run (from the repo root; rewrites the output folder completely):

    /work/venv-orig/bin/python tests/compat/make_fixtures.py --out tests/fixtures/original

Everything is seeded and deterministic on CPU.  Two kinds of folders are written:

* model cases (``kind == "model"``): ``config.json`` + ``model.safetensors``
  (one case: ``pytorch_model.bin``) + ``generation_config.json`` written by the
  original's ``save_pretrained``, ``io.safetensors`` (inputs and recorded
  outputs) and ``case.json`` (LSG keys, seed, generate kwargs, call protocol);
* conversion cases (``kind == "convert"``): a tiny plain BART source
  (``convert_src_*``) and the output of the original ``LSGConverter``
  (``convert_out_*``) with a ``convert.json`` describing the call.

Seeding protocol (needed for ``sparsity_type == "lsh"``, applied to every
recorded call of every case): immediately before each recorded call
(forward / generate) the script runs ``torch.manual_seed(case["seed"])``.  The
original draws ``torch.randn(1, h, 1, dh, out // 2)`` (float32, CPU default
generator) ``lsh_num_pre_rounds + 1`` times per encoder layer per encoder
forward, layers in order; nothing else draws random numbers in eval mode.
``generate`` runs the encoder exactly once.  Every call gets a fresh clone of
the attention mask (``mask_first_token`` mutates it in place); io.safetensors
holds the original, unmutated mask.
"""

import argparse
import glob
import json
import os
import shutil
import sys
import traceback

import torch
from safetensors.torch import save_file

import transformers
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    BartTokenizerFast,
)

import lsg_converter
from lsg_converter import LSGConverter
from lsg_converter.bart.modeling_lsg_bart import (
    LSGBartConfig,
    LSGBartForConditionalGeneration,
    LSGBartForQuestionAnswering,
    LSGBartForSequenceClassification,
    LSGBartModel,
)

MODEL_SEED = 1234  # weights
INPUT_SEED = 4321  # inputs
CALL_SEED = 777  # torch.manual_seed before every recorded call
CONVERT_SEED = 2024  # torch.manual_seed before every conversion


RECORDED_WITH = {"torch.set_num_threads": 1, "torch.use_deterministic_algorithms": True, "device": "cpu",
                 "dtype": "float32"}


def generation_record(model, tensors, greedy_kwargs, beam_kwargs) -> dict:
    """case.json's `generate` (the recorded generate calls' kwargs) and `generation_config` entries."""
    recorded = "greedy_ids" in tensors
    return {"generate": ({"greedy_ids": greedy_kwargs, "beam_ids": beam_kwargs, "output_kwargs": GEN_OUTPUT_KWARGS}
                         if recorded else {}),
            "generation_config": model.generation_config.to_diff_dict() if recorded else None}


def versions() -> dict:
    """The library versions a fixture was recorded with (case.json, convert.json and index.json entries)."""
    return {"torch_version": torch.__version__, "transformers_version": transformers.__version__,
            "lsg_converter_version": "0.1.9"}

BASE_CONFIG = dict(
    vocab_size=96,
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    max_position_embeddings=128,
    dropout=0.0,
    attention_dropout=0.0,
    activation_dropout=0.0,
    classifier_dropout=0.0,
    encoder_layerdrop=0.0,
    decoder_layerdrop=0.0,
    activation_function="gelu",
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
    decoder_start_token_id=2,
    forced_bos_token_id=None,
    forced_eos_token_id=None,
    scale_embedding=False,
    init_std=0.2,  # larger than BART's 0.02 so attention is peaked / discriminative
)

LSG_KEYS = [
    "adaptive",
    "block_size",
    "lsh_num_pre_rounds",
    "mask_first_token",
    "num_global_tokens",
    "pass_global_tokens_to_decoder",
    "pool_with_global",
    "sparse_block_size",
    "sparsity_factor",
    "sparsity_type",
]

GREEDY_KWARGS = dict(max_new_tokens=8, num_beams=1, do_sample=False)
GEN_OUTPUT_KWARGS = dict(return_dict_in_generate=True, output_logits=True, output_scores=True)
BEAM_KWARGS = dict(max_new_tokens=8, num_beams=3, do_sample=False, early_stopping=True, num_return_sequences=1)

ARCH_CLASSES = {
    "LSGBartForConditionalGeneration": LSGBartForConditionalGeneration,
    "LSGBartForSequenceClassification": LSGBartForSequenceClassification,
    "LSGBartForQuestionAnswering": LSGBartForQuestionAnswering,
    "LSGBartModel": LSGBartModel,
}


def S2S(name, notes="", hidden_states=False, **lsg):
    return dict(name=name, arch="LSGBartForConditionalGeneration", lsg=lsg, notes=notes, hidden_states=hidden_states)


COMMON = dict(block_size=16, sparse_block_size=16, sparsity_factor=2, num_global_tokens=2)

CASES = [
    S2S("s2s_none", hidden_states=True, sparsity_type="none", **COMMON),
    S2S("s2s_norm", hidden_states=True, sparsity_type="norm", **COMMON),
    S2S("s2s_pooling", hidden_states=True, sparsity_type="pooling", **COMMON),
    S2S("s2s_lsh", hidden_states=True, sparsity_type="lsh", lsh_num_pre_rounds=1, **COMMON),
    S2S("s2s_stride", hidden_states=True, sparsity_type="stride", **COMMON),
    S2S("s2s_block_stride", hidden_states=True, sparsity_type="block_stride", **COMMON),
    S2S("s2s_bos_pooling", hidden_states=True, sparsity_type="bos_pooling", **COMMON),
    S2S("s2s_lsh_pre2_sf4", sparsity_type="lsh", lsh_num_pre_rounds=2, block_size=16,
        sparse_block_size=16, sparsity_factor=4, num_global_tokens=2),
    S2S("s2s_lsh_sf_eq_sbs", notes="sparsity_factor == sparse_block_size: lsh falls back to bos_pooling (c = 1 edge regime)",
        sparsity_type="lsh", lsh_num_pre_rounds=1, block_size=16, sparse_block_size=16, sparsity_factor=16,
        num_global_tokens=2),
    S2S("s2s_norm_b8_sf4_g1", sparsity_type="norm", block_size=8, sparse_block_size=8, sparsity_factor=4,
        num_global_tokens=1),
    S2S("s2s_norm_nopass_poolglobal", hidden_states=True, sparsity_type="norm", pass_global_tokens_to_decoder=False,
        pool_with_global=True, **COMMON),
    S2S("s2s_pooling_nopass_nopoolglobal", hidden_states=True, sparsity_type="pooling", pass_global_tokens_to_decoder=False,
        pool_with_global=False, **COMMON),
    S2S("s2s_norm_maskfirst", sparsity_type="norm", mask_first_token=True, **COMMON),
    S2S("s2s_norm_maskfirst_nopass", sparsity_type="norm", mask_first_token=True,
        pass_global_tokens_to_decoder=False, **COMMON),
    dict(S2S("s2s_norm_maskfirst_nomask", notes="no attention_mask passed to forward (mask_first_token then only hides "
             "token 0 inside the encoder); no padding in inputs; generate not recorded",
             sparsity_type="norm", mask_first_token=True, **COMMON), pass_mask=False, t=75, pad_last=0,
         generate=False),
    dict(S2S("s2s_short_full", notes="t=20 <= 2*block_size: full attention path, no adaptive padding",
             sparsity_type="norm", **COMMON), t=20, pad_last=6),
    dict(S2S("s2s_mid_t40", notes="t=40 > 2*block_size: padded to 48 (3 blocks)", sparsity_type="norm", **COMMON),
         t=40, pad_last=10),
    S2S("s2s_local_only_sbs0", sparsity_type="norm", block_size=16, sparse_block_size=0, sparsity_factor=2,
        num_global_tokens=2),
    S2S("s2s_norm_sf1", sparsity_type="norm", block_size=16, sparse_block_size=16, sparsity_factor=1,
        num_global_tokens=2),
    dict(S2S("s2s_stride_bin", notes="saved with safe_serialization=False (pytorch_model.bin)",
             sparsity_type="stride", **COMMON), safe=False),
    dict(name="cls_norm", arch="LSGBartForSequenceClassification", lsg=dict(sparsity_type="norm", **COMMON),
         notes="num_labels=3; decoder_input_ids not passed (BART shifts input_ids); one eos per row as last real token",
         num_labels=3),
    dict(name="qa_pooling", arch="LSGBartForQuestionAnswering", lsg=dict(sparsity_type="pooling", **COMMON),
         notes="decoder_input_ids not passed (BART shifts input_ids)"),
    dict(name="base_bos_pooling", arch="LSGBartModel", lsg=dict(sparsity_type="bos_pooling", **COMMON),
         notes="scale_embedding=True (embed_scale=sqrt(32)); also an inputs_embeds call (embeds_* tensors)",
         config=dict(scale_embedding=True)),
    # expected to crash in the original (odd c = block_size // sparsity_factor > 1)
    dict(S2S("crash_odd_c", sparsity_type="norm", block_size=6, sparse_block_size=6, sparsity_factor=2,
             num_global_tokens=1), t=40, pad_last=10, expect_crash=True),
]


def remove_py(folder):
    for f in glob.glob(os.path.join(folder, "*.py")):
        os.remove(f)


def perturb(model, seed):
    """Make biases / LayerNorm params / final_logits_bias non-trivial (BART init sets them to 0/1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            elif "layernorm" in name or "layer_norm" in name:
                p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1)
        if hasattr(model, "final_logits_bias"):
            model.final_logits_bias.copy_(torch.randn(model.final_logits_bias.shape, generator=g) * 0.1)


def make_inputs(t, pad_last, vocab, seed, eos_last=True):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (2, t), generator=g, dtype=torch.long)
    ids[:, 0] = 0  # <s>
    mask = torch.ones(2, t, dtype=torch.long)
    lengths = [t, t - pad_last]
    for r, L in enumerate(lengths):
        if eos_last:
            ids[r, L - 1] = 2
        ids[r, L:] = 1
        mask[r, L:] = 0
    dec = torch.randint(3, vocab, (2, 7), generator=g, dtype=torch.long)
    dec[:, 0] = 2  # decoder_start_token_id
    return ids, mask, dec, lengths


def c(x):
    return x.detach().contiguous().clone()


def run_model_case(case, out_root):
    name = case["name"]
    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    arch = case["arch"]
    cls = ARCH_CLASSES[arch]
    cfg_kwargs = dict(BASE_CONFIG)
    cfg_kwargs.update(case.get("config", {}))
    if "num_labels" in case:
        cfg_kwargs["num_labels"] = case["num_labels"]

    torch.manual_seed(MODEL_SEED)
    config = LSGBartConfig(**cfg_kwargs, **case["lsg"])
    model = cls(config)
    perturb(model, MODEL_SEED + 1)
    model.eval()
    safe = case.get("safe", True)
    model.save_pretrained(d, safe_serialization=safe)
    remove_py(d)

    # reload from disk with the original class: the recorded outputs are produced by
    # exactly what is stored in the folder
    model, info = cls.from_pretrained(d, output_loading_info=True)
    model.eval()
    assert not info["missing_keys"] and not info["unexpected_keys"], info

    t = case.get("t", 75)
    pad_last = case.get("pad_last", 20)
    ids, mask, dec, lengths = make_inputs(t, pad_last, cfg_kwargs["vocab_size"], INPUT_SEED)
    pass_mask = case.get("pass_mask", True)
    tensors = {"input_ids": ids, "attention_mask": mask}
    calls = []

    def m():
        return mask.clone() if pass_mask else None

    with torch.no_grad():
        if arch == "LSGBartForConditionalGeneration":
            tensors["decoder_input_ids"] = dec
            torch.manual_seed(CALL_SEED)
            out = model(input_ids=ids, attention_mask=m(), decoder_input_ids=dec, output_hidden_states=True,
                        return_dict=True)
            calls.append("forward(input_ids, attention_mask, decoder_input_ids, output_hidden_states=True)")
            tensors["logits"] = c(out.logits)
            tensors["encoder_last_hidden_state"] = c(out.encoder_last_hidden_state)
            if case.get("hidden_states", False):
                for i, hs in enumerate(out.encoder_hidden_states):
                    tensors[f"encoder_hidden_states_{i}"] = c(hs)
            if case.get("generate", True):
                torch.manual_seed(CALL_SEED)
                gen = model.generate(input_ids=ids, attention_mask=m(), **GREEDY_KWARGS, **GEN_OUTPUT_KWARGS)
                tensors["greedy_ids"] = c(gen.sequences)
                tensors["greedy_logits"] = c(torch.stack(gen.logits, dim=0))  # (steps, batch, vocab), raw
                calls.append(f"generate(input_ids, attention_mask, **{GREEDY_KWARGS}, **{GEN_OUTPUT_KWARGS})")
                torch.manual_seed(CALL_SEED)
                gen = model.generate(input_ids=ids, attention_mask=m(), **BEAM_KWARGS, **GEN_OUTPUT_KWARGS)
                tensors["beam_ids"] = c(gen.sequences)
                tensors["beam_sequences_scores"] = c(gen.sequences_scores)
                calls.append(f"generate(input_ids, attention_mask, **{BEAM_KWARGS}, **{GEN_OUTPUT_KWARGS})")
        elif arch == "LSGBartForSequenceClassification":
            torch.manual_seed(CALL_SEED)
            out = model(input_ids=ids, attention_mask=m(), return_dict=True)
            calls.append("forward(input_ids, attention_mask)")
            tensors["logits"] = c(out.logits)
            tensors["encoder_last_hidden_state"] = c(out.encoder_last_hidden_state)
        elif arch == "LSGBartForQuestionAnswering":
            torch.manual_seed(CALL_SEED)
            out = model(input_ids=ids, attention_mask=m(), return_dict=True)
            calls.append("forward(input_ids, attention_mask)")
            tensors["start_logits"] = c(out.start_logits)
            tensors["end_logits"] = c(out.end_logits)
            tensors["encoder_last_hidden_state"] = c(out.encoder_last_hidden_state)
        elif arch == "LSGBartModel":
            tensors["decoder_input_ids"] = dec
            torch.manual_seed(CALL_SEED)
            out = model(input_ids=ids, attention_mask=m(), decoder_input_ids=dec, output_hidden_states=True,
                        return_dict=True)
            calls.append("forward(input_ids, attention_mask, decoder_input_ids, output_hidden_states=True)")
            tensors["last_hidden_state"] = c(out.last_hidden_state)
            tensors["encoder_last_hidden_state"] = c(out.encoder_last_hidden_state)
            for i, hs in enumerate(out.encoder_hidden_states):
                tensors[f"encoder_hidden_states_{i}"] = c(hs)
            g = torch.Generator().manual_seed(INPUT_SEED + 1)
            emb = torch.randn(2, t, cfg_kwargs["d_model"], generator=g)
            tensors["inputs_embeds"] = emb
            torch.manual_seed(CALL_SEED)
            out = model(inputs_embeds=emb, attention_mask=m(), decoder_input_ids=dec, return_dict=True)
            calls.append("forward(inputs_embeds=inputs_embeds, attention_mask, decoder_input_ids) -> embeds_*")
            tensors["embeds_last_hidden_state"] = c(out.last_hidden_state)
            tensors["embeds_encoder_last_hidden_state"] = c(out.encoder_last_hidden_state)

    if not pass_mask:
        del tensors["attention_mask"]
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    for k, v in tensors.items():
        assert v.dtype in (torch.float32, torch.int64), (k, v.dtype)
        assert torch.isfinite(v.float()).all(), k
    save_file(tensors, os.path.join(d, "io.safetensors"))

    lsg = {k: getattr(model.config, k) for k in LSG_KEYS}
    info = {
        "name": name,
        "kind": "model",
        "architecture": arch,
        "lsg": lsg,
        "lsg_overrides": case["lsg"],
        "base_config_overrides": {**{k: v for k, v in case.get("config", {}).items()},
                                  **({"num_labels": case["num_labels"]} if "num_labels" in case else {})},
        "weights_file": "model.safetensors" if safe else "pytorch_model.bin",
        "seed": CALL_SEED,
        "seed_protocol": "torch.manual_seed(seed) immediately before every recorded call (forward/generate), "
                         "each call gets a fresh clone of attention_mask",
        "model_seed": MODEL_SEED,
        "input_seed": INPUT_SEED,
        "t": t,
        "row_lengths": lengths,
        "attention_mask_passed": pass_mask,
        "decoder_input_ids_passed": arch in ("LSGBartForConditionalGeneration", "LSGBartModel"),
        "calls": calls,
        **generation_record(model, tensors, GREEDY_KWARGS, BEAM_KWARGS),
        "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                    for k, v in tensors.items()},
        "recorded_with": RECORDED_WITH,
        **versions(),
        "notes": case.get("notes", ""),
    }
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    return info


# --------------------------------------------------------------------------- conversion

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("e", "r"), ("a", "n")]


def make_tokenizer(folder):
    os.makedirs(folder, exist_ok=True)
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(33, 127):  # printable ASCII map to themselves in GPT-2 byte-level encoding
        vocab[chr(b)] = len(vocab)
    vocab["Ġ"] = len(vocab)  # space
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    vocab["<mask>"] = len(vocab)
    tmp = os.path.join(folder, "_tok_tmp")
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(tmp, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in MERGES))
    tok = BartTokenizerFast(vocab_file=os.path.join(tmp, "vocab.json"), merges_file=os.path.join(tmp, "merges.txt"))
    shutil.rmtree(tmp)
    assert tok.bos_token_id == 0 and tok.pad_token_id == 1 and tok.eos_token_id == 2 and tok.unk_token_id == 3
    assert tok.mask_token_id == len(vocab) - 1
    return tok


def make_source(folder, max_pos, tok, seed):
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(seed)
    cfg = BartConfig(
        vocab_size=len(tok), d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=max_pos,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, decoder_start_token_id=2, forced_bos_token_id=None, forced_eos_token_id=None,
        init_std=0.2, architectures=["BartForConditionalGeneration"],
    )
    model = BartForConditionalGeneration(cfg)
    perturb(model, seed + 1)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    remove_py(folder)
    return {"name": os.path.basename(folder), "kind": "convert_source", "architecture": "BartForConditionalGeneration",
            "max_position_embeddings": max_pos, "model_seed": seed}


def run_original_converter(root, src, d, max_len, arch, model_kwargs, cwd_label):
    """Run the original `LSGConverter` on `src` (a path relative to `root`, so config.json's `_name_or_path` is
    deterministic) after `torch.manual_seed(CONVERT_SEED)`, save the result to `d` without the original's .py
    files; returns (model in eval mode, tokenizer, the convert.json entries recording the call)."""
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(CONVERT_SEED)  # the converter's own `seed` argument is ignored by lsg-converter 0.1.9
    converter = LSGConverter(max_sequence_length=max_len)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        model, tokenizer = converter.convert_from_pretrained(src, architecture=arch, **model_kwargs)
    finally:
        os.chdir(cwd)
    model.eval()
    model.save_pretrained(d, safe_serialization=True)
    tokenizer.save_pretrained(d)
    remove_py(d)
    call = {
        "converter_init": {"max_sequence_length": max_len, "random_global_init": False,
                           "global_positional_stride": 64, "keep_first_global_token": False, "resize_lsg": False,
                           "use_token_ids": True, "seed": 123},
        "convert_from_pretrained": {"model_name_or_path": src, "cwd": cwd_label, "architecture": arch,
                                    "model_kwargs": model_kwargs},
        "torch_manual_seed_before_conversion": CONVERT_SEED,
    }
    return model, tokenizer, call


def convert_case(out_root, src, name, max_len, arch=None, model_kwargs=None, record_io=None, notes=""):
    d = os.path.join(out_root, name)
    model_kwargs = model_kwargs or {}
    model, tokenizer, call = run_original_converter(out_root, src, d, max_len, arch, model_kwargs, "<fixtures dir>")

    info = {
        "name": name,
        "kind": "convert",
        "source": src,
        **call,
        "architecture": type(model).__name__,
        "lsg": {k: getattr(model.config, k) for k in LSG_KEYS},
        "state_shapes": {k: list(v.shape) for k, v in model.state_dict().items()
                         if "embed_positions" in k or "global_embeddings" in k},
        **versions(),
        "notes": notes,
    }

    if record_io is not None:
        t, pad_last = record_io
        ids, mask, dec, lengths = make_inputs(t, pad_last, model.config.vocab_size - 1, INPUT_SEED)  # no <mask>
        tensors = {"input_ids": ids, "attention_mask": mask}
        with torch.no_grad():
            torch.manual_seed(CALL_SEED)
            if info["architecture"] == "LSGBartForSequenceClassification":
                out = model(input_ids=ids, attention_mask=mask.clone(), return_dict=True)
                info["calls"] = ["forward(input_ids, attention_mask)"]
            else:
                tensors["decoder_input_ids"] = dec
                out = model(input_ids=ids, attention_mask=mask.clone(), decoder_input_ids=dec, return_dict=True)
                info["calls"] = ["forward(input_ids, attention_mask, decoder_input_ids)"]
        tensors["logits"] = c(out.logits)
        tensors["encoder_last_hidden_state"] = c(out.encoder_last_hidden_state)
        save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(d, "io.safetensors"))
        info["seed"] = CALL_SEED
        info["row_lengths"] = lengths
        info["tensors"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                           for k, v in tensors.items()}
        info["notes"] = (notes + " io.safetensors: forward of the converted model (seeded like model cases; "
                         "heads missing from the source are randomly initialised by the original)").strip()

    with open(os.path.join(d, "convert.json"), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out_root = args.out
    if os.path.isdir(out_root):
        shutil.rmtree(out_root)
    os.makedirs(out_root)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()

    index = {"generated_by": "tests/compat/make_fixtures.py", **versions(), "cases": [], "skipped": []}

    for case in CASES:
        print("model case", case["name"], flush=True)
        try:
            info = run_model_case(case, out_root)
        except Exception as e:  # noqa: BLE001
            shutil.rmtree(os.path.join(out_root, case["name"]), ignore_errors=True)
            msg = f"{type(e).__name__}: {e}".strip()
            tb = traceback.format_exc().strip().splitlines()
            print("  crashed:", msg, flush=True)
            index["skipped"].append({"name": case["name"], "architecture": case["arch"], "lsg": case["lsg"],
                                     "expected_crash": bool(case.get("expect_crash")), "error": msg,
                                     "where": [l.strip() for l in tb if l.strip().startswith("File")][-1:]})
            continue
        assert not case.get("expect_crash"), f"{case['name']} was expected to crash"
        index["cases"].append({"name": info["name"], "kind": "model", "architecture": info["architecture"],
                               "lsg": info["lsg"], "weights_file": info["weights_file"],
                               "tensors": sorted(info["tensors"]), "notes": info["notes"]})

    tok = make_tokenizer(os.path.join(out_root, "convert_src_1024"))
    for src_name, max_pos in (("convert_src_1024", 1024), ("convert_src_64", 64)):
        print("convert source", src_name, flush=True)
        info = make_source(os.path.join(out_root, src_name), max_pos, tok, MODEL_SEED + 10)
        index["cases"].append({**info, "kind": "convert_source", "tensors": []})

    conversions = [
        dict(src="convert_src_1024", name="convert_out_4096", max_len=4096, record_io=(300, 40),
             notes="defaults (block 128, sbs 128, sf 2, g 1, norm); io: t=300 > 2*128 -> sparse path, padded to 384"),
        dict(src="convert_src_1024", name="convert_out_2048_cls_g4", max_len=2048,
             arch="BartForSequenceClassification", model_kwargs={"num_global_tokens": 4}, record_io=(300, 40),
             notes="classification head is missing in the source: randomly initialised (after torch.manual_seed)"),
        dict(src="convert_src_64", name="convert_out_64_to_512", max_len=512,
             notes="source n=64 < 512 positions: 448 random rows appended (global RNG) before the global "
                   "position rule; only global rows k with k % 8 == 0 are reproducible (source position k // 8)"),
        dict(src="convert_src_64", name="convert_out_64_to_130_short", max_len=130,
             notes="tiling short: copies = 130 // 66 + 1 = 2 -> 128 position rows + 2 offset rows = 130 < 132; "
                   "config says max_position_embeddings=130 but tables have 130 rows (not reloadable)"),
    ]
    for conv in conversions:
        print("convert", conv["name"], flush=True)
        try:
            info = convert_case(out_root, **conv)
        except Exception as e:  # noqa: BLE001
            shutil.rmtree(os.path.join(out_root, conv["name"]), ignore_errors=True)
            msg = f"{type(e).__name__}: {e}".strip()
            print("  crashed:", msg, flush=True)
            index["skipped"].append({"name": conv["name"], "kind": "convert", "error": msg})
            continue
        index["cases"].append({"name": info["name"], "kind": "convert", "source": info["source"],
                               "architecture": info["architecture"], "lsg": info["lsg"],
                               "tensors": sorted(info.get("tensors", {})), "notes": info["notes"]})

    with open(os.path.join(out_root, "index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
    with open(os.path.join(out_root, "README.md"), "w") as f:
        f.write(README.format(tv=transformers.__version__, torch=torch.__version__,
                              n=sum(1 for x in index["cases"] if x["kind"] == "model"),
                              skipped=", ".join(s["name"] for s in index["skipped"]) or "none"))
    print("done:", len(index["cases"]), "cases,", len(index["skipped"]), "skipped")


README = """# Golden fixtures from the original LSG-BART

Numerical outputs, configs and tiny random weights recorded from the ORIGINAL
LSG-BART implementation (PyPI `lsg-converter==0.1.9`, transformers {tv},
torch {torch}, CPU, fp32). No code of the original is stored here (the `.py`
files that its `save_pretrained` copies are deleted).

Regenerate (rewrites this folder; deterministic):

    python3 -m venv /work/venv-orig
    /work/venv-orig/bin/pip install torch==2.13.0 transformers==4.44.2 lsg-converter==0.1.9
    /work/venv-orig/bin/python tests/compat/make_fixtures.py --out tests/fixtures/original

Layout (see `index.json` for the full list, `case.json`/`convert.json` per folder):

* `<model case>/` ({n} cases): `config.json` exactly as the original wrote it
  (`model_type` "bart", `base_model_prefix` "lsg", `auto_map`), weights
  (`model.safetensors`, one case `pytorch_model.bin`), `generation_config.json`,
  `io.safetensors` (inputs + outputs) and `case.json`. Tiny BART: vocab 96,
  d_model 32, 2+2 layers, 4 heads, ffn 64, init_std 0.2, random biases/LayerNorms,
  inputs batch 2 x 75 (row 1 right-padded by 20) unless noted.
* `convert_src_*`: tiny plain BART + byte-level BPE tokenizer (source checkpoints).
* `convert_out_*`: output of `LSGConverter(...).convert_from_pretrained(...)` on them,
  `convert.json` records the call.

Seeding: before every recorded call (forward / generate) `torch.manual_seed(seed)`
with `seed` from case.json; the original's `lsh` selector draws
`torch.randn(1, h, 1, dh, out // 2)` (`lsh_num_pre_rounds` + 1 times per encoder
layer, in layer order) at every encoder forward. Each call gets a fresh clone of
the attention mask (`mask_first_token` mutates it in place); the stored
`attention_mask` is the unmutated one.

Tensors: `logits` etc. as returned by the original; `encoder_hidden_states_<i>` (some
seq2seq cases) are the untrimmed encoder states (n, g + tp, D), the last one as
the original returns it (aliased with the output, so it shows the
`pool_with_global` overwrite); `greedy_logits` = raw per-step logits of greedy
`generate` (steps, n, V); `beam_sequences_scores` from beam search. All model
cases with the same architecture and base config share byte-identical weights
(same seed; LSG keys add no parameters), so git stores them once.

Recorded with `torch.set_num_threads(1)`; rerunning the original with another
thread count changes logits by ~1e-6 (compare with a tolerance, e.g. 1e-5).

Skipped (crashed in the original, listed in index.json): {skipped}.
"""

if __name__ == "__main__":
    sys.exit(main())
