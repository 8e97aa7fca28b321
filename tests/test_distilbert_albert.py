"""LSG-DistilBERT and LSG-ALBERT checks of their own. The replay of the original's recorded fixtures (model and
conversion cases, ALBERT's MLM bias as the original reloaded it), export and the Auto-class trap are
tests/test_family_fixtures.py's, for every family of the table."""

from pathlib import Path

import torch
from safetensors.torch import load_file

from lsgzoo.models import load_model

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "original_families"


def test_distilbert_takes_inputs_embeds():
    """The original crashes on `inputs_embeds`; lsgzoo equals the ids path."""
    folder = FIXTURES / "distilbert" / "base_none"
    io = load_file(folder / "io.safetensors")
    model = load_model(folder).eval()
    with torch.no_grad():
        from_ids = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"]).last_hidden_state
        embeds = model.get_input_embeddings()(io["input_ids"])
        from_embeds = model(inputs_embeds=embeds, attention_mask=io["attention_mask"]).last_hidden_state
    assert torch.equal(from_ids, from_embeds)


def test_albert_pretraining_head():
    """ForPreTraining shares the encoder and the MLM head (`predictions`) with ForMaskedLM: same logits (each
    forward from the same seed: lsh draws its random rotations per forward)."""
    folder = FIXTURES / "albert" / "mlm_lsh"
    model = load_model(folder, task="pretraining").eval()
    masked_lm = load_model(folder, task="masked-lm").eval()
    assert type(model).__name__ == "LSGAlbertForPreTraining"
    io = load_file(folder / "io.safetensors")
    with torch.no_grad():
        torch.manual_seed(0)
        out = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"])
        torch.manual_seed(0)
        mlm_logits = masked_lm(input_ids=io["input_ids"], attention_mask=io["attention_mask"]).logits
    assert out.prediction_logits.shape == (2, 75, 64) and out.sop_logits.shape == (2, 2)
    torch.testing.assert_close(out.prediction_logits, mlm_logits, atol=0, rtol=0)
