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
