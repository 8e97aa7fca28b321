"""LSG-BART models on transformers 5: config round trips, loading, generate, masks, the plain-BART trap."""

import ast
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from lsgzoo.models import (
    LSGBartConfig,
    LSGBartForCausalLM,
    LSGBartForConditionalGeneration,
    LSGBartForQuestionAnswering,
    LSGBartForSequenceClassification,
    LSGBartModel,
    LSGMissingWeightsWarning,
    assert_lsg_model,
    is_lsg_checkpoint,
    load_model,
)
from lsgzoo.models.configuration_lsg_bart import LSG_BART_AUTO_MAP, LSG_BART_CONFIG_KEYS

FIXTURES = Path(__file__).parent / "fixtures" / "original"
SRC = Path(__file__).parents[1] / "src" / "lsgzoo"


def tiny_config(**overrides) -> LSGBartConfig:
    base = dict(
        vocab_size=64,
        d_model=16,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=256,
        dropout=0.0,
        init_std=0.2,
        block_size=8,
        sparse_block_size=8,
        sparsity_factor=2,
        sparsity_type="norm",
        num_global_tokens=2,
        forced_eos_token_id=None,
    )
    base.update(overrides)
    return LSGBartConfig(**base)


def inputs(n=2, t=50, vocab=64, pad=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (n, t), generator=g)
    mask = torch.ones(n, t, dtype=torch.long)
    ids[-1, t - pad:] = 1
    mask[-1, t - pad:] = 0
    return ids, mask


def copy_fixture(name, tmp_path) -> Path:
    dest = tmp_path / name
    shutil.copytree(FIXTURES / name, dest)
    return dest


# ---------------------------------------------------------------- configuration


NON_DEFAULT_LSG = dict(
    adaptive=False,
    block_size=32,
    causal=True,
    lsg_backend="eager",
    lsh_num_pre_rounds=3,
    mask_first_token=True,
    num_global_tokens=7,
    pass_global_tokens_to_decoder=False,
    pool_with_global=True,
    sparse_block_size=16,
    sparsity_factor=4,
    sparsity_type="lsh",
)


def test_config_save_load_keeps_every_lsg_value(tmp_path):
    assert set(NON_DEFAULT_LSG) == set(LSG_BART_CONFIG_KEYS)
    config = LSGBartConfig(**NON_DEFAULT_LSG, max_position_embeddings=4096)
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "bart"
    assert saved["base_model_prefix"] == "lsg"
    assert saved["auto_map"] == LSG_BART_AUTO_MAP
    for key, value in NON_DEFAULT_LSG.items():
        assert saved[key] == value, key
    loaded = LSGBartConfig.from_pretrained(tmp_path)
    assert loaded.lsg_settings() == NON_DEFAULT_LSG
    assert loaded.max_position_embeddings == 4096 and loaded.base_model_prefix == "lsg"


def test_model_save_load_round_trip_keeps_config_and_outputs(tmp_path):
    config = tiny_config(sparsity_type="pooling", num_global_tokens=3, pass_global_tokens_to_decoder=False,
                         pool_with_global=False)
    model = LSGBartForConditionalGeneration(config).eval()
    model.save_pretrained(tmp_path)
    loaded = LSGBartForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert loaded.config.lsg_settings() == config.lsg_settings()
    ids, mask = inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids, attention_mask=mask).logits,
                                   model(input_ids=ids, attention_mask=mask).logits, rtol=0, atol=0)


