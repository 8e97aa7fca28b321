import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))  # tests/reference.py
# The `flex` backend's eager kernel is exact and compiles nothing; test_flex compiles once on purpose.
os.environ.setdefault("LSGZOO_FLEX_COMPILE", "0")

# Property tests (tests/test_properties_*.py): CI-sized, the same examples on every run, nothing written into the
# repository. `HYPOTHESIS_PROFILE=search` draws ten times as many (each test scales `settings.default.max_examples`), randomly, to look for new failures locally.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, database=None,
                          print_blob=True)
settings.register_profile("search", parent=settings.get_profile("ci"), max_examples=400, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _selector_registry():
    """Selectors a test registers are gone after it: tests that list the registered selectors see the built-in ones."""
    from lsgzoo.selectors import registry

    saved = dict(registry._SELECTORS)
    yield
    registry._SELECTORS.clear()
    registry._SELECTORS.update(saved)


@pytest.fixture
def one_thread():
    """One CPU thread, as the original's golden fixtures were recorded (results are then bit-stable)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def flex_backward_on_cpu(monkeypatch):
    """Run FlexAttention's own eager implementation with gradients on CPU (test only; FlexAttention refuses a
    CPU backward, and without this fixture CPU training with `flex` falls back to `fused`)."""
    import torch.nn.attention.flex_attention as torch_flex

    from lsgzoo.attention.backends import BACKENDS

    monkeypatch.setattr(torch_flex, "_validate_device", lambda *args: None)
    monkeypatch.setitem(BACKENDS, "flex", replace(BACKENDS["flex"], available=lambda query, dropout: True))
