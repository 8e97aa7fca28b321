import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # tests/reference.py
# The `flex` backend's eager kernel is exact and compiles nothing; test_flex compiles once on purpose.
os.environ.setdefault("LSGZOO_FLEX_COMPILE", "0")


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