def test_original_config_with_extra_and_misspelled_keys_loads(tmp_path):
    folder = copy_fixture("s2s_norm", tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["lsg_num_pre_rounds"] = 1  # the lsg-bart-large-4096 card's misspelling
    config["some_old_key"] = "kept"
    (folder / "config.json").write_text(json.dumps(config))
    loaded = LSGBartConfig.from_pretrained(folder)
    assert loaded.lsg_settings()["sparsity_type"] == "norm" and loaded.num_global_tokens == 2
    assert loaded.some_old_key == "kept"
    assert loaded.dtype == torch.float32  # `torch_dtype` of 4.x files is read as `dtype`


def test_config_validation_policy():
    with pytest.raises(ValueError, match="not a registered selector"):
        LSGBartConfig(sparsity_type="nope")
    with pytest.raises(ValueError, match="odd"):
        LSGBartConfig(block_size=6, sparse_block_size=6, sparsity_factor=2)
    with pytest.raises(ValueError, match="multiple of sparsity_factor"):
        LSGBartConfig(block_size=16, sparsity_factor=3)
    for value in (0, -1, 600):
        with pytest.raises(ValueError, match=f"num_global_tokens={value} is out of range"):
            LSGBartConfig(num_global_tokens=value)


@pytest.mark.parametrize("stored, used", [({"num_global_tokens": 0}, {"num_global_tokens": 1}),
                                          ({"num_global_tokens": 600}, {"num_global_tokens": 512}),
                                          ({"mask_first_token": True, "pool_with_global": False},
                                           {"pool_with_global": True})])
def test_an_original_config_file_is_corrected_as_the_original_did_and_records_it(tmp_path, stored, used):
    LSGBartConfig().save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, **stored}))
    with pytest.warns(UserWarning, match="as the original LSG implementation corrected it"):
        config = LSGBartConfig.from_pretrained(tmp_path)
    assert {key: getattr(config, key) for key in used} == used
    assert {key: getattr(config.lsg_attention, key) for key in used} == used
    config.save_pretrained(tmp_path)
    assert {key: json.loads((tmp_path / "config.json").read_text())[key] for key in used} == used
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the corrected file loads cleanly
        LSGBartConfig.from_pretrained(tmp_path)


# ---------------------------------------------------------------- loading


def test_loaded_global_and_position_tables_are_not_reinitialised():
    from safetensors.torch import load_file

    folder = FIXTURES / "s2s_norm"
    model = LSGBartForConditionalGeneration.from_pretrained(folder)
    stored = load_file(str(folder / "model.safetensors"))
    params = dict(model.named_parameters())
    for key in ("model.encoder.global_embeddings.weight", "model.encoder.embed_positions.weight",
                "model.decoder.embed_positions.weight", "model.shared.weight"):
        assert torch.equal(params[key], stored[key]), key
    assert model.lm_head.weight is model.model.shared.weight


