"""Fixtures shared by the tests; the harness itself (run, TINY, ...) is tests/harness.py."""
import os

import pytest

from harness import ROOT, run


@pytest.fixture(scope='session')
def shakespeare_char():
    """data/shakespeare_char prepared from the local copy of tiny shakespeare."""
    if not os.path.exists(os.path.join(ROOT, 'data', 'shakespeare_char', 'val.bin')):
        run(['data/shakespeare_char/prepare.py'])
    return os.path.join(ROOT, 'data', 'shakespeare_char')


@pytest.fixture(scope='session')
def shakespeare():
    """data/shakespeare (GPT-2 BPE) prepared from the local copies."""
    if not os.path.exists(os.path.join(ROOT, 'data', 'shakespeare', 'val.bin')):
        run(['data/shakespeare/prepare.py'])
    return os.path.join(ROOT, 'data', 'shakespeare')


@pytest.fixture(scope='session')
def gpt2_folder(tmp_path_factory):
    """A folder written by transformers' save_pretrained: a small GPT-2 with random weights, its LayerNorms
    and biases randomized too so that any mix-up of names or transposes shows in the logits."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=64, n_positions=128, vocab_size=50257,
                                    initializer_range=0.1))
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if '.ln_' in name or name.endswith('bias'):
                p.add_(0.2 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp('gpt2-random')
    hf.save_pretrained(folder)
    return str(folder)
