"""
Speed of the model on this machine: training ms/iter, tokens/s and MFU, and sampling tokens/s with and
without the KV cache. No checkpoints, no logging: only the timed work.

$ python bench.py                                              # GPT-2 124M training step, synthetic data
$ python bench.py config/bench_shakespeare_char_cpu.py         # the CPU recipe, fp32 vs bf16, interleaved
$ python bench.py config/bench_shakespeare_char.py --mode=sample --device=cpu   # cached vs uncached
$ python bench.py --mode=sample --num_samples=1,4,16,64       # GPT-2 124M decode, a sweep of batch sizes

Several dtypes (--dtype=float32,bfloat16) are timed in turns, round after round, so that other work on the
machine slows each of them alike; the ratio to the first is printed.
"""

import os
import time

import numpy as np
import torch

from configurator import configure
from model import GPT, GPTConfig, default_window_shift
from nanogpt.optim import build_optimizer
from nanogpt.dataset import bin_dtype, dataset_dir, load_meta
from nanogpt.device import autocast_context, peak_flops, setup
from nanogpt.errors import exit_on_bad_input, fail

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

# -----------------------------------------------------------------------------
mode = 'train'  # 'train', 'sample' or 'both'
# model, GPT-2 124M by default
n_layer = 12
n_head = 12
n_embd = 768
block_size = 1024
bias = False
dropout = 0.0
loss_chunk = 0  # the training loss in chunks of this many positions, never all logits at once (model.py)
vocab_size = 50304  # ignored with a dataset that has a meta.pkl
modern = False  # every modern option of model.py on, and Muon (config/*_modern.py's recipe)
# training
dataset = ''  # '' for random tokens, else batches from data/<dataset>/train.bin
batch_size = 12
rounds = 5  # timed rounds; each dtype runs iters_per_round iterations per round
iters_per_round = 10
warmup = 5  # untimed iterations first (compilation, allocator, caches)
# sampling
num_samples = '1'  # sequences generated together as one batch; several, e.g. '1,8,64': one run per batch size
max_new_tokens = 500
prompt_len = 1
window_shift = None  # past block_size tokens; None: sample.py's default, block_size // 8
# system
device = 'cuda' if torch.cuda.is_available() else 'cpu'
dtype = 'bfloat16' if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else 'float32'
compile = torch.cuda.is_available()  # training step and decode step, as on a GPU; on a CPU compiling takes minutes
compile_mode = 'default'  # torch.compile's mode for the training step: default, max-autotune-no-cudagraphs, ...
sdpa_backend = ''  # '' lets PyTorch choose; else only this attention kernel: flash, cudnn, mem_efficient, math
threads = 0  # torch CPU threads; 0 keeps torch's default (one per core)
seed = 1337
# -----------------------------------------------------------------------------
configure(globals(), nullable=('window_shift',))
# -----------------------------------------------------------------------------

if mode not in ('train', 'sample', 'both'):
    fail(f"mode must be train, sample or both, not {mode!r}")
dtypes = dtype.split(',')
for d in dtypes:
    device_type, _ = setup(device, d)  # each dtype checked; every one gets its own autocast below
if threads:
    torch.set_num_threads(threads)
if sdpa_backend:
    kernels = ('flash', 'cudnn', 'mem_efficient', 'math')
    if sdpa_backend not in kernels:
        fail(f"sdpa_backend must be one of {', '.join(kernels)} or '', not {sdpa_backend!r}")
    for k in kernels:
        getattr(torch.backends.cuda, f'enable_{k}_sdp')(k == sdpa_backend)
torch.manual_seed(seed)
ptdtypes = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}


def sync():
    if device_type == 'cuda':
        torch.cuda.synchronize()


if dataset:
    data_dir = dataset_dir(dataset, splits=('train',))
    meta = load_meta(data_dir)
    vocab_size = meta['vocab_size'] if meta else vocab_size
    data = np.memmap(os.path.join(data_dir, 'train.bin'), dtype=bin_dtype(data_dir), mode='r')  # may be 17 GB

    def get_batch():
        ix = torch.randint(len(data) - block_size, (batch_size,)).tolist()
        w = torch.stack([torch.from_numpy(data[i:i + block_size + 1].astype(np.int64)) for i in ix])
        return w[:, :-1].to(device), w[:, 1:].contiguous().to(device)
else:
    def get_batch():
        x = torch.randint(vocab_size, (batch_size, block_size + 1), device=device)
        return x[:, :-1], x[:, 1:].contiguous()

config = GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size, bias=bias,
                   vocab_size=vocab_size, dropout=dropout, loss_chunk=loss_chunk,
                   **(dict(rope=True, qk_norm=True, relu2=True, untied_head=True, zero_init=True,
                           logit_softcap=15.0) if modern else {}))