def test_missing_global_embeddings_are_reported(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy_fixture("s2s_norm", tmp_path)
    weights = load_file(str(folder / "model.safetensors"))
    del weights["model.encoder.global_embeddings.weight"]
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.warns(LSGMissingWeightsWarning, match="global_embeddings"):
        _, info = LSGBartForConditionalGeneration.from_pretrained(folder, output_loading_info=True)
    assert info["missing_keys"] == {"model.encoder.global_embeddings.weight"}


def test_truncated_safetensors_gives_a_clear_error(tmp_path):
    folder = copy_fixture("s2s_norm", tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(OSError, match="truncated or corrupted") as error:
        LSGBartForConditionalGeneration.from_pretrained(folder)
    assert str(folder) in str(error.value)


def test_truncated_bin_gives_a_clear_error(tmp_path):
    folder = copy_fixture("s2s_stride_bin", tmp_path)
    weights = folder / "pytorch_model.bin"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(Exception, match="corrupted"):
        LSGBartForConditionalGeneration.from_pretrained(folder)


class PickledPayload:  # not a tensor: a weights_only load must refuse it
    pass


def test_bin_weights_load_with_weights_only(tmp_path):
    folder = copy_fixture("s2s_stride_bin", tmp_path)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state["payload"] = PickledPayload()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(Exception, match="(?i)weights.only|unpickl"):
        LSGBartForConditionalGeneration.from_pretrained(folder)


# ---------------------------------------------------------------- the plain-BART trap and Auto loading


def test_plain_bart_from_an_lsg_folder_is_caught():
    from transformers import AutoModelForSeq2SeqLM, BartForConditionalGeneration

    folder = FIXTURES / "s2s_norm"
    plain = AutoModelForSeq2SeqLM.from_pretrained(folder)  # the silent trap: no error from transformers
    assert type(plain) is BartForConditionalGeneration
    with pytest.raises(TypeError, match="load_model"):
        assert_lsg_model(plain)
    assert isinstance(assert_lsg_model(load_model(folder)), LSGBartForConditionalGeneration)


def test_is_lsg_checkpoint_and_load_model_pick_the_class(tmp_path):
    assert is_lsg_checkpoint(FIXTURES / "s2s_norm")
    assert not is_lsg_checkpoint(FIXTURES / "convert_src_64")  # plain BART
    assert type(load_model(FIXTURES / "cls_norm")) is LSGBartForSequenceClassification
    assert type(load_model(FIXTURES / "qa_pooling")) is LSGBartForQuestionAnswering
    assert type(load_model(FIXTURES / "base_bos_pooling")) is LSGBartModel
    assert type(load_model(FIXTURES / "s2s_norm", task="base")) is LSGBartModel
    with pytest.raises(ValueError, match="not an LSG-BART checkpoint"):
        load_model(FIXTURES / "convert_src_64")
    # only the weights say LSG: config keys stripped, global_embeddings still there
    folder = copy_fixture("s2s_norm", tmp_path)
    config = json.loads((folder / "config.json").read_text())
    for key in (*LSG_BART_CONFIG_KEYS, "base_model_prefix", "architectures"):
        config.pop(key, None)
    (folder / "config.json").write_text(json.dumps(config))
    assert is_lsg_checkpoint(folder)
    with pytest.raises(TypeError, match="expected an lsgzoo LSG model"):
        assert_lsg_model(torch.nn.Linear(2, 2))


# ---------------------------------------------------------------- forward / generate behaviour


@pytest.mark.parametrize("pass_globals", [True, False])
def test_encoder_output_shapes_and_untrimmed_hidden_states(pass_globals):
    config = tiny_config(pass_global_tokens_to_decoder=pass_globals)
    model = LSGBartModel(config).eval()
    ids, mask = inputs(t=50)  # 50 > 2·8 and not a multiple of 8: padded to 56
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    g = config.num_global_tokens
    assert out.encoder_last_hidden_state.shape == (2, 50 + g if pass_globals else 50, 16)
    assert [tuple(h.shape) for h in out.encoder_hidden_states] == [(2, g + 56, 16)] * 3
    encoder_out = model.encoder(input_ids=ids, attention_mask=mask, return_dict=False)
    assert isinstance(encoder_out, tuple) and torch.equal(encoder_out[0], out.encoder_last_hidden_state)


def test_pool_with_global_overwrites_token_zero_by_value():
    config = tiny_config(pass_global_tokens_to_decoder=False, pool_with_global=True)
    model = LSGBartModel(config).eval()
    ids, mask = inputs()
    with torch.no_grad():
        out = model.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    last = out.hidden_states[-1]
    assert torch.equal(out.last_hidden_state[:, 0], last[:, 0])  # real token 0 shows global 0
    assert torch.equal(last[:, config.num_global_tokens], last[:, 0])


@pytest.mark.parametrize("mask_first_token", [False, True])
def test_generate_greedy_and_beam_beyond_bart_length_with_cache(mask_first_token):
    # a BART of 32 positions extended to 256 (as conversion does); the input has 150 tokens
    config = tiny_config(max_position_embeddings=256, mask_first_token=mask_first_token, sparsity_type="pooling")
    model = LSGBartForConditionalGeneration(config).eval()
    ids, mask = inputs(t=150, pad=40)
    mask_before = mask.clone()
    greedy = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, num_beams=1, do_sample=False,
                            return_dict_in_generate=True, output_logits=True)
    no_cache = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, num_beams=1, do_sample=False,
                              use_cache=False, return_dict_in_generate=True, output_logits=True)
    beam = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, num_beams=3, do_sample=False,
                          early_stopping=True)
    assert torch.equal(mask, mask_before)
    assert greedy.sequences.shape == (2, 7) and beam.shape[0] == 2
    assert torch.equal(greedy.sequences, no_cache.sequences)
    for cached, full in zip(greedy.logits, no_cache.logits):
        torch.testing.assert_close(cached, full, rtol=1e-5, atol=1e-5)
    # the cached steps equal one teacher-forced forward pass over the generated prefix
    with torch.no_grad():
        forced = model(input_ids=ids, attention_mask=mask, decoder_input_ids=greedy.sequences[:, :-1]).logits
    torch.testing.assert_close(torch.stack(greedy.logits, 1), forced, rtol=1e-5, atol=1e-5)


def test_mask_first_token_does_not_mutate_the_mask_and_hides_token_zero():
    config = tiny_config(mask_first_token=True)
    model = LSGBartForConditionalGeneration(config).eval()
    ids, mask = inputs()
    before = mask.clone()
    dec = torch.full((2, 3), 2)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
        model.model.encoder(input_ids=ids, attention_mask=mask)
        changed = ids.clone()
        changed[:, 0] = 5 if ids[0, 0] != 5 else 6  # token 0 is hidden as a key and from cross-attention
        other = model(input_ids=changed, attention_mask=mask, decoder_input_ids=dec)
    assert torch.equal(mask, before)
    # token 0 is still a query, so only its own row of the encoder output may change
    torch.testing.assert_close(other.encoder_last_hidden_state[:, config.num_global_tokens + 1:],
                               out.encoder_last_hidden_state[:, config.num_global_tokens + 1:])
    torch.testing.assert_close(other.logits, out.logits)


