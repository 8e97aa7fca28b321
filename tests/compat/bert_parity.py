"""LSG-BERT parity with the original (lsg-converter 0.1.9): not a test, a script in two halves.

    /work/venv-orig/bin/python tests/compat/bert_parity.py make OUT      # original: tiny random models + outputs
    PYTHONPATH=src python tests/compat/bert_parity.py check OUT          # lsgzoo: load them, print max-abs diffs

Cases: selectors with adaptive padding (t not a block multiple), mask_first_token, a short (full attention)
input, padded batch rows; LSGBertForPreTraining outputs (MLM logits, next-sentence logits from the pooler).
"""

import json
import sys
from pathlib import Path

import torch

CASES = {
    "norm_pad": dict(sparsity_type="norm", num_global_tokens=2),
    "pooling_mask_first": dict(sparsity_type="pooling", mask_first_token=True),
    "bos_pooling_pad": dict(sparsity_type="bos_pooling", sparsity_factor=4, num_global_tokens=3),
    "stride": dict(sparsity_type="stride", pool_with_global=False),
    "none_short": dict(sparsity_type="none", block_size=32),
}
BASE = dict(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=128, block_size=8, sparse_block_size=8, sparsity_factor=2,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def inputs():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 60, (2, 45), generator=generator)
    mask = torch.ones(2, 45, dtype=torch.long)
    mask[1, 37:] = 0
    token_types = torch.zeros(2, 45, dtype=torch.long)
    token_types[:, 20:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": token_types}


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *[f"w{i}" for i in range(55)]]


def plain_bert(folder: Path):
    """A tiny plain BertForMaskedLM (512 positions, so the global rows need no random completion) + tokenizer."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(2)
    config = BertConfig(**{k: v for k, v in BASE.items() if k not in ("block_size", "sparse_block_size",
                                                                      "sparsity_factor")})
    config.max_position_embeddings = 512
    BertForMaskedLM(config).save_pretrained(folder, safe_serialization=True)


def make(out: Path):
    from lsg_converter import LSGConverter
    from lsg_converter.bert.modeling_lsg_bert import LSGBertConfig, LSGBertForPreTraining

    plain_bert(out / "plain")
    model, _ = LSGConverter(max_sequence_length=1024).convert_from_pretrained(str(out / "plain"), block_size=32)
    from safetensors.torch import save_file
    state = {k: v.clone().contiguous() for k, v in model.state_dict().items()}  # tied tensors copied apart
    save_file(state, str(out / "converted_original.safetensors"))

    for name, settings in CASES.items():
        torch.manual_seed(1)
        model = LSGBertForPreTraining(LSGBertConfig(**{**BASE, **settings})).eval()
        with torch.no_grad():  # random global rows and biases, so every part matters
            model.bert.embeddings.global_embeddings.weight.normal_()
        for module in model.modules():
            module.attn_implementation = "eager"  # the original's forward reads it (transformers 4.44)
        model.save_pretrained(out / name, safe_serialization=True)
        with torch.no_grad():
            result = model(**inputs(), output_hidden_states=True)
        torch.save({"prediction_logits": result.prediction_logits, "nsp": result.seq_relationship_logits,
                    "hidden_last": result.hidden_states[-1]}, out / name / "outputs.pt")


def check(out: Path):
    from lsgzoo.models import load_model

    report = {}
    for name in CASES:
        expected = torch.load(out / name / "outputs.pt")
        for backend in ("eager", "auto"):
            model = load_model(out / name, lsg_backend=backend).eval()
            assert type(model).__name__ == "LSGBertForPreTraining"
            with torch.no_grad():
                result = model(**inputs(), output_hidden_states=True)
            report[f"{name}/{backend}"] = {
                "prediction_logits": (result.prediction_logits - expected["prediction_logits"]).abs().max().item(),
                "nsp": (result.seq_relationship_logits - expected["nsp"]).abs().max().item(),
                "hidden_last": (result.hidden_states[-1] - expected["hidden_last"]).abs().max().item(),
            }
    from safetensors.torch import load_file

    from lsgzoo.models.conversion import convert_to_lsg

    converted, _, _ = convert_to_lsg(out / "plain", 1024, block_size=32)
    reference, state = load_file(str(out / "converted_original.safetensors")), converted.state_dict()
    report["conversion"] = {"keys_differ": len(set(reference) ^ set(state)),
                            "max_abs": max((state[k] - v).abs().max().item() for k, v in reference.items())}
    print(json.dumps(report, indent=1))
    worst = max(v for case in report.values() for v in case.values())
    print("worst max-abs diff:", worst)
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    command, folder = sys.argv[1], Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    sys.exit(make(folder) if command == "make" else check(folder))
