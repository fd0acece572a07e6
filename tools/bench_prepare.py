"""
Benchmark the local-corpus route (data/prepare_local.py) against the reference's Hugging Face recipe
(load_dataset('json') + train_test_split + map(encode_ordinary + EOT, num_proc) + a memmap write loop)
on the same documents: tokens per second and peak extra disk (output folder plus, for datasets, its
cache, polled every 0.2 s) relative to the final .bin size. Everything lives in a temporary folder.

  NANOGPT_LOCAL_DATA=../shared/data python tools/bench_prepare.py --mb=110 --num_proc=2
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from nanogpt.localdata import local_copy
from nanogpt.tokenizer import GPT2_EOT, gpt2_encoding

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')

p = argparse.ArgumentParser()
p.add_argument('--mb', type=float, default=110, help='megabytes of text to generate')
p.add_argument('--num_proc', type=int, default=2)
p.add_argument('--tmp', default=None, help='folder for the corpus, outputs and cache (default: a new temp folder)')
p.add_argument('--route', default='both', help=argparse.SUPPRESS)  # 'hf': the child that runs the reference route
p.add_argument('--files', nargs='*', help=argparse.SUPPRESS)
p.add_argument('--out', help=argparse.SUPPRESS)
p.add_argument('--cache', help=argparse.SUPPRESS)
args = p.parse_args()


def disk_usage(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


class PeakDisk:
    """Peak disk usage of some folders while the block runs."""

    def __init__(self, *paths):
        self.paths, self.peak, self.done = paths, 0, threading.Event()

    def poll(self):
        while not self.done.is_set():
            self.peak = max(self.peak, sum(disk_usage(p) for p in self.paths))
            self.done.wait(0.2)

    def __enter__(self):
        self.t = threading.Thread(target=self.poll, daemon=True)
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.t.join()
        self.peak = max(self.peak, sum(disk_usage(p) for p in self.paths))


def make_corpus(folder, mb):
    """Documents of 1-8 KB cut at random from tiny shakespeare and the Tang poems, in .jsonl files of ~10 MB."""
    shakespeare = open(local_copy('tinyshakespeare/input.txt') or 'data/shakespeare_char/input.txt', encoding='utf-8').read()
    tang_dir = local_copy('tang_poems')
    poems = ''.join('\n'.join([e['title']] + e['paragraphs']) + '\n\n'
                    for n in range(0, 58000, 1000) for e in json.load(open(f'{tang_dir}/poet.tang.{n}.json', encoding='utf-8')))
    rng = random.Random(0)
    os.makedirs(folder)
    size, files, f = 0, [], None
    while size < mb * 1e6:
        if f is None or f.tell() > 10e6:
            if f:
                f.close()
            files.append(os.path.join(folder, f'part{len(files):03d}.jsonl'))
            f = open(files[-1], 'w', encoding='utf-8')
        src = shakespeare if rng.random() < 0.7 else poems
        n = rng.randint(1000, 8000)
        i = rng.randrange(len(src) - n)
        line = json.dumps({'text': src[i:i + n]}, ensure_ascii=False) + '\n'
        f.write(line)
        size += len(src[i:i + n].encode('utf-8'))
    f.close()
    return files, size


def reference_route(files, out, cache, num_proc):
    """The reference's openwebtext recipe, on local jsonl files."""
    from datasets import load_dataset
    ds = load_dataset('json', data_files=files, split='train', cache_dir=cache, num_proc=num_proc)
    split = ds.train_test_split(test_size=0.0005, seed=2357, shuffle=True)
    split['val'] = split.pop('test')
    enc = gpt2_encoding()

    def process(example):
        ids = enc.encode_ordinary(example['text'])
        ids.append(GPT2_EOT)
        return {'ids': ids, 'len': len(ids)}
    tokenized = split.map(process, remove_columns=['text'], num_proc=num_proc)
    os.makedirs(out, exist_ok=True)
    for name, dset in tokenized.items():
        arr_len = int(np.sum(dset['len'], dtype=np.uint64))
        arr = np.memmap(os.path.join(out, f'{name}.bin'), dtype=np.uint16, mode='w+', shape=(arr_len,))
        n_batches = min(1024, len(dset))
        idx = 0
        for b in range(n_batches):
            batch = dset.shard(num_shards=n_batches, index=b, contiguous=True).with_format('numpy')
            chunk = np.concatenate(batch['ids'])
            arr[idx:idx + len(chunk)] = chunk
            idx += len(chunk)
        arr.flush()


def timed(cmd, *watch):
    """Run cmd; return (wall seconds, CPU seconds of it and its children, peak disk of the watched folders)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with PeakDisk(*watch) as disk:
        t0 = time.time()
        subprocess.run(cmd, check=True)
        wall = time.time() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), disk.peak


if args.route == 'hf':  # run as a child of the benchmark, so its CPU time is measured like the other's
    reference_route(args.files, args.out, args.cache, args.num_proc)
    sys.exit(0)

tmp = args.tmp or tempfile.mkdtemp(prefix='bench_prepare_')
print(f"working in {tmp}")
t0 = time.time()
files, nbytes = make_corpus(os.path.join(tmp, 'corpus'), args.mb)
print(f"corpus: {len(files)} .jsonl files, {nbytes / 1e6:.1f} MB of text ({time.time() - t0:.0f}s to make)")

results = {}
out = os.path.join(tmp, 'local')
wall, cpu, peak = timed([sys.executable, 'data/prepare_local.py', *files, f'--out_dir={out}', '--val_fraction=0.0005',
                         f'--num_proc={args.num_proc}'], out)
results['local route'] = (sum(os.path.getsize(os.path.join(out, f'{s}.bin')) for s in ('train', 'val')) // 2,
                          wall, cpu, peak, disk_usage(out))
out, cache = os.path.join(tmp, 'hf'), os.path.join(tmp, 'hf_cache')
wall, cpu, peak = timed([sys.executable, __file__, '--route=hf', f'--num_proc={args.num_proc}', f'--out={out}',
                         f'--cache={cache}', '--files', *files], out, cache)
results['datasets + map'] = (sum(os.path.getsize(os.path.join(out, f'{s}.bin')) for s in ('train', 'val')) // 2,
                             wall, cpu, peak, disk_usage(out))

print(f"\n{'route':<16}{'tokens':>12}{'wall s':>8}{'tokens/s':>12}{'CPU s':>8}{'tokens/CPU s':>14}"
      f"{'peak disk MB':>14}{'.bin MB':>9}{'peak/.bin':>10}")
for name, (tokens, wall, cpu, peak, final) in results.items():
    print(f"{name:<16}{tokens:>12,}{wall:>8.1f}{tokens / wall:>12,.0f}{cpu:>8.1f}{tokens / cpu:>14,.0f}"
          f"{peak / 1e6:>14.1f}{final / 1e6:>9.1f}{peak / final:>10.2f}")
(tl, wl, cl, _, _), (th, wh, ch, _, _) = results['local route'], results['datasets + map']
print(f"local route vs datasets + map: {(tl / wl) / (th / wh):.2f}x the tokens/s (wall clock), "
      f"{(tl / cl) / (th / ch):.2f}x the tokens per CPU second (same token count: {tl == th})")
if not args.tmp:
    import shutil
    shutil.rmtree(tmp)
