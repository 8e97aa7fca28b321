"""Record golden fixtures from the ORIGINAL LSG implementation for the non-BART families.

Companion of ``make_fixtures.py`` (the LSG-BART recorder, whose helpers are
imported here).  The original is the PyPI package ``lsg-converter==0.1.9`` on
``transformers==4.44.2``; this script only *uses* it, nothing of it is copied
into the repository (the ``.py`` files its ``save_pretrained`` copies next to
the weights are deleted).

Families: encoder-only bert, roberta, xlm_roberta, camembert, distilbert,
albert, electra; encoder-decoder pegasus, mbart and barthez (BARThez
checkpoints say ``model_type: mbart``, so they are recorded through the mBART
classes with a BARThez-like config and tokenizer).

Run (from the repo root; rewrites the family folders and index.json of the output
folder, keeping its hand-written README.md; ``--family`` rewrites only those families):

    /work/venv-orig/bin/python tests/compat/make_family_fixtures.py --out tests/fixtures/original_families
    /work/venv-orig/bin/python tests/compat/make_family_fixtures.py --out tests/fixtures/original_families --family roberta

Seeding protocol (as for BART): ``torch.manual_seed(case["seed"])`` immediately
before every recorded call (forward / generate), a fresh clone of the attention
mask for every call, the stored mask is the unmutated one.  Everything runs on
CPU, fp32, one thread, deterministic algorithms.
"""

import argparse
import warnings
import importlib
import json
import os
import shutil
import sys
import traceback

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import (  # noqa: E402
    RECORDED_WITH, c, generation_record, make_inputs, remove_py, run_original_converter, versions,
)

import transformers  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers, decoders  # noqa: E402


MODEL_SEED = 1234  # weights
INPUT_SEED = 4321  # inputs
CALL_SEED = 777  # torch.manual_seed before every recorded call

LSG_KEYS = ["adaptive", "block_size", "lsh_num_pre_rounds", "mask_first_token", "num_global_tokens",
            "pool_with_global", "sparse_block_size", "sparsity_factor", "sparsity_type"]
S2S_LSG_KEYS = sorted(LSG_KEYS + ["pass_global_tokens_to_decoder"])

COMMON = dict(block_size=16, sparse_block_size=16, sparsity_factor=2, num_global_tokens=2)

GREEDY_KWARGS = dict(max_new_tokens=6, num_beams=1, do_sample=False)
BEAM_KWARGS = dict(max_new_tokens=6, num_beams=2, do_sample=False, early_stopping=True, num_return_sequences=1)
GEN_OUTPUT_KWARGS = dict(return_dict_in_generate=True, output_logits=True, output_scores=True)

# --------------------------------------------------------------------------- families

_BERTLIKE = dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32,
                 hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                 initializer_range=0.2, pad_token_id=1, bos_token_id=0, eos_token_id=2, classifier_dropout=0.0)

_S2S = dict(vocab_size=64, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128,
            dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, classifier_dropout=0.0,
            encoder_layerdrop=0.0, decoder_layerdrop=0.0, activation_function="gelu", init_std=0.2,
            forced_bos_token_id=None, forced_eos_token_id=None)

