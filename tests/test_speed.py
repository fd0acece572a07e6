"""The speed paths: bf16 autocast on a CPU, and bench.py."""
import re

import torch

from harness import run
from model import GPT, GPTConfig


def test_cpu_bf16_autocast_trains_like_fp32():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=65, bias=False))
    x, y = torch.randint(65, (4, 16)), torch.randint(65, (4, 16))
    _, loss32 = model(x, y)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        logits, loss16 = model(x, y)
    assert logits.dtype == torch.bfloat16
    assert abs(loss16.item() - loss32.item()) < 0.02
    loss16.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())


def test_bench_prints_train_and_sample_speed(shakespeare_char):
    p = run(['bench.py', '--mode=both', '--device=cpu', '--dataset=shakespeare_char', '--dtype=float32,bfloat16',
             '--n_layer=1', '--n_head=2', '--n_embd=32', '--block_size=16', '--batch_size=2', '--rounds=2',
             '--iters_per_round=2', '--warmup=1', '--max_new_tokens=24', '--num_samples=2'])
    out = p.stdout
    assert re.search(r'train  float32: +[\d.]+ ms/iter .* tokens/s, MFU .*1\.00x the first', out)
    assert re.search(r'train bfloat16: +[\d.]+ ms/iter .*x the first', out)
    speed = r'uncached [\d,]+ tokens/s, KV cache [\d,]+ tokens/s \([\d.]+x\)'
    assert re.search(r'sample bfloat16, 2 x 24 new tokens, window_shift=2: ' + speed +
                     r"; [\d.]+x nanoGPT's uncached window_shift=1", out)  # block_size // 8
    assert re.search(r'sample bfloat16, 2 x 24 new tokens, window_shift=1: ' + speed + '\n', out)
    assert re.search(r'sample bfloat16, 2 x the first 15 new tokens \(before the window is full\): ' + speed, out)