print(f"device {device} ({torch.cuda.get_device_name() if device_type == 'cuda' else 'cpu'}), "
      f"{torch.get_num_threads()} CPU threads, model {n_layer}x{n_head}x{n_embd}, block {block_size}")

if mode in ('train', 'both'):
    runs = {}
    for d in dtypes:
        torch.manual_seed(seed)
        model = GPT(config).to(device)
        optimizer = build_optimizer(model, 'muon' if modern else 'adamw', 6e-4, 0.1, (0.9, 0.95), device_type, d)
        step_model = torch.compile(model, mode=compile_mode) if compile else model
        runs[d] = dict(model=model, step_model=step_model, optimizer=optimizer, times=[], cpu_times=[], losses=[])

    def train_iters(r, d, n):
        for _ in range(n):
            X, Y = get_batch()
            with autocast_context(device_type, d):
                _, loss = r['step_model'](X, Y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(r['model'].parameters(), 1.0)
            r['optimizer'].step()
            r['optimizer'].zero_grad(set_to_none=True)
        r['losses'].append(loss.item())

    for d, r in runs.items():
        train_iters(r, d, warmup)
    for _ in range(rounds):
        for d, r in runs.items():
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            train_iters(r, d, iters_per_round)
            sync()
            r['times'].append((time.perf_counter() - t0) / iters_per_round)
            r['cpu_times'].append((time.process_time() - c0) / iters_per_round)
    tokens = batch_size * block_size
    base = base_cpu = None
    for d, r in runs.items():
        dt, cpu = float(np.median(r['times'])), float(np.median(r['cpu_times']))
        base, base_cpu = base or dt, base_cpu or cpu
        peak = peak_flops(device_type, ptdtypes[d])
        mfu = r['model'].estimate_mfu(batch_size, dt, peak)
        # CPU time of this process: on a shared machine a steadier measure than wall time (with one thread)
        cpu_note = f"; CPU time {cpu * 1000:.2f} ms/iter, {base_cpu / cpu:.2f}x" if device_type == 'cpu' else ''
        print(f"train {d:>8}: {dt * 1000:8.2f} ms/iter (median of {rounds} rounds of {iters_per_round}), "
              f"{tokens / dt:10,.0f} tokens/s, MFU {mfu * 100:5.1f}% of {peak / 1e12:.3g} TFLOPS, "
              f"{base / dt:.2f}x the first, loss {r['losses'][-1]:.3f}{cpu_note}")

if mode in ('sample', 'both'):
    model = GPT(config).to(device).eval()
    if compile:  # the decode step, compiled once: on a GPU a CUDA graph (mode='reduce-overhead')
        model.compile_decode()
    d = dtypes[-1]
    shift = window_shift or default_window_shift(block_size)  # sample.py's default
    in_window = min(block_size - prompt_len, max_new_tokens)
    cases = ((max_new_tokens, shift, f"{max_new_tokens} new tokens, window_shift={shift}"),
             (max_new_tokens, 1, f"{max_new_tokens} new tokens, window_shift=1"),
             (in_window, 1, f"the first {in_window} new tokens (before the window is full)"))
    batch_sizes = [int(b) for b in str(num_samples).split(',')]
    prompts = {b: torch.randint(vocab_size, (b, prompt_len), device=device) for b in batch_sizes}

    def tokens_per_s(b, n, window_shift, use_cache):
        torch.manual_seed(seed)
        sync()
        t0 = time.perf_counter()
        with autocast_context(device_type, d):
            model.generate(prompts[b], n, temperature=1.0, top_k=200, use_cache=use_cache, window_shift=window_shift)
        sync()
        return b * n / (time.perf_counter() - t0)

    runs = list(dict.fromkeys((b, n, k, c) for b in batch_sizes for n, k, _ in cases for c in (False, True)))
    for r in runs:  # warm-up: every shape that is timed, once (first kernel launches, compilation, CUDA graphs)
        tokens_per_s(*r)
    speed = {r: tokens_per_s(*r) for r in runs}
    for b in batch_sizes:
        reference = speed[b, max_new_tokens, 1, False]  # nanoGPT's way: every step runs the last block_size tokens
        for n, k, what in cases:
            uncached, cached = speed[b, n, k, False], speed[b, n, k, True]
            note = f"; {cached / reference:.1f}x nanoGPT's uncached window_shift=1" if k > 1 else ''
            print(f"sample {d}, {b} x {what}: uncached {uncached:,.0f} tokens/s, "
                  f"KV cache {cached:,.0f} tokens/s ({cached / uncached:.1f}x){note}")
