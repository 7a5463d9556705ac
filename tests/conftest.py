"""Hypothesis settings for the property-based tests (tests/test_properties.py).

Every run, here, on a developer's machine and in CI, checks the same examples:

- derandomize=True: the examples are a fixed function of each test's source, so a red run is red
  again on any machine and a green one cannot turn red by the luck of a new random draw.
- database=None: no store of past failures, so nothing found on one machine is replayed only
  there. (Hypothesis still caches the literals it reads from the source; that cache goes to the
  system's temporary folder, not into the working tree.)
- deadline=None: a slow or busy machine is no reason to fail; the properties are about numbers.
- max_examples=50: enough shapes and values per property to reach the edges (one row, two
  classes, ties, ±1e4 scores, a hidden width of 1) while the whole file takes a few seconds.

To search more widely for a counterexample, with a fresh random draw each time:
``python -m pytest tests/test_properties.py --hypothesis-profile=explore``.
"""

import os
import tempfile
from pathlib import Path

# Hypothesis keeps a small cache of the literals it reads from the source; keep it out of the
# working tree (it must be set before hypothesis is imported).
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY",
                      str(Path(tempfile.gettempdir()) / "backprop-parts-hypothesis"))

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("repeatable", derandomize=True, database=None, deadline=None, max_examples=50)
settings.register_profile("explore", derandomize=False, database=None, deadline=None, max_examples=2000)
settings.load_profile("repeatable")


@pytest.fixture
def torch_global_state_unchanged():
    """A torch test must leave torch's default dtype and random generator as it found them
    (used by the torch test files through ``pytestmark``)."""
    import torch
    dtype = torch.get_default_dtype()
    rng_state = torch.random.get_rng_state()
    yield
    assert torch.get_default_dtype() == dtype
    assert torch.equal(torch.random.get_rng_state(), rng_state)


@pytest.fixture
def torch():
    """The torch module (or a skip: torch is optional); the test must leave torch's global state alone."""
    torch = pytest.importorskip("torch", reason="the PyTorch bridge tests need torch")
    dtype = torch.get_default_dtype()
    rng_state = torch.random.get_rng_state()
    yield torch
    assert torch.get_default_dtype() == dtype
    assert torch.equal(torch.random.get_rng_state(), rng_state)