FAMILIES = {
    "bert": dict(module="bert", prefix="LSGBert", config="LSGBertConfig", base_attr="bert", s2s=False,
                 cfg=dict(_BERTLIKE, max_position_embeddings=128, type_vocab_size=2),
                 heads=["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                        "ForQuestionAnswering", "ForMultipleChoice"],
                 plain=("BertConfig", "BertForMaskedLM"), tokenizer="wordpiece", tok_class="BertTokenizerFast",
                 src_max_pos=512, head_convert="BertForSequenceClassification"),
    "roberta": dict(module="roberta", prefix="LSGRoberta", config="LSGRobertaConfig", base_attr="roberta", s2s=False,
                    cfg=dict(_BERTLIKE, max_position_embeddings=130, type_vocab_size=1),
                    heads=["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                           "ForQuestionAnswering", "ForMultipleChoice"],
                    plain=("RobertaConfig", "RobertaForMaskedLM"), tokenizer="bpe", tok_class="RobertaTokenizerFast",
                    src_max_pos=514),
    "xlm_roberta": dict(module="xlm_roberta", prefix="LSGXLMRoberta", config="LSGXLMRobertaConfig",
                        base_attr="roberta", s2s=False, cfg=dict(_BERTLIKE, max_position_embeddings=130,
                                                                 type_vocab_size=1),
                        heads=["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                               "ForQuestionAnswering", "ForMultipleChoice"],
                        plain=("XLMRobertaConfig", "XLMRobertaForMaskedLM"), tokenizer="unigram",
                        tok_class="XLMRobertaTokenizerFast", src_max_pos=514),
    "camembert": dict(module="camembert", prefix="LSGCamembert", config="LSGCamembertConfig", base_attr="roberta",
                      s2s=False, cfg=dict(_BERTLIKE, max_position_embeddings=130, type_vocab_size=1),
                      heads=["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                             "ForQuestionAnswering", "ForMultipleChoice"],
                      plain=("CamembertConfig", "CamembertForMaskedLM"), tokenizer="unigram",
                      tok_class="CamembertTokenizerFast", src_max_pos=514),
    "distilbert": dict(module="distilbert", prefix="LSGDistilBert", config="LSGDistilBertConfig",
                       base_attr="distilbert", s2s=False,
                       cfg=dict(vocab_size=64, dim=16, n_layers=2, n_heads=4, hidden_dim=32, activation="gelu",
                                max_position_embeddings=128, dropout=0.0, attention_dropout=0.0, qa_dropout=0.0,
                                seq_classif_dropout=0.0, initializer_range=0.2, pad_token_id=1,
                                sinusoidal_pos_embds=False),
                       heads=["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                              "ForQuestionAnswering", "ForMultipleChoice"],
                       plain=("DistilBertConfig", "DistilBertForMaskedLM"), tokenizer="wordpiece",
                       tok_class="DistilBertTokenizerFast", src_max_pos=512, no_inputs_embeds=True),
    "albert": dict(module="albert", prefix="LSGAlbert", config="LSGAlbertConfig", base_attr="albert", s2s=False,
                   cfg=dict(vocab_size=64, embedding_size=8, hidden_size=16, num_hidden_layers=2,
                            num_hidden_groups=1, inner_group_num=1, num_attention_heads=4, intermediate_size=32,
                            hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                            classifier_dropout_prob=0.0, max_position_embeddings=128, type_vocab_size=2,
                            initializer_range=0.2, pad_token_id=1, bos_token_id=0, eos_token_id=2),
                   heads=["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                          "ForQuestionAnswering", "ForMultipleChoice"],
                   plain=("AlbertConfig", "AlbertForMaskedLM"), tokenizer="unigram", tok_class="AlbertTokenizerFast",
                   src_max_pos=512),
    "electra": dict(module="electra", prefix="LSGElectra", config="LSGElectraConfig", base_attr="electra", s2s=False,
                    cfg=dict(_BERTLIKE, embedding_size=8, max_position_embeddings=128, type_vocab_size=2),
                    heads=["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                           "ForQuestionAnswering", "ForMultipleChoice"],
                    plain=("ElectraConfig", "ElectraForMaskedLM"), tokenizer="wordpiece",
                    tok_class="ElectraTokenizerFast", src_max_pos=512),
    "pegasus": dict(module="pegasus", prefix="LSGPegasus", config="LSGPegasusConfig", base_attr="model", s2s=True,
                    cfg=dict(_S2S, scale_embedding=True, pad_token_id=0, eos_token_id=1, bos_token_id=0,
                             decoder_start_token_id=0),
                    heads=["ForConditionalGeneration", "Model"],
                    plain=("PegasusConfig", "PegasusForConditionalGeneration"), tokenizer="unigram_pegasus",
                    tok_class="PegasusTokenizerFast", src_max_pos=512,
                    specials=dict(bos=None, pad=0, eos=1, dec_start=0, low=5)),
    "mbart": dict(module="mbart", prefix="LSGMBart", config="LSGMBartConfig", base_attr="model", s2s=True,
                  cfg=dict(_S2S, scale_embedding=True, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                           decoder_start_token_id=2),
                  heads=["ForConditionalGeneration", "Model", "ForSequenceClassification", "ForQuestionAnswering"],
                  plain=("MBartConfig", "MBartForConditionalGeneration"), tokenizer="unigram",
                  tok_class="MBartTokenizerFast", src_max_pos=512),
    "barthez": dict(module="mbart", prefix="LSGMBart", config="LSGMBartConfig", base_attr="model", s2s=True,
                    cfg=dict(_S2S, vocab_size=72, scale_embedding=False, pad_token_id=1, bos_token_id=0,
                             eos_token_id=2, decoder_start_token_id=2, tokenizer_class="BarthezTokenizer"),
                    heads=["ForConditionalGeneration"],
                    plain=("MBartConfig", "MBartForConditionalGeneration"), tokenizer="unigram",
                    tok_class="BarthezTokenizerFast", src_max_pos=512),
}


def family_cases(fam):
    """The model cases of one family (list of dicts)."""
    spec = FAMILIES[fam]
    P = spec["prefix"]
    cases = []
    if not spec["s2s"]:
        def E(name, head, notes="", **kw):
            lsg = kw.pop("lsg")
            return dict(name=name, arch=P + head, lsg=lsg, notes=notes, **kw)
        cases += [
            E("base_none", "Model", lsg=dict(sparsity_type="none", **COMMON)),
            E("base_norm", "Model", lsg=dict(sparsity_type="norm", **COMMON), hidden_states=True,
              embeds=not spec.get("no_inputs_embeds"),
              notes="also an inputs_embeds call (embeds_* tensors)" if not spec.get("no_inputs_embeds")
              else "no inputs_embeds call: the original crashes on inputs_embeds for this family"),
            E("mlm_pooling", "ForMaskedLM", lsg=dict(sparsity_type="pooling", **COMMON)),
            E("mlm_lsh", "ForMaskedLM", lsg=dict(sparsity_type="lsh", lsh_num_pre_rounds=1, **COMMON)),
            E("mlm_stride", "ForMaskedLM", lsg=dict(sparsity_type="stride", **COMMON)),
            E("mlm_block_stride", "ForMaskedLM", lsg=dict(sparsity_type="block_stride", **COMMON)),
            E("mlm_bos_pooling", "ForMaskedLM", lsg=dict(sparsity_type="bos_pooling", **COMMON)),
            E("mlm_norm_maskfirst", "ForMaskedLM", lsg=dict(sparsity_type="norm", mask_first_token=True, **COMMON),
              notes="mask_first_token=True (the encoder masks token 0 in its own extended mask; "
                    "the caller's attention_mask is not mutated)"),
            E("mlm_pooling_g1_nopool", "ForMaskedLM",
              lsg=dict(sparsity_type="pooling", block_size=16, sparse_block_size=16, sparsity_factor=4,
                       num_global_tokens=1, pool_with_global=False)),
            E("cls_norm", "ForSequenceClassification", lsg=dict(sparsity_type="norm", **COMMON), num_labels=3,
              notes="num_labels=3"),
            E("tok_pooling", "ForTokenClassification", lsg=dict(sparsity_type="pooling", **COMMON), num_labels=5,
              notes="num_labels=5"),
            E("qa_lsh", "ForQuestionAnswering", lsg=dict(sparsity_type="lsh", **COMMON)),
            E("mc_stride", "ForMultipleChoice", lsg=dict(sparsity_type="stride", **COMMON),
              notes="inputs viewed as (1, 2 choices, 75)"),
        ]
        return [x for x in cases if x["arch"][len(P):] in spec["heads"]]

    def S(name, head="ForConditionalGeneration", notes="", **kw):
        lsg = kw.pop("lsg")
        return dict(name=name, arch=P + head, lsg=lsg, notes=notes, **kw)
    if fam == "barthez":
        return [
            S("s2s_norm", lsg=dict(sparsity_type="norm", **COMMON), hidden_states=True,
              notes="BARThez-like: model_type mbart, tokenizer_class BarthezTokenizer, vocab 72, "
                    "scale_embedding=False; run with the original's mBART classes"),
            S("s2s_lsh_maskfirst", lsg=dict(sparsity_type="lsh", mask_first_token=True, **COMMON),
              notes="BARThez-like (see s2s_norm)"),
        ]
    cases = [
        S("s2s_none", lsg=dict(sparsity_type="none", **COMMON)),
        S("s2s_norm", lsg=dict(sparsity_type="norm", **COMMON), hidden_states=True),
        S("s2s_pooling", lsg=dict(sparsity_type="pooling", **COMMON)),
        S("s2s_lsh", lsg=dict(sparsity_type="lsh", lsh_num_pre_rounds=1, **COMMON), hidden_states=True),
        S("s2s_stride", lsg=dict(sparsity_type="stride", **COMMON)),
        S("s2s_block_stride", lsg=dict(sparsity_type="block_stride", **COMMON)),
        S("s2s_bos_pooling", lsg=dict(sparsity_type="bos_pooling", **COMMON)),
        S("s2s_norm_maskfirst", lsg=dict(sparsity_type="norm", mask_first_token=True, **COMMON),
          notes="mask_first_token=True: the original zeroes column 0 of the CALLER's attention_mask in place; "
                "io holds the unmutated mask, each call got a fresh clone"),
        S("s2s_pooling_nopass_g1", lsg=dict(sparsity_type="pooling", pass_global_tokens_to_decoder=False,
                                            pool_with_global=False, block_size=16, sparse_block_size=16,
                                            sparsity_factor=4, num_global_tokens=1)),
        S("base_norm", head="Model", lsg=dict(sparsity_type="norm", **COMMON), hidden_states=True),
    ]
    if "ForSequenceClassification" in spec["heads"]:
        cases.append(S("cls_norm", head="ForSequenceClassification", lsg=dict(sparsity_type="norm", **COMMON),
                       num_labels=3, notes="num_labels=3; decoder_input_ids not passed (shifted input_ids); "
                                           "one eos per row as last real token"))
    if "ForQuestionAnswering" in spec["heads"]:
        cases.append(S("qa_pooling", head="ForQuestionAnswering", lsg=dict(sparsity_type="pooling", **COMMON),
                       notes="decoder_input_ids not passed (shifted input_ids)"))
    return cases


def lsg_module(fam):
    m = FAMILIES[fam]["module"]
    return importlib.import_module(f"lsg_converter.{m}.modeling_lsg_{m}")


# --------------------------------------------------------------------------- helpers

def perturb_all(model, seed):
    """Like make_fixtures.perturb, but also matches BERT-style `LayerNorm` / `*_layer_norm` names."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            low = name.lower()
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            elif "layernorm" in low or "layer_norm" in low:
                p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1)
        if hasattr(model, "final_logits_bias"):
            model.final_logits_bias.copy_(torch.randn(model.final_logits_bias.shape, generator=g) * 0.1)


def family_inputs(fam, t, pad_last, vocab, seed):
    """make_fixtures.make_inputs (ids 0 = bos, 1 = pad, 2 = eos) or, for families with other special ids,
    the same random draws with the family's special ids."""
    sp = FAMILIES[fam].get("specials")
    if sp is None:
        return make_inputs(t, pad_last, vocab, seed)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(sp["low"], vocab, (2, t), generator=g, dtype=torch.long)
    if sp["bos"] is not None:
        ids[:, 0] = sp["bos"]
    mask = torch.ones(2, t, dtype=torch.long)
    lengths = [t, t - pad_last]
    for r, L in enumerate(lengths):
        ids[r, L - 1] = sp["eos"]
        ids[r, L:] = sp["pad"]
        mask[r, L:] = 0
    dec = torch.randint(sp["low"], vocab, (2, 7), generator=g, dtype=torch.long)
    dec[:, 0] = sp["dec_start"]
    return ids, mask, dec, lengths


def eager_workaround(model):
    """The original's LSG base models skip BertModel.__init__, so transformers>=4.41's forward misses
    `self.attn_implementation`; "eager" reproduces transformers 4.40 (the original's LSG attention is used
    in any case). Returns the names of the patched modules."""
    patched = []
    # the attribute is read by transformers' own base-model forward (found through the MRO)
    for name, m in model.named_modules():
        for klass in type(m).__mro__:
            f = vars(klass).get("forward")
            if f is not None and "attn_implementation" in f.__code__.co_names and "attn_implementation" not in vars(m):
                m.attn_implementation = "eager"
                patched.append(name or "<root>")
                break
    return sorted(set(patched))


def state_facts(model):
    sd = model.state_dict()
    return {k: list(v.shape) for k, v in sd.items()
            if "position" in k or "global_embeddings" in k or "token_type" in k}


def tensor_meta(tensors):
    return {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")} for k, v in tensors.items()}


def save_io(tensors, path):
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    for k, v in tensors.items():
        assert v.dtype in (torch.float32, torch.int64), (k, v.dtype)
        assert torch.isfinite(v.float()).all(), k
    save_file(tensors, path)
    return tensors


# --------------------------------------------------------------------------- recorded calls

def run_calls(fam, case, model, io, mask_passed=True):
    """Run the recorded calls of one case on `model`; returns ({name: output tensor}, [call descriptions]).
    `io` holds the inputs (input_ids, attention_mask, decoder_input_ids, inputs_embeds)."""
    arch = case["arch"] if "arch" in case else case["architecture"]
    spec = FAMILIES[fam]
    seed = CALL_SEED
    ids, mask0 = io["input_ids"], io["attention_mask"]

    def m():
        return mask0.clone() if mask_passed else None

    got, calls = {}, []
    hs = case.get("hidden_states", False)
    with torch.no_grad():
        if not spec["s2s"]:
            head = arch[len(spec["prefix"]):]
            x_ids, x_mask = ids, m
            if head == "ForMultipleChoice":
                x_ids = ids.view(1, *ids.shape)

                def x_mask():
                    return mask0.clone().view(1, *mask0.shape)
            torch.manual_seed(seed)
            out = model(input_ids=x_ids, attention_mask=x_mask(), output_hidden_states=hs, return_dict=True)
            calls.append("forward(input_ids, attention_mask" + (", output_hidden_states=True)" if hs else ")")
                         + (" with input_ids/attention_mask viewed as (1, 2, t)" if head == "ForMultipleChoice"
                            else ""))
            if head == "Model":
                got["last_hidden_state"] = out.last_hidden_state
                if getattr(out, "pooler_output", None) is not None:
                    got["pooler_output"] = out.pooler_output
            elif head == "ForQuestionAnswering":
                got["start_logits"], got["end_logits"] = out.start_logits, out.end_logits
            else:
                got["logits"] = out.logits
            if hs:
                for i, h in enumerate(out.hidden_states):
                    got[f"hidden_states_{i}"] = h
            if "inputs_embeds" in io:
                torch.manual_seed(seed)
                out = model(inputs_embeds=io["inputs_embeds"], attention_mask=m(), return_dict=True)
                calls.append("forward(inputs_embeds=inputs_embeds, attention_mask) -> embeds_*")
                got["embeds_last_hidden_state"] = out.last_hidden_state
                if getattr(out, "pooler_output", None) is not None:
                    got["embeds_pooler_output"] = out.pooler_output
            return got, calls

        head = arch[len(spec["prefix"]):]
        dec = io.get("decoder_input_ids")
        if head in ("ForConditionalGeneration", "Model"):
            torch.manual_seed(seed)
            out = model(input_ids=ids, attention_mask=m(), decoder_input_ids=dec, output_hidden_states=True,
                        return_dict=True)
            calls.append("forward(input_ids, attention_mask, decoder_input_ids, output_hidden_states=True)")
            if head == "Model":
                got["last_hidden_state"] = out.last_hidden_state
            else:
                got["logits"] = out.logits
            got["encoder_last_hidden_state"] = out.encoder_last_hidden_state
            if hs:
                for i, h in enumerate(out.encoder_hidden_states):
                    got[f"encoder_hidden_states_{i}"] = h
            if head == "ForConditionalGeneration" and case.get("generate", True):
                torch.manual_seed(seed)
                gen = model.generate(input_ids=ids, attention_mask=m(), **GREEDY_KWARGS, **GEN_OUTPUT_KWARGS)
                got["greedy_ids"] = gen.sequences
                got["greedy_logits"] = torch.stack(gen.logits, dim=0)
                calls.append(f"generate(input_ids, attention_mask, **{GREEDY_KWARGS}, **{GEN_OUTPUT_KWARGS})")
                torch.manual_seed(seed)
                gen = model.generate(input_ids=ids, attention_mask=m(), **BEAM_KWARGS, **GEN_OUTPUT_KWARGS)
                got["beam_ids"] = gen.sequences
                got["beam_sequences_scores"] = gen.sequences_scores
                calls.append(f"generate(input_ids, attention_mask, **{BEAM_KWARGS}, **{GEN_OUTPUT_KWARGS})")
        elif head == "ForSequenceClassification":
            torch.manual_seed(seed)
            out = model(input_ids=ids, attention_mask=m(), return_dict=True)
            calls.append("forward(input_ids, attention_mask)")
            got["logits"] = out.logits
            got["encoder_last_hidden_state"] = out.encoder_last_hidden_state
        elif head == "ForQuestionAnswering":
            torch.manual_seed(seed)
            out = model(input_ids=ids, attention_mask=m(), return_dict=True)
            calls.append("forward(input_ids, attention_mask)")
            got["start_logits"], got["end_logits"] = out.start_logits, out.end_logits
            got["encoder_last_hidden_state"] = out.encoder_last_hidden_state
        else:
            raise ValueError(arch)
    return got, calls


def run_model_case(fam, case, fam_root):
    spec = FAMILIES[fam]
    mod = lsg_module(fam)
    d = os.path.join(fam_root, case["name"])
    os.makedirs(d, exist_ok=True)
    cls = getattr(mod, case["arch"])
    cfg_kwargs = dict(spec["cfg"])
    if "num_labels" in case:
        cfg_kwargs["num_labels"] = case["num_labels"]
    torch.manual_seed(MODEL_SEED)
    config = getattr(mod, spec["config"])(**cfg_kwargs, **case["lsg"])
    model = cls(config)
    perturb_all(model, MODEL_SEED + 1)
    model.eval()
    model.save_pretrained(d, safe_serialization=True)
    remove_py(d)

    model, info = cls.from_pretrained(d, output_loading_info=True)
    model.eval()
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    patched = eager_workaround(model)

    t, pad_last = case.get("t", 75), case.get("pad_last", 20)
    vocab = cfg_kwargs["vocab_size"]
    ids, mask, dec, lengths = family_inputs(fam, t, pad_last, vocab, INPUT_SEED)
    io = {"input_ids": ids, "attention_mask": mask}
    if spec["s2s"] and case["arch"].endswith(("ForConditionalGeneration", "Model")):
        io["decoder_input_ids"] = dec
    if case.get("embeds"):
        emb_dim = cfg_kwargs.get("embedding_size", cfg_kwargs.get("hidden_size", cfg_kwargs.get("dim")))
        g = torch.Generator().manual_seed(INPUT_SEED + 1)
        io["inputs_embeds"] = torch.randn(2, t, emb_dim, generator=g)
    mask_before = mask.clone()
    got, calls = run_calls(fam, case, model, io)
    assert torch.equal(mask, mask_before)
    tensors = save_io({**io, **{k: c(v) for k, v in got.items()}}, os.path.join(d, "io.safetensors"))

    keys = S2S_LSG_KEYS if spec["s2s"] else LSG_KEYS
    cfg_json = json.load(open(os.path.join(d, "config.json")))
    info = {
        "name": case["name"],
        "family": fam,
        "base_model_type": cfg_json["model_type"],
        "kind": "model",
        "architecture": case["arch"],
        "lsg": {k: getattr(model.config, k) for k in keys},
        "lsg_overrides": case["lsg"],
        "base_config": cfg_kwargs,
        "base_config_overrides": {"num_labels": case["num_labels"]} if "num_labels" in case else {},
        "weights_file": "model.safetensors",
        "seed": CALL_SEED,
        "seed_protocol": "torch.manual_seed(seed) immediately before every recorded call (forward/generate), "
                         "each call gets a fresh clone of attention_mask",
        "model_seed": MODEL_SEED,
        "input_seed": INPUT_SEED,
        "t": t,
        "row_lengths": lengths,
        "attention_mask_passed": True,
        "decoder_input_ids_passed": "decoder_input_ids" in io,
        "calls": calls,
        "attn_implementation_workaround": patched,
        **generation_record(model, tensors, GREEDY_KWARGS, BEAM_KWARGS),
        "state_shapes": state_facts(model),
        "tensors": tensor_meta(tensors),
        "recorded_with": RECORDED_WITH,
        **versions(),
        "notes": case.get("notes", ""),
    }
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    return info


def replay_with_original(fam, folder):
    """Reload a recorded folder with the ORIGINAL class and replay its calls; {tensor: max-abs diff}."""
    case = json.load(open(os.path.join(folder, "case.json")))
    mod = lsg_module(fam)
    model = getattr(mod, case["architecture"]).from_pretrained(folder).eval()
    eager_workaround(model)
    io = load_file(os.path.join(folder, "io.safetensors"))
    inputs = {k: io[k] for k in ("input_ids", "attention_mask", "decoder_input_ids", "inputs_embeds") if k in io}
    got, _ = run_calls(fam, {**case, "hidden_states": any(k.startswith(("hidden_states_", "encoder_hidden_states_"))
                                                          for k in io)}, model, inputs)
    diffs = {}
    for k in sorted(set(io) - set(inputs)):
        diffs[k] = 0.0 if torch.equal(got[k], io[k]) else float((got[k].float() - io[k].float()).abs().max())
    return diffs


# --------------------------------------------------------------------------- conversion

def build_tokenizer(fam, folder):
    """A tiny tokenizer of the family's kind, built locally with `tokenizers` (no downloads).
    Returns the saved tokenizer (reloaded) and its special ids."""
    spec = FAMILIES[fam]
    os.makedirs(folder, exist_ok=True)
    cls = getattr(transformers, spec["tok_class"])
    chars = [chr(b) for b in range(97, 123)] + [chr(b) for b in range(48, 58)]  # a-z 0-9
    kind = spec["tokenizer"]
    if kind == "wordpiece":
        vocab = ["[CLS]", "[PAD]", "[SEP]", "[UNK]"] + chars + ["##" + ch for ch in chars[:26]] + ["[MASK]"]
        tmp = os.path.join(folder, "_vocab.txt")
        open(tmp, "w").write("\n".join(vocab) + "\n")
        tok = cls(vocab_file=tmp, do_lower_case=True)
        os.remove(tmp)
    elif kind == "bpe":
        specials = ["<s>", "<pad>", "</s>", "<unk>"]
        merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("e", "r"), ("a", "n")]
        vocab = {s: i for i, s in enumerate(specials)}
        for b in range(33, 127):
            vocab[chr(b)] = len(vocab)
        vocab["Ġ"] = len(vocab)
        for a, b in merges:
            vocab[a + b] = len(vocab)
        vocab["<mask>"] = len(vocab)
        tmp = os.path.join(folder, "_tmp")
        os.makedirs(tmp, exist_ok=True)
        json.dump(vocab, open(os.path.join(tmp, "vocab.json"), "w"))
        open(os.path.join(tmp, "merges.txt"), "w").write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
        tok = cls(vocab_file=os.path.join(tmp, "vocab.json"), merges_file=os.path.join(tmp, "merges.txt"))
        shutil.rmtree(tmp)
    else:
        if kind == "unigram_pegasus":
            specials = ["<pad>", "</s>", "<mask_1>", "<mask_2>", "<unk>"]
            kw = dict(pad_token="<pad>", eos_token="</s>", unk_token="<unk>", mask_token="<mask_2>",
                      mask_token_sent="<mask_1>", additional_special_tokens=[], offset=0)
        elif spec["tok_class"] == "AlbertTokenizerFast":
            specials = ["[CLS]", "<pad>", "[SEP]", "<unk>"]
            kw = dict(bos_token="[CLS]", cls_token="[CLS]", eos_token="[SEP]", sep_token="[SEP]",
                      pad_token="<pad>", unk_token="<unk>", mask_token="[MASK]")
        else:
            specials = ["<s>", "<pad>", "</s>", "<unk>"]
            kw = dict(bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>", pad_token="<pad>",
                      unk_token="<unk>", mask_token="<mask>")
            if spec["tok_class"] == "MBartTokenizerFast":
                kw["additional_special_tokens"] = []
        pieces = [(s, 0.0) for s in specials] + [("▁", -2.0)] + [(ch, -3.0) for ch in chars] \
            + [("▁" + ch, -2.5) for ch in chars[:26]]
        if kind != "unigram_pegasus":
            pieces.append((kw["mask_token"], 0.0))
        unk_id = [p for p, _ in pieces].index("<unk>")
        tk = Tokenizer(models.Unigram(pieces, unk_id=unk_id))
        tk.pre_tokenizer = pre_tokenizers.Metaspace()
        tk.decoder = decoders.Metaspace()
        tok = cls(tokenizer_object=tk, **kw)
    tok.save_pretrained(folder)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    ids = {k: getattr(tok, f"{k}_token_id") for k in ("bos", "cls", "pad", "eos", "sep", "unk", "mask")}
    return tok, {k: v for k, v in ids.items() if v is not None}


def make_source(fam, folder):
    spec = FAMILIES[fam]
    tok, tok_ids = build_tokenizer(fam, folder)
    vocab = len(tok)
    cfg_kwargs = dict(spec["cfg"])
    cfg_kwargs.update(vocab_size=vocab, max_position_embeddings=spec["src_max_pos"],
                      architectures=[spec["plain"][1]])
    for key, tid in (("pad_token_id", "pad"), ("bos_token_id", "bos"), ("eos_token_id", "eos")):
        if key in cfg_kwargs and tid in tok_ids:
            cfg_kwargs[key] = tok_ids[tid]
    if "decoder_start_token_id" in cfg_kwargs:
        cfg_kwargs["decoder_start_token_id"] = tok_ids["pad"] if fam == "pegasus" else tok_ids["eos"]
    if fam == "pegasus":
        cfg_kwargs["bos_token_id"] = 0  # hub Pegasus configs carry one; the converter needs it (no bos/cls token)
    if "tokenizer_class" in cfg_kwargs:
        pass
    torch.manual_seed(MODEL_SEED + 10)
    config = getattr(transformers, spec["plain"][0])(**cfg_kwargs)
    model = getattr(transformers, spec["plain"][1])(config)
    perturb_all(model, MODEL_SEED + 11)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    remove_py(folder)
    return {"name": os.path.basename(folder), "family": fam, "kind": "convert_source",
            "base_model_type": config.model_type, "architecture": spec["plain"][1],
            "max_position_embeddings": config.max_position_embeddings, "model_seed": MODEL_SEED + 10,
            "tokenizer_class": type(tok).__name__, "tokenizer_special_ids": tok_ids, "config": cfg_kwargs,
            "state_shapes": state_facts(model)}


def convert_case(fam, fam_root, src, name, max_len, arch=None, model_kwargs=None, record_io=None, notes=""):
    spec = FAMILIES[fam]
    d = os.path.join(fam_root, name)
    model_kwargs = model_kwargs or {}
    model, tokenizer, call = run_original_converter(fam_root, src, d, max_len, arch, model_kwargs, "<family dir>")
    cfg_json = json.load(open(os.path.join(d, "config.json")))
    keys = S2S_LSG_KEYS if spec["s2s"] else LSG_KEYS
    bos_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id
    info = {
        "name": name,
        "family": fam,
        "base_model_type": cfg_json["model_type"],
        "kind": "convert",
        "source": src,
        **call,
        "global_init_ids": {"bos_or_cls": bos_id if bos_id is not None else model.config.bos_token_id,
                            "bos_from": "tokenizer.bos" if tokenizer.bos_token_id is not None else
                            ("tokenizer.cls" if tokenizer.cls_token_id is not None else "config.bos_token_id"),
                            "mask": tokenizer.mask_token_id},
        "architecture": type(model).__name__,
        "lsg": {k: getattr(model.config, k) for k in keys},
        "state_shapes": state_facts(model),
        **versions(),
        "notes": notes,
    }
    if record_io is not None:
        patched = eager_workaround(model)
        t, pad_last = record_io
        vocab = model.config.vocab_size - 1  # no <mask> (last id)
        ids, mask, dec, lengths = family_inputs(fam, t, pad_last, vocab, INPUT_SEED)
        if not spec.get("specials"):
            ids[ids == 0] = bos_id  # make_inputs puts id 0 first: use the tokenizer's bos/cls
        io = {"input_ids": ids, "attention_mask": mask}
        if spec["s2s"]:
            io["decoder_input_ids"] = dec
        case = {"arch": info["architecture"], "generate": False}
        got, calls = run_calls(fam, case, model, io)
        tensors = save_io({**io, **{k: c(v) for k, v in got.items()}}, os.path.join(d, "io.safetensors"))
        info.update(seed=CALL_SEED, row_lengths=lengths, calls=calls, tensors=tensor_meta(tensors),
                    attn_implementation_workaround=patched)
        info["notes"] = (notes + " io.safetensors: forward of the converted model (seeded like model cases)").strip()
    with open(os.path.join(d, "convert.json"), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    return info


def family_conversions(fam):
    spec = FAMILIES[fam]
    src = f"convert_src_{fam}"
    small = {"block_size": 16, "sparse_block_size": 16, "num_global_tokens": 2}
    convs = [dict(src=src, name=f"convert_out_{fam}", max_len=1024, model_kwargs=small, record_io=(75, 20),
                  notes=f"default architecture (source's {spec['plain'][1]}); source has {spec['src_max_pos']} "
                        "positions, so the global rows are deterministic (no random fill)")]
    if spec.get("head_convert"):
        convs.append(dict(src=src, name=f"convert_out_{fam}_cls_g4", max_len=1024, arch=spec["head_convert"],
                          model_kwargs={"num_global_tokens": 4, "num_labels": 2}, record_io=(300, 40),
                          notes="classification head missing in the source: randomly initialised after "
                                "torch.manual_seed; defaults block 128 (t=300 padded to 384)"))
    return convs


# --------------------------------------------------------------------------- main

SELF_CHECK = [("bert", "mlm_lsh"), ("distilbert", "base_norm"), ("mbart", "s2s_norm_maskfirst"),
              ("pegasus", "s2s_lsh")]


def record_family(fam, out_root, index):
    fam_root = os.path.join(out_root, fam)
    if os.path.isdir(fam_root):
        shutil.rmtree(fam_root)
    os.makedirs(fam_root)
    for case in family_cases(fam):
        print(fam, "model case", case["name"], flush=True)
        try:
            info = run_model_case(fam, case, fam_root)
        except Exception as e:  # noqa: BLE001
            shutil.rmtree(os.path.join(fam_root, case["name"]), ignore_errors=True)
            msg = f"{type(e).__name__}: {e}".strip()
            tb = traceback.format_exc().strip().splitlines()
            print("  crashed:", msg, flush=True)
            index["skipped"].append({"name": f"{fam}/{case['name']}", "family": fam, "architecture": case["arch"],
                                     "lsg": case["lsg"], "error": msg,
                                     "where": [ln.strip() for ln in tb if ln.strip().startswith("File")][-1:]})
            continue
        index["cases"].append({"name": f"{fam}/{info['name']}", "family": fam, "kind": "model",
                               "base_model_type": info["base_model_type"], "architecture": info["architecture"],
                               "lsg": info["lsg"], "weights_file": info["weights_file"],
                               "tensors": sorted(info["tensors"]), "notes": info["notes"]})
    src = f"convert_src_{fam}"
    print(fam, "convert source", flush=True)
    info = make_source(fam, os.path.join(fam_root, src))
    index["cases"].append({**{k: info[k] for k in ("family", "kind", "base_model_type", "architecture",
                                                    "max_position_embeddings", "tokenizer_class")},
                           "name": f"{fam}/{src}", "tensors": []})
    with open(os.path.join(fam_root, src, "source.json"), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    for conv in family_conversions(fam):
        print(fam, "convert", conv["name"], flush=True)
        try:
            info = convert_case(fam, fam_root, **conv)
        except Exception as e:  # noqa: BLE001
            shutil.rmtree(os.path.join(fam_root, conv["name"]), ignore_errors=True)
            msg = f"{type(e).__name__}: {e}".strip()
            print("  crashed:", msg, flush=True)
            index["skipped"].append({"name": f"{fam}/{conv['name']}", "family": fam, "kind": "convert", "error": msg})
            continue
        index["cases"].append({"name": f"{fam}/{info['name']}", "family": fam, "kind": "convert",
                               "base_model_type": info["base_model_type"], "source": f"{fam}/{info['source']}",
                               "architecture": info["architecture"], "lsg": info["lsg"],
                               "tensors": sorted(info.get("tensors", {})), "notes": info["notes"]})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--family", choices=sorted(FAMILIES), action="append",
                    help="record only these families (index.json entries of the others are kept)")
    args = ap.parse_args()
    out_root = args.out
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    index_path = os.path.join(out_root, "index.json")
    families = args.family or list(FAMILIES)
    if args.family and os.path.exists(index_path):
        index = json.load(open(index_path))
        index["cases"] = [x for x in index["cases"] if x["family"] not in families]
        index["skipped"] = [x for x in index["skipped"] if x["family"] not in families]
    else:
        # everything but the hand-written README.md is regenerated
        for fam in FAMILIES:
            shutil.rmtree(os.path.join(out_root, fam), ignore_errors=True)
        if os.path.exists(index_path):
            os.remove(index_path)
        index = {"cases": [], "skipped": []}
    os.makedirs(out_root, exist_ok=True)
    index.update({"generated_by": "tests/compat/make_family_fixtures.py", **versions()})
    for fam in families:
        record_family(fam, out_root, index)
    order = list(FAMILIES)
    index["cases"].sort(key=lambda x: (order.index(x["family"]), x["name"]))

    checks = [x for x in index.get("self_check", []) if x["case"].split("/")[0] not in families]
    for fam, name in SELF_CHECK:
        folder = os.path.join(out_root, fam, name)
        if fam in families and os.path.isdir(folder):
            diffs = replay_with_original(fam, folder)
            worst = max(diffs.values())
            print("self-check", f"{fam}/{name}", "worst diff", worst, flush=True)
            checks.append({"case": f"{fam}/{name}", "tensors": len(diffs), "max_abs_diff": worst})
    if checks:
        index["self_check"] = sorted(checks, key=lambda x: [f"{f}/{n}" for f, n in SELF_CHECK].index(x["case"]))
    with open(index_path, "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
    print("done:", len(index["cases"]), "cases,", len(index["skipped"]), "skipped")


if __name__ == "__main__":
    sys.exit(main())