def test_head_mask_is_ignored_and_training_backward_reaches_global_embeddings():
    config = tiny_config(dropout=0.1, attention_dropout=0.1, pass_global_tokens_to_decoder=False)
    model = LSGBartForConditionalGeneration(config)
    ids, mask = inputs()
    with torch.no_grad():
        model.eval()
        plain = model(input_ids=ids, attention_mask=mask, decoder_input_ids=ids[:, :5]).logits
        masked = model(input_ids=ids, attention_mask=mask, decoder_input_ids=ids[:, :5],
                       head_mask=torch.zeros(config.encoder_layers, config.encoder_attention_heads)).logits
    assert torch.equal(plain, masked)
    model.train()
    model.activation_checkpointing_enable()
    loss = model(input_ids=ids, attention_mask=mask, labels=ids[:, :5].contiguous()).loss
    loss.backward()
    grad = model.model.encoder.global_embeddings.weight.grad
    assert grad[: config.num_global_tokens].abs().sum() > 0 and grad[config.num_global_tokens:].abs().sum() == 0


def test_input_longer_than_the_position_table_raises_clearly():
    model = LSGBartModel(tiny_config(max_position_embeddings=64)).eval()
    with torch.no_grad():
        model(input_ids=torch.full((1, 60), 5))  # padded to 64: fits
    with pytest.raises(ValueError, match="max_position_embeddings=64"):
        model(input_ids=torch.full((1, 70), 5))
    with pytest.raises(ValueError, match="adaptive=False"):
        LSGBartModel(tiny_config(adaptive=False))(input_ids=torch.full((1, 50), 5))


def test_head_classes_and_causal_lm_run():
    config = tiny_config(num_labels=3)
    ids, mask = inputs()
    ids[:, -1] = 2
    mask[:, -1] = 1  # one eos per row
    with torch.no_grad():
        assert LSGBartForSequenceClassification(config).eval()(input_ids=ids, attention_mask=mask).logits.shape == (2, 3)
        qa = LSGBartForQuestionAnswering(tiny_config()).eval()(input_ids=ids, attention_mask=mask)
        assert qa.start_logits.shape == (2, 50)
        lm = LSGBartForCausalLM(tiny_config()).eval()
        assert lm(input_ids=ids[:, :10]).logits.shape == (2, 10, 64)


# ---------------------------------------------------------------- packaging constraints


def test_import_lsgzoo_stays_cheap_and_exports_models():
    import lsgzoo

    assert lsgzoo.LSGBartForConditionalGeneration is LSGBartForConditionalGeneration
    assert lsgzoo.load_model is load_model and "LSGBartModel" in lsgzoo.__all__
    code = "import sys, lsgzoo; print('transformers' in sys.modules, 'lsgzoo.models' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False False", result.stderr


def test_model_code_modules_can_be_concatenated_into_one_file():
    """Export builds one modeling_lsg_bart.py from selectors + attention + models: check the import rules."""
    seen = {}
    for path in sorted(SRC.glob("*/*.py")):
        if path.parent.name not in ("selectors", "attention", "models") or path.name == "__init__.py":
            continue
        source = path.read_text()
        tree = ast.parse(source)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                assert node.module != "__future__", path
                assert node.level == 0, f"relative import in {path}:{node.lineno}"
                if node.module.startswith("lsgzoo"):
                    assert node.lineno == node.end_lineno, f"multi-line lsgzoo import in {path}:{node.lineno}"
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("lsgzoo") for a in node.names), f"`import lsgzoo...` in {path}"
            names = []
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            for name in names:
                assert name not in seen or seen[name] == path, f"{name} defined in {seen.get(name)} and {path}"
                seen[name] = path
        for node in ast.walk(tree):  # model code: torch + transformers only, no training stack
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                assert module.split(".")[0] not in {"lightning", "pytorch_lightning", "hydra", "omegaconf", "wandb",
                                                    "datasets"}, f"{path} imports {module}"
