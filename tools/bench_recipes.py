"""
The modern recipe against the faithful one and nanoGPT's own, on a CPU, whole processes, in one run:

  pairs     nanoGPT's README CPU recipe (2000 iterations) and config/train_shakespeare_char_cpu_modern.py,
            interleaved, --pairs times: wall time of the whole process and the whole-val-split loss (eval.py,
            the same evaluation for both checkpoints); then both at equal wall time (nanoGPT's recipe with its
            iterations cut to the modern run's time, and the modern recipe given nanoGPT's time).
  ablation  each modern option alone, Muon alone, and all of them, on the CPU recipe's model: val at the
            modern recipe's iterations, and at the wall time of the all-options run.
  chinese   the Chinese reviews with an 8k trained tokenizer: faithful vs modern, bits per byte at equal
            wall time.

  NANOGPT_LOCAL_DATA=../shared/data python tools/bench_recipes.py --nanogpt=../nanoGPT [pairs ablation chinese]

NANOGPT is a checkout of karpathy/nanoGPT (run as it is, never imported). Both sides run in float32 unless
--dtype says otherwise: nanoGPT computes float32 on a CPU, and so does ours on a CPU without native bf16
(CI's AMD EPYC); the CPU's flags are printed with the figures. Needs data/shakespeare_char prepared.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NANOGPT_CPU = ['config/train_shakespeare_char.py', '--device=cpu', '--compile=False', '--eval_iters=20',
               '--log_interval=1', '--block_size=64', '--batch_size=12', '--n_layer=4', '--n_head=4',
               '--n_embd=128', '--max_iters=2000', '--lr_decay_iters=2000', '--dropout=0.0']
MODERN = ['config/train_shakespeare_char.py', 'config/train_shakespeare_char_cpu_modern.py']
OPTIONS = ['--rope=True', '--qk_norm=True', '--relu2=True', '--untied_head=True', '--zero_init=True',
           '--logit_softcap=15.0']

p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
p.add_argument('sections', nargs='*', default=['pairs', 'ablation', 'chinese'])
p.add_argument('--nanogpt', help='a checkout of karpathy/nanoGPT (pairs)')
p.add_argument('--pairs', type=int, default=3, help='interleaved whole-process pairs')
p.add_argument('--dtype', default='float32', help="ours: float32, bfloat16, or 'config' (as the config picks it)")
p.add_argument('--tmp', default=None, help='working folder (default: a new temporary one)')
args = p.parse_args()
tmp = args.tmp or tempfile.mkdtemp(prefix='bench_recipes_')
env = dict(os.environ, PYTHONPATH=ROOT)


def cpu_flags():
    flags = open('/proc/cpuinfo').read() if os.path.exists('/proc/cpuinfo') else ''
    model = re.search(r'model name\s*:\s*(.*)', flags)
    bf16 = 'native bf16' if re.search(r'\b(avx512_bf16|amx_bf16)\b', flags) else 'no native bf16'
    threads = os.environ.get('OMP_NUM_THREADS', 'one per core')
    return (f"{model.group(1) if model else '?'}, {os.cpu_count()} cores, {bf16}, OMP_NUM_THREADS {threads}, "
            f"load {os.getloadavg()[0]:.1f}")


def timed(cmd, cwd=ROOT, log=None):
    """Wall seconds of a whole process (interpreter start-up, imports, training, its final save)."""
    t0 = time.time()
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    dt = time.time() - t0
    if log:
        with open(log, 'w') as f:
            f.write(r.stdout)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}")
    return dt, r.stdout


def val_loss(out_dir, dataset=None):
    """eval.py's whole-val-split loss and bits per byte of out_dir's checkpoint."""
    cmd = [sys.executable, 'eval.py', f'--out_dir={out_dir}', '--device=cpu']
    if dataset:
        cmd.append(f'--dataset={dataset}')
    _, out = timed(cmd)
    m = re.search(r'loss ([0-9.]+), perplexity [0-9.]+, bits per byte ([0-9.]+)', out)
    return float(m.group(1)), float(m.group(2))


def ours(out, *extra, base=MODERN):
    dtype = [] if args.dtype == 'config' else [f'--dtype={args.dtype}']
    dt, log = timed([sys.executable, 'train.py', *base, f'--out_dir={out}', '--overwrite_checkpoint=True',
                     *dtype, *extra], log=out + '.log')
    iters = [int(i) for i in re.findall(r'^iter (\d+):', log, re.M)]
    return dt, iters[-1] + 1 if iters else 0


def nanogpt(out, *extra):
    src = os.path.abspath(args.nanogpt)
    work = os.path.join(tmp, 'nanoGPT')
    if not os.path.exists(work):  # a copy whose data/shakespeare_char is ours (the same char-level format)
        shutil.copytree(src, work, ignore=shutil.ignore_patterns('.git'))
        for f in ('train.bin', 'val.bin', 'meta.pkl'):
            dst = os.path.join(work, 'data', 'shakespeare_char', f)
            if os.path.lexists(dst):
                os.remove(dst)
            os.symlink(os.path.join(ROOT, 'data', 'shakespeare_char', f), dst)
    dt, _ = timed([sys.executable, 'train.py', *NANOGPT_CPU, f'--out_dir={out}', *extra], cwd=work,
                  log=out + '.log')
    return dt


print(f"CPU: {cpu_flags()}; dtype {args.dtype}; working in {tmp}")
results = {}

if 'pairs' in args.sections:
    if not args.nanogpt:
        sys.exit("pairs needs --nanogpt=PATH, a checkout of karpathy/nanoGPT")
    rows = []
    for i in range(args.pairs):
        t_ng = nanogpt(f'{tmp}/ng{i}')
        t_m, _ = ours(f'{tmp}/modern{i}')
        rows.append((t_ng, val_loss(f'{tmp}/ng{i}', 'shakespeare_char')[0], t_m, val_loss(f'{tmp}/modern{i}')[0]))
        print(f"pair {i}: nanoGPT {rows[-1][0]:.1f} s val {rows[-1][1]:.4f} | modern {rows[-1][2]:.1f} s "
              f"val {rows[-1][3]:.4f} | time ratio {rows[-1][2] / rows[-1][0]:.3f}  (load {os.getloadavg()[0]:.1f})")
    med = lambda xs: sorted(xs)[len(xs) // 2]
    t_ng, l_ng, t_m, l_m = (med([r[k] for r in rows]) for k in range(4))
    print(f"median: nanoGPT {t_ng:.1f} s val {l_ng:.4f}; modern {t_m:.1f} s val {l_m:.4f}; "
          f"modern/nanoGPT wall time {t_m / t_ng:.3f}")
    # equal wall time: each recipe's iteration count scaled to the other's time (its schedule then ends there)
    startup = 2.0  # seconds of start-up and final save (a run of --max_iters=0), about the same for both
    k = max(10, int(2000 * (t_m - startup) / (t_ng - startup)))
    t_k = nanogpt(f'{tmp}/ng_short', f'--max_iters={k}', f'--lr_decay_iters={k}')
    l_k = val_loss(f'{tmp}/ng_short', 'shakespeare_char')[0]
    m_iters = int(re.search(r"max_iters = (\d+)", open(os.path.join(ROOT, MODERN[1])).read()).group(1))
    n = int(m_iters * (t_ng - startup) / (t_m - startup))
    t_n, _ = ours(f'{tmp}/modern_long', f'--max_iters={n}', f'--lr_decay_iters={n}', f'--eval_interval={n}')
    l_n = val_loss(f'{tmp}/modern_long')[0]
    print(f"equal wall time ~{t_m:.0f} s: nanoGPT ({k} iterations, {t_k:.1f} s) val {l_k:.4f} vs modern {l_m:.4f}")
    print(f"equal wall time ~{t_ng:.0f} s: modern ({n} iterations, {t_n:.1f} s) val {l_n:.4f} vs nanoGPT {l_ng:.4f}")
    results['pairs'] = dict(rows=rows, nanogpt_short=(k, t_k, l_k), modern_long=(n, t_n, l_n))

if 'ablation' in args.sections:
    cfg = open(os.path.join(ROOT, MODERN[1])).read()
    m_iters = int(re.search(r"max_iters = (\d+)", cfg).group(1))
    off = [o.replace('True', 'False').replace('15.0', '0.0') for o in OPTIONS] + ['--optimizer=adamw']
    variants = [('none (AdamW, GPT-2)', off)]
    for i, o in enumerate(OPTIONS):
        variants.append((o[2:].split('=')[0], off[:i] + [o] + off[i + 1:]))
    variants += [('muon', off[:-1] + ['--optimizer=muon']), ('all', [])]
    runs = {}
    for name, extra in variants:
        out = f'{tmp}/abl_{re.sub(r"[^a-z0-9]+", "_", name)}'
        dt, iters = ours(out, *extra)
        runs[name] = (extra, dt, val_loss(out)[0])
    budget = runs['all'][1]
    print(f"{'options':22} {'val @' + str(m_iters) + ' it':>12} {'time s':>7} {'val @' + format(budget, '.0f') + ' s':>10}"
          f" {'iters':>6}")
    for name, (extra, dt, loss) in runs.items():
        # the same wall time as all options: iterations scaled by this variant's own time per run
        n = max(10, int(m_iters * budget / dt))
        out = f'{tmp}/ablt_{re.sub(r"[^a-z0-9]+", "_", name)}'
        if name == 'all':
            loss_t = loss
        else:
            ours(out, *extra, f'--max_iters={n}', f'--lr_decay_iters={n}', f'--eval_interval={n}')
            loss_t = val_loss(out)[0]
        print(f"{name:22} {loss:12.4f} {dt:7.1f} {loss_t:10.4f} {n:6d}")
        results.setdefault('ablation', {})[name] = dict(val_at_iters=loss, seconds=dt, val_at_time=loss_t, iters=n)

if 'chinese' in args.sections:
    shared = os.environ.get('NANOGPT_LOCAL_DATA') or os.path.join(ROOT, '..', 'shared', 'data')
    corpus = os.path.join(shared, 'zh_reviews')
    tok, data = f'{tmp}/zh8k', f'{tmp}/zh8k_data'
    timed([sys.executable, 'data/train_tokenizer.py', corpus, '--vocab_size=8000', f'--out_dir={tok}'])
    timed([sys.executable, 'data/prepare_local.py', corpus, f'--tokenizer={tok}/tokenizer.json',
           f'--out_dir={data}', '--val_fraction=0.05'])
    base = ['config/train_shakespeare_char.py', 'config/train_shakespeare_char_cpu.py', f'--dataset={data}',
            '--eval_interval=100000']
    t_f, iters_f = ours(f'{tmp}/zh_faithful', '--max_iters=600', '--lr_decay_iters=600', base=base)
    bpb_f = val_loss(f'{tmp}/zh_faithful', data)[1]
    # the modern recipe, its iterations set so that its whole process takes the faithful run's time
    t_probe, _ = ours(f'{tmp}/zh_probe', '--max_iters=100', '--lr_decay_iters=100', '--eval_interval=100',
                      f'--dataset={data}')
    n = int(100 * t_f / t_probe)
    t_m, _ = ours(f'{tmp}/zh_modern', f'--max_iters={n}', f'--lr_decay_iters={n}', f'--eval_interval={n}',
                  f'--dataset={data}')
    bpb_m = val_loss(f'{tmp}/zh_modern', data)[1]
    print(f"Chinese reviews, 8k trained tokenizer: faithful 600 iterations {t_f:.1f} s {bpb_f:.4f} bits/byte; "
          f"modern {n} iterations {t_m:.1f} s {bpb_m:.4f} bits/byte")
    results['chinese'] = dict(faithful=(600, t_f, bpb_f), modern=(n, t_m, bpb_m))

print(json.dumps(results))
