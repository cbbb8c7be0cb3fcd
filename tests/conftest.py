"""Shared fixtures: every test gets the same seeds."""

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
