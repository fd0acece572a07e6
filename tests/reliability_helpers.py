"""Shared bits of the reliability tests: a tiny model config, torchrun, and reading checkpoints."""
import os
import socket
import subprocess
import sys

import torch

from conftest import ROOT

# small enough for a few seconds on a CPU; dropout on, so the RNG state matters for exact resume
TINY = ['--dataset=shakespeare_char', '--device=cpu', '--compile=False', '--dtype=float32',
        '--n_layer=1', '--n_head=2', '--n_embd=32', '--block_size=32', '--batch_size=4', '--dropout=0.1',
        '--gradient_accumulation_steps=2', '--eval_iters=2', '--eval_interval=5', '--log_interval=1',
        '--learning_rate=1e-2', '--warmup_iters=5', '--lr_decay_iters=20']
TORCHRUN = [sys.executable, '-m', 'torch.distributed.run']


def train_cmd(*args):
    return [sys.executable, 'train.py'] + TINY + list(args)


def torchrun_cmd(nproc, *args, launcher=('--standalone',)):
    return TORCHRUN + list(launcher) + [f'--nproc-per-node={nproc}', 'train.py'] + TINY + list(args)


def env():
    return dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')  # tiny models: threads only contend


def popen(cmd, **kw):
    return subprocess.Popen(cmd, cwd=ROOT, env=kw.pop('env', env()), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def check(cmd, timeout=300, env_extra=None, expect=0, cwd=ROOT):
    p = subprocess.run(cmd, cwd=cwd, env=dict(env(), **(env_extra or {})), capture_output=True, text=True,
                       timeout=timeout)
    out = p.stdout + p.stderr
    if expect is not None:
        assert p.returncode == expect, f"{cmd} exited {p.returncode}\n{out[-4000:]}"
    return p.returncode, out


def ckpt(out_dir):
    return torch.load(os.path.join(out_dir, 'ckpt.pt'), map_location='cpu')


def same_weights(a, b):
    assert a.keys() == b.keys()
    return all(torch.equal(a[k], b[k]) for k in a)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
