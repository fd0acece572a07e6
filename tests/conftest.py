import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, '..', 'shared', 'data')
sys.path.insert(0, ROOT)
# the tests never touch the network: tiktoken's files and the text come from ../shared/data
os.environ['NANOGPT_LOCAL_DATA'] = SHARED
os.environ.setdefault('WANDB_MODE', 'offline')
os.environ.setdefault('OMP_NUM_THREADS', '1')  # tiny models: one thread is faster, and DDP tests run two processes


def run(args, cwd=ROOT, check=True, env=None, timeout=600):
    """Run a python script of the project as a user would; returns the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    p = subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}")
    return p


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
