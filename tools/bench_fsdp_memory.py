"""
Peak memory per rank of DDP against FSDP (train.py's --fsdp=True), on the CPU with gloo: a gpt2-medium-shaped
model (24 layers, 16 heads, 1024 wide, vocab 50304: 354M parameters) trained a few iterations on random tokens
by 2 ranks, wrapped as train.py wraps it (DDP, or nanogpt.parallel.shard), fused AdamW, fp32.

Per rank it prints the bytes held by its weights, gradients and AdamW states (local shards under FSDP) after an
update, and the process's peak resident memory (getrusage's max RSS: everything, including torch itself and
DDP's gradient buckets), then FSDP's share of DDP's. Activations are kept small (batch 1, block 64).

  OMP_NUM_THREADS=1 python tools/bench_fsdp_memory.py             # both, one after the other (~14 GB at peak)
  OMP_NUM_THREADS=1 python tools/bench_fsdp_memory.py --n_layer=4  # a smaller trial
"""
import argparse
import json
import os
import resource
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')

p = argparse.ArgumentParser()
p.add_argument('--n_layer', type=int, default=24)
p.add_argument('--n_head', type=int, default=16)
p.add_argument('--n_embd', type=int, default=1024)
p.add_argument('--vocab_size', type=int, default=50304)
p.add_argument('--iters', type=int, default=3)
p.add_argument('--nproc', type=int, default=2)
p.add_argument('--worker', choices=['ddp', 'fsdp'], help=argparse.SUPPRESS)
args = p.parse_args()


def gib(n):
    return n / 2**30


def worker(kind):
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from model import GPT, GPTConfig
    from nanogpt import parallel
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    torch.manual_seed(1337 + rank)
    model = GPT(GPTConfig(n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, block_size=64,
                          vocab_size=args.vocab_size, dropout=0.0, bias=False))
    if kind == 'fsdp':
        model = parallel.shard(model, 'cpu', 'float32', compile=False)
    optimizer = model.configure_optimizers(0.1, 1e-4, (0.9, 0.95), 'cpu')
    if kind == 'ddp':
        model = DDP(model)
    for _ in range(args.iters):
        x = torch.randint(args.vocab_size, (1, 64))
        _, loss = model(x, x)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        held = dict(weights=0, grads=0, adamw=0)
        for param in model.parameters():
            local = parallel.local_shard(param)
            held['weights'] += local.nbytes
            held['grads'] += parallel.local_shard(param.grad).nbytes
            held['adamw'] += sum(parallel.local_shard(t).nbytes for t in optimizer.state[param].values()
                                 if t.dim() > 0)
        optimizer.zero_grad(set_to_none=True)
    held['max_rss'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    held['rank'] = rank
    print('RESULT ' + json.dumps(held), flush=True)
    dist.barrier()
    dist.destroy_process_group()


def run(kind):
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc-per-node={args.nproc}', __file__,
           f'--worker={kind}'] + [f'--{k}={getattr(args, k)}' for k in ('n_layer', 'n_head', 'n_embd', 'vocab_size',
                                                                       'iters')]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    rows = [json.loads(line[7:]) for line in p.stdout.splitlines() if line.startswith('RESULT ')]
    if p.returncode != 0 or len(rows) != args.nproc:
        sys.exit(f"{kind} run failed ({p.returncode}):\n{(p.stdout + p.stderr)[-3000:]}")
    return sorted(rows, key=lambda r: r['rank'])


if args.worker:
    worker(args.worker)
    sys.exit(0)

n_params = 12 * args.n_layer * args.n_embd ** 2 + (args.vocab_size + 64) * args.n_embd  # approx, for the title
print(f"model: {args.n_layer} layers, {args.n_embd} wide, vocab {args.vocab_size} (~{n_params / 1e6:.0f}M params), "
      f"{args.nproc} gloo ranks, fp32, {args.iters} iterations")
results = {kind: run(kind) for kind in ('ddp', 'fsdp')}
print(f"{'':6} {'rank':>4} {'weights':>9} {'grads':>9} {'adamw':>9} {'sum':>9} {'max RSS':>9}   (GiB)")
for kind, rows in results.items():
    for r in rows:
        s = r['weights'] + r['grads'] + r['adamw']
        print(f"{kind:6} {r['rank']:>4} {gib(r['weights']):9.2f} {gib(r['grads']):9.2f} {gib(r['adamw']):9.2f} "
              f"{gib(s):9.2f} {gib(r['max_rss']):9.2f}")
state = {k: max(r['weights'] + r['grads'] + r['adamw'] for r in rows) for k, rows in results.items()}
rss = {k: max(r['max_rss'] for r in rows) for k, rows in results.items()}
print(f"FSDP / DDP per rank: weights+grads+AdamW {state['fsdp'] / state['ddp']:.2f}, "
      f"peak RSS {rss['fsdp'] / rss['ddp']:.2f}")
