"""The speed paths: bf16 autocast on a CPU, and bench.py."""
import re

import torch

from harness import TINY, run
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
             '--iters_per_round=2', '--warmup=1', '--max_new_tokens=24', '--num_samples=1,2'])
    out = p.stdout
    assert re.search(r'train  float32: +[\d.]+ ms/iter .* tokens/s, MFU .*1\.00x the first', out)
    assert re.search(r'train bfloat16: +[\d.]+ ms/iter .*x the first', out)
    speed = r'uncached [\d,]+ tokens/s, KV cache [\d,]+ tokens/s \([\d.]+x\)'
    assert re.search(r'sample bfloat16, 2 x 24 new tokens, window_shift=2: ' + speed +
                     r"; [\d.]+x nanoGPT's uncached window_shift=1", out)  # block_size // 8
    assert re.search(r'sample bfloat16, 2 x 24 new tokens, window_shift=1: ' + speed + '\n', out)
    assert re.search(r'sample bfloat16, 2 x the first 15 new tokens \(before the window is full\): ' + speed, out)
    assert re.search(r'sample bfloat16, 1 x 24 new tokens, window_shift=2: ' + speed, out)  # one per batch size


def test_train_loop_reads_the_device_only_at_log_lines(shakespeare_char, tmp_path, monkeypatch):
    """train.py in-process with every Tensor.item/.tolist counted: the host reads a training step's tensors
    only for a log line; every other step reads the flags of the step before (a host copy, late=True)."""
    from nanogpt import stopping

    reads, flag_reads = [], []
    for name in ('item', 'tolist'):
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda t, real=real, name=name: reads.append(name) or real(t))
    real_read = stopping.Flags.read
    monkeypatch.setattr(stopping.Flags, 'read', lambda self, late: flag_reads.append(late) or real_read(self, late))
    run(['train.py'] + TINY + [f'--out_dir={tmp_path}', '--max_iters=29', '--log_interval=10',
                               '--eval_interval=1000'])
    # 30 steps (0..29): flags read at once for the log lines of 0, 10, 20 and for the last step, late otherwise
    assert len(flag_reads) == 30 and flag_reads.count(False) == 4
    # the evaluation at iter 0 (2 splits x (2 batches + the mean)) and one loss per log line: nothing per step
    assert len(reads) == 2 * 3 + 3, reads


def test_bench_rejects_unknown_sdpa_backend():
    p = run(['bench.py', '--device=cpu', '--sdpa_backend=flash2'], expect=2)
    assert p.stderr.strip() == ("error: sdpa_backend must be one of flash, cudnn, mem_efficient, math or '', "
                                "not 'flash2'")


def test_chunked_loss_equals_the_plain_loss_and_gradients():
    """loss_chunk: the same loss and gradients as materialising all logits, within float32 rounding, with
    ignored targets (-1) and a chunk that does not divide the positions; no logits are returned."""
    cfg = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=65, bias=False)
    torch.manual_seed(0)
    plain = GPT(GPTConfig(**cfg))
    chunked = GPT(GPTConfig(**cfg, loss_chunk=10))
    chunked.load_state_dict(plain.state_dict())
    x, y = torch.randint(65, (3, 16)), torch.randint(65, (3, 16))
    y[0, :5] = -1
    (_, loss_a), (logits, loss_b) = plain(x, y), chunked(x, y)
    assert logits is None and abs(loss_a.item() - loss_b.item()) < 1e-5
    loss_a.backward()
    loss_b.backward()
    for (name, a), b in zip(plain.named_parameters(), chunked.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), name
    with torch.no_grad():  # evaluation: the plain path, logits included
        assert chunked(x, y)[0].shape == (3, 16, 65)
