"""
Benchmark: prepare a large local corpus (default 1 GB) with GPT-2 BPE and with a trained tokenizer, and print
wall time, tokens, tokens/s and peak RSS of each run.

  python tools/bench_prepare_1gb.py --tokenizer=tok/zh32k/tokenizer.json             # 1 GB, about an hour on 2 cores
  python tools/bench_prepare_1gb.py --tokenizer=tok/zh32k/tokenizer.json --mb=50     # a quick look

The corpus is made from $NANOGPT_LOCAL_DATA (default ../shared/data): the reviews, the Tang poems and tiny
shakespeare, cut into documents, shuffled and repeated (each copy with its number, so no two documents are
the same text) into .jsonl.gz files of about 64 MB of text; it is written once under --work and reused.
Peak RSS is that of the largest single process (the prepare script or one of its --num_proc workers), read
with getrusage in a wrapper process; the whole run uses at most about num_proc + 1 times that.
"""
import argparse
import glob
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--tokenizer', required=True, help='a tokenizer.json made by data/train_tokenizer.py')
p.add_argument('--mb', type=float, default=1000, help='megabytes of UTF-8 text in the corpus')
p.add_argument('--work', default='/tmp/nanogpt-bench-prepare', help='where the corpus and the datasets go')
p.add_argument('--num_proc', type=int, default=os.cpu_count())
p.add_argument('--only', choices=['gpt2', 'trained'], help='run one of the two')
args = p.parse_args()

data = os.environ.get('NANOGPT_LOCAL_DATA', os.path.join(ROOT, '..', 'shared', 'data'))
corpus = os.path.join(args.work, f'corpus-{args.mb:g}mb')


def source_documents():
    docs = [json.loads(line)['text'] for line in open(os.path.join(data, 'zh_reviews', 'reviews.jsonl'), encoding='utf-8')]
    for f in sorted(glob.glob(os.path.join(data, 'tang_poems', 'poet.tang.*.json'))):
        docs += ['\n'.join([p['title'], *p['paragraphs']]) for p in json.load(open(f, encoding='utf-8'))]
    text = open(os.path.join(data, 'tinyshakespeare', 'input.txt'), encoding='utf-8').read()
    docs += [text[i:i + 4000] for i in range(0, len(text), 4000)]
    return docs


def make_corpus():
    if os.path.exists(os.path.join(corpus, 'done')):
        return
    shutil.rmtree(corpus, ignore_errors=True)
    os.makedirs(corpus)
    docs = source_documents()
    rng = random.Random(0)
    target, written, part, copy = args.mb * 1e6, 0, 0, 0
    t0 = time.time()
    while written < target:
        with gzip.open(os.path.join(corpus, f'part-{part:04d}.jsonl.gz'), 'wt', encoding='utf-8', compresslevel=1) as f:
            size = 0
            while size < 64e6 and written + size < target:
                rng.shuffle(docs)
                for d in docs:
                    line = json.dumps({'text': f'{copy}. {d}'}, ensure_ascii=False) + '\n'
                    f.write(line)
                    size += len(line.encode('utf-8'))
                    if written + size >= target:
                        break
                copy += 1
        written += size
        part += 1
    open(os.path.join(corpus, 'done'), 'w').close()
    print(f"wrote {written / 1e6:,.0f} MB of JSON lines in {part} .jsonl.gz files to {corpus} ({time.time() - t0:.0f}s)")


WRAP = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True); sys.exit(r.returncode)")


def bench(name, tokenizer):
    out = os.path.join(args.work, f'ds-{name}')
    cmd = [sys.executable, '-c', WRAP, sys.executable, os.path.join(ROOT, 'data', 'prepare_local.py'), corpus,
           f'--out_dir={out}', f'--tokenizer={tokenizer}', f'--num_proc={args.num_proc}', '--overwrite']
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if r.returncode != 0:
        sys.exit(f"{name}: prepare failed:\n{r.stderr[-2000:]}")
    rss = int(r.stdout.split('PEAK_RSS_KB')[1].split()[0])
    s = json.load(open(os.path.join(out, 'summary.json')))
    tokens = s['train_tokens'] + s['val_tokens']
    print(f"{name:<8} {s['characters']:>14,} chars {tokens:>14,} tokens {wall:>8.1f}s {tokens / wall:>12,.0f} tokens/s "
          f"{s['characters'] / wall:>12,.0f} chars/s  peak RSS {rss / 1024:,.0f} MB  ({tokens / s['characters']:.3f} tokens/char)")
    shutil.rmtree(out)


make_corpus()
print(f"prepare_local.py on {corpus} with --num_proc={args.num_proc}:")
for name, tok in (('gpt2', 'gpt2'), ('trained', os.path.abspath(args.tokenizer))):
    if args.only in (None, name):
        bench(name, tok)
