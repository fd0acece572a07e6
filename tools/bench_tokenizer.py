"""
Benchmark a trained tokenizer's data step (data/train_tokenizer.py, data/prepare_local.py), all figures from one run:

 1. prepare throughput on the same Chinese corpus (the shared reviews, repeated), whole process, one process:
    GPT-2 BPE, the trained tokenizer through tiktoken (as prepare_local.py now runs it) and through tokenizers;
    then tiktoken's encode alone, and riptoken's (another BPE core) where it is installed;
 2. 2 processes against 1 on a corpus of --mb megabytes (default 110), the trained tokenizer through tiktoken, in
    --pairs runs of each taken in turn (a shared machine's speed drifts: the median of the pairs' ratios counts);
 3. ids identical to tokenizers' on every document: per document, and the two datasets of 1. byte for byte;
 4. train_tokenizer.py on --train_chars characters (default 100 M) of repeated text, and on --distinct_chars of
    distinct clauses (the trainer's memory grows with the distinct pre-tokens): wall time and peak RSS.

  NANOGPT_LOCAL_DATA=../shared/data python tools/bench_tokenizer.py [--tokenizer=tok/zh32k/tokenizer.json]

Without --tokenizer a 32k one is trained on the reviews first. Wall times include the interpreter's start and
imports, as a user sees them; CPU seconds are the process's and its workers'; peak RSS is the largest process's.
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from nanogpt.localdata import local_copy

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
p = argparse.ArgumentParser()
p.add_argument('--tokenizer', default=None, help='a trained tokenizer.json (default: train a 32k one on the reviews)')
p.add_argument('--copies', type=int, default=3, help='times the reviews are repeated for figures 1 and 3')
p.add_argument('--repeats', type=int, default=2, help='rounds of figure 1 (each prepare once, in turn): the best of each, and the median ratio')
p.add_argument('--mb', type=float, default=110, help='megabytes of corpus for figure 2 (0: skip it)')
p.add_argument('--pairs', type=int, default=3, help='runs of 1 and of 2 processes in figure 2, in turn')
p.add_argument('--train_chars', type=float, default=100e6, help='characters of repeated text for figure 4 (0: skip)')
p.add_argument('--distinct_chars', default='1e6,3e6', help='sizes of distinct text for figure 4 ("": skip)')
p.add_argument('--tmp', default=None, help='working folder (default: a new temporary one, removed at the end)')
args = p.parse_args()

tmp = args.tmp or tempfile.mkdtemp(prefix='bench_tokenizer_')
rng = random.Random(0)
os.makedirs(tmp, exist_ok=True)
REVIEWS = [json.loads(line)['text'] for line in open(local_copy('zh_reviews/reviews.jsonl'), encoding='utf-8')]
print(f"working in {tmp}; CPU: {os.cpu_count()} cores, "
      f"{next((ln.split(':', 1)[1].strip() for ln in open('/proc/cpuinfo') if ln.startswith('model name')), '?')}")


def loadavg():
    return open('/proc/loadavg').read().split()[0]


def measure(cmd):
    """Run cmd in the project's root; (wall s, what it printed). A failure ends the benchmark."""
    t0 = time.time()
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.time() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{err[-2000:]}")
    return wall, out + err


def timed(cmd):
    """measure() through a child that reports its children's rusage: (wall, CPU s, peak RSS MB, output)."""
    probe = ("import resource, subprocess, sys, time; t = time.time(); r = subprocess.run(sys.argv[1:]); "
             "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
             "print(f'@@ {time.time() - t} {u.ru_utime + u.ru_stime} {u.ru_maxrss / 1024}', file=sys.stderr); "
             "sys.exit(r.returncode)")
    _, out = measure([sys.executable, '-c', probe, *cmd])
    wall, cpu, rss = map(float, re.search(r'@@ (\S+) (\S+) (\S+)', out).groups())
    return wall, cpu, rss, out


def timed_prepare(argv):
    """prepare_local.py argv run inside a child that then reports: (wall, CPU s of the main process, CPU s of its
    workers, peak RSS MB of the largest process)."""
    probe = ("import resource, runpy, sys, time; t = time.time(); sys.argv = sys.argv[1:]; "
             "runpy.run_path(sys.argv[0], run_name='__main__'); s = resource.getrusage(resource.RUSAGE_SELF); "
             "c = resource.getrusage(resource.RUSAGE_CHILDREN); print(f'@@ {time.time() - t} {s.ru_utime + s.ru_stime} "
             "{c.ru_utime + c.ru_stime} {max(s.ru_maxrss, c.ru_maxrss) / 1024}', file=sys.stderr)")
    relay = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"  # Linux keeps a process's
    # peak RSS across exec, so the probe must be forked by a small process, not by this one
    _, out = measure([sys.executable, '-c', relay, sys.executable, '-c', probe, 'data/prepare_local.py', *argv])
    return tuple(map(float, re.search(r'@@ (\S+) (\S+) (\S+) (\S+)', out).groups()))


def write_jsonl(path, texts):
    with open(path, 'w', encoding='utf-8') as f:
        for t in texts:
            f.write(json.dumps({'text': t}, ensure_ascii=False) + '\n')


# -----------------------------------------------------------------------------
tok_path = args.tokenizer
if tok_path is None:
    tok_path = os.path.join(tmp, 'zh32k', 'tokenizer.json')
    wall, cpu, rss, out = timed([sys.executable, 'data/train_tokenizer.py', local_copy('zh_reviews/reviews.jsonl'),
                                 '--vocab_size=32000', f'--out_dir={os.path.dirname(tok_path)}'])
    print(f"trained {tok_path} on the reviews in {wall:.1f}s:",
          *[ln for ln in out.splitlines() if ln.startswith(('trained on', 'tiktoken conversion'))], sep='\n  ')
tok_path = os.path.abspath(tok_path)
# the same file beside a report that says the check failed: prepare_local.py then encodes with tokenizers
ref_dir = os.path.join(tmp, 'reference')
os.makedirs(ref_dir, exist_ok=True)
ref_path = os.path.join(ref_dir, 'tokenizer.json')
shutil.copyfile(tok_path, ref_path)
from nanogpt.tokenizer import TrainedTokenizer, gpt2_encoding  # noqa: E402
tok = TrainedTokenizer(tok_path)
with open(os.path.join(ref_dir, 'tokenizer_report.json'), 'w') as f:
    json.dump({'sha256': tok.sha256, 'tiktoken_check': {'equal': False}}, f)
if tok.tiktoken is None:
    sys.exit(f"{tok_path} does not convert to tiktoken: {tok.tiktoken_why}")

# 1. one process, the same corpus, three encoders
corpus = os.path.join(tmp, 'zh.jsonl')
docs = REVIEWS * args.copies
write_jsonl(corpus, docs)
nchars = sum(map(len, docs))
print(f"\n1. prepare_local.py --num_proc=1 on the reviews x{args.copies}: {len(docs):,} documents, {nchars:,} "
      f"characters, {os.path.getsize(corpus) / 1e6:.1f} MB; whole process, best of {args.repeats}, in turn")
runs = {'GPT-2 BPE (tiktoken)': 'gpt2', 'trained 32k, tiktoken': tok_path, 'trained 32k, tokenizers': ref_path}
best, rounds = {}, []
for r in range(args.repeats):
    rounds.append({})
    for name, t in runs.items():
        out_dir = os.path.join(tmp, f'ds-{list(runs).index(name)}')
        shutil.rmtree(out_dir, ignore_errors=True)
        wall, cpu, rss, out = timed([sys.executable, 'data/prepare_local.py', corpus, f'--tokenizer={t}',
                                     f'--out_dir={out_dir}', '--num_proc=1'])
        if 'warning' in out:
            print(' ', [ln for ln in out.splitlines() if 'warning' in ln][0])
        rounds[-1][name] = wall
        if name not in best or wall < best[name][0]:
            best[name] = (wall, cpu, rss, loadavg())
print(f"  {'tokenizer':<26}{'wall s':>8}{'chars/s':>12}{'CPU s':>8}{'chars/CPU s':>13}{'peak RSS MB':>13}{'load':>6}")
for name, (wall, cpu, rss, load) in best.items():
    print(f"  {name:<26}{wall:>8.2f}{nchars / wall:>12,.0f}{cpu:>8.2f}{nchars / cpu:>13,.0f}{rss:>13,.0f}{load:>6}")
g, t, h = (best[n][0] for n in runs)
print(f"  trained through tiktoken vs GPT-2 BPE: {g / t:.2f}x the characters/s (goal >= 0.9x); "
      f"vs through tokenizers: {h / t:.2f}x")
# a shared machine's speed drifts from one run to the next: the ratio within each round, and their median
ratios = sorted(r[list(runs)[0]] / r[list(runs)[1]] for r in rounds)
print(f"  within each round, trained through tiktoken vs GPT-2 BPE: median {statistics.median(ratios):.2f}x "
      f"({', '.join(f'{x:.2f}' for x in ratios)})")

# what bounds that ratio: tiktoken's encode alone, in this process, on the reviews (best of 5 each, in turn), and
# with the same regex and a vocabulary of the 256 bytes alone (the splitting and the first lookups, no merges)
import tiktoken  # noqa: E402
from tiktoken_ext.openai_public import r50k_pat_str  # noqa: E402
encoders = {'GPT-2 BPE': gpt2_encoding(), 'trained 32k': tok.tiktoken,
            '256 bytes': tiktoken.Encoding('bytes', pat_str=r50k_pat_str, special_tokens={},
                                           mergeable_ranks={bytes([b]): b for b in range(256)})}
try:  # another BPE core, where installed (not a dependency): is the ratio tiktoken's or the vocabulary's?
    import riptoken
    for name in ('GPT-2 BPE', 'trained 32k'):
        encoders[f'{name}, riptoken'] = riptoken.CoreBPE(encoders[name]._mergeable_ranks, {}, r50k_pat_str)
except ImportError:
    riptoken = None
alone = {}
for _ in range(5):
    for name, e in encoders.items():
        c0 = time.process_time()
        for d in REVIEWS:
            e.encode_ordinary(d)
        alone[name] = min(alone.get(name, 1e9), time.process_time() - c0)
g, t, b = (alone[n] for n in ('GPT-2 BPE', 'trained 32k', '256 bytes'))
print(f"  tiktoken's encode alone on the reviews, CPU s, best of 5: GPT-2 BPE {g:.3f}, trained {t:.3f}, the 256 bytes "
      f"{b:.3f}: the trained tokenizer encodes at {g / t:.2f}x GPT-2 BPE's speed; its merges alone (each time less the "
      f"256 bytes') at {(g - b) / (t - b):.2f}x")
if riptoken is not None:
    rg, rt = alone['GPT-2 BPE, riptoken'], alone['trained 32k, riptoken']
    same = all(encoders['trained 32k, riptoken'].encode_ordinary(d) == tok.tiktoken.encode_ordinary(d)
               for d in dict.fromkeys(REVIEWS))
    print(f"  riptoken {riptoken.__version__} (installed here, not a dependency), the same: GPT-2 BPE {rg:.3f}, trained "
          f"{rt:.3f}: the trained tokenizer at {rg / rt:.2f}x GPT-2 BPE's speed within riptoken, at {g / rt:.2f}x "
          f"tiktoken's GPT-2 BPE; its ids equal tiktoken's on every review: {same}")

# 3. every document: tiktoken's ids against tokenizers', and the two trained datasets byte for byte
t0 = time.time()
unique = list(dict.fromkeys(docs))
fast, ref = tok.tiktoken.encode_ordinary_batch(unique), tok.encode_ordinary_batch(unique, reference=True)
differ = [i for i in range(len(unique)) if fast[i] != ref[i]]
read = lambda d, s: open(os.path.join(tmp, d, f'{s}.bin'), 'rb').read()  # noqa: E731
same_bins = all(read('ds-1', s) == read('ds-2', s) for s in ('train', 'val'))
print(f"\n3. ids: tiktoken vs tokenizers on every document of the corpus of 1. ({len(docs):,} documents, "
      f"{len(unique):,} distinct texts, {sum(map(len, ref)):,} tokens): {len(differ)} differ"
      + (f", the first {unique[differ[0]][:60]!r}" if differ else "")
      + f"; train.bin and val.bin of the two trained prepares identical: {same_bins} ({time.time() - t0:.0f}s)")
n_gpt2 = sum(len(x) for x in gpt2_encoding().encode_ordinary_batch(unique))
print(f"  tokens per character: trained {sum(map(len, ref)) / sum(map(len, unique)):.3f}, "
      f"GPT-2 BPE {n_gpt2 / sum(map(len, unique)):.3f}")

# 2. 1 vs 2 processes on >= --mb MB: shuffled copies of the reviews, each copy numbered (distinct documents)
if args.mb:
    big = os.path.join(tmp, 'big')
    os.makedirs(big, exist_ok=True)
    size, part, nbig = 0, [], 0
    while size < args.mb * 1e6:
        k = len(part)
        batch = [f"{t} #{k}" for t in rng.sample(REVIEWS, len(REVIEWS))]
        part.append(os.path.join(big, f'part{k:03d}.jsonl'))
        write_jsonl(part[-1], batch)
        size += os.path.getsize(part[-1])
        nbig += sum(map(len, batch))
    print(f"\n2. prepare_local.py, the trained tokenizer through tiktoken, on {len(part)} .jsonl files, "
          f"{size / 1e6:.0f} MB, {nbig:,} characters")
    print(f"  {'pair':<6}{'processes':<11}{'wall s':>8}{'chars/s':>12}{'main CPU s':>12}{'workers CPU s':>15}"
          f"{'busy cores':>12}{'peak RSS MB':>13}  load before->after")
    pair_runs = []  # per pair: {1: the 1-process run, 2: the 2-process run}
    for pair in range(args.pairs):
        rows = {}
        for n in (1, 2):
            out_dir = os.path.join(tmp, f'big-{n}')
            l0 = loadavg()
            rows[n] = timed_prepare([big, f'--tokenizer={tok_path}', f'--out_dir={out_dir}', f'--num_proc={n}'])
            shutil.rmtree(out_dir)
            wall, main, workers, rss = rows[n]
            print(f"  {pair:<6}{n:<11}{wall:>8.1f}{nbig / wall:>12,.0f}{main:>12.1f}{workers:>15.1f}"
                  f"{(main + workers) / wall:>12.2f}{rss:>13,.0f}  {l0}->{loadavg()}")
        pair_runs.append(rows)
    ratios = sorted(r[1][0] / r[2][0] for r in pair_runs)
    rows = sorted(pair_runs, key=lambda r: r[1][0] / r[2][0])[(len(pair_runs) - 1) // 2]  # the median pair
    print(f"  2 processes vs 1: {statistics.median(ratios):.2f}x the characters/s, the median of the pairs' ratios "
          f"({', '.join(f'{r:.2f}' for r in ratios)}; goal >= 1.8x); load average {open('/proc/loadavg').read().strip()}")
    # what the wall-clock ratio is made of: the cores the 2-process run kept busy (its CPU seconds over its wall
    # time; the speed of the cores drifts less within a run than between runs) and its CPU seconds over the
    # 1-process run's (the cost of sharing the work, but also that drift)
    busy = sorted((r[2][1] + r[2][2]) / r[2][0] for r in pair_runs)
    extra = sorted((r[2][1] + r[2][2]) / (r[1][1] + r[1][2]) for r in pair_runs)
    print(f"  medians: 2 processes kept {statistics.median(busy):.2f} cores busy ({', '.join(f'{b:.2f}' for b in busy)})"
          f" at {statistics.median(extra):.3f}x the CPU seconds of 1 process ({', '.join(f'{e:.3f}' for e in extra)})")
    main, workers = rows[2][1:3]
    print(f"  in the 2-process run the main process spent {main:.1f}s of CPU (reading, sending, collecting, writing, "
          f"and encoding whenever the worker had enough queued, and at the end what it had not started), the worker "
          f"{workers:.1f}s")
    # what caps --num_proc, by document length: the main process reads, cuts shards and pickles them; a worker
    # encodes them (through tiktoken, its sample checked). CPU seconds, in this process.
    import pickle
    from nanogpt import prepare
    from nanogpt.corpus import local_documents
    prepare.trained_tokenizer(tok_path)
    prepare._init_worker(tok_path, None, tok.sha256)
    joined = ''.join(REVIEWS)
    write_jsonl(os.path.join(tmp, 'long.jsonl'), [joined[i:i + 2000] for i in range(0, len(joined), 2000)])
    for name, path in (('the reviews', part[0]), ('2,000 characters', os.path.join(tmp, 'long.jsonl'))):
        c0 = time.process_time()
        shards = list(prepare._shards(local_documents([path]), False, prepare.SHARD_CHARS))
        for sh in shards:
            pickle.dumps(sh)
        read = time.process_time() - c0
        c0 = time.process_time()
        for docs, first, _ in shards:
            prepare._encode_shard(docs, first, ('hash', 0.01), True)
        enc = time.process_time() - c0
        n, ndocs = sum(len(t) for docs, _, _ in shards for t in docs), sum(len(docs) for docs, _, _ in shards)
        print(f"  {name} ({n / ndocs:,.0f} characters a document): the main process reads {n / read:,.0f} "
              f"characters per CPU second, a worker encodes {n / enc:,.0f}: {enc / read:.0f} workers per reader")
    shutil.rmtree(big)

# 4. train_tokenizer.py: on --train_chars characters of the reviews repeated (numbered copies: the time to stream
# that much text), and on --distinct_chars of distinct clauses, each a clause of one review joined to the tail of
# another's, so that nearly every pre-token is new, as in real Chinese text (the trainer's memory grows with the
# distinct pre-tokens, which repeating the reviews does not add)
def train_row(name, path, chars):
    l0 = loadavg()
    out_dir = os.path.join(tmp, 'tok-' + name)
    wall, cpu, rss, out = timed([sys.executable, 'data/train_tokenizer.py', path, '--vocab_size=32000',
                                 f'--max_chars={chars}', f'--out_dir={out_dir}'])
    report = json.load(open(os.path.join(out_dir, 'tokenizer_report.json')))
    n = report['trained_on']['characters']
    print(f"  {name:<10}{n:>13,}{wall:>8.0f}{report['train_seconds']:>9.0f}{cpu:>8.0f}{rss:>12,.0f}"
          f"{(rss - 150) / (n / 1e6):>17,.0f}  {l0}->{loadavg()}  tiktoken check equal: "
          f"{report['tiktoken_check']['equal']}, tokens/char held out "
          f"{report['heldout']['tokens_per_char']['trained']}")
    shutil.rmtree(out_dir)


if args.train_chars or args.distinct_chars:
    print("\n4. train_tokenizer.py --vocab_size=32000 --max_chars=N (peak RSS of the process; MB per M chars counts "
          "from a 150 MB base)")
    print(f"  {'text':<10}{'characters':>13}{'wall s':>8}{'train s':>9}{'CPU s':>8}{'peak RSS MB':>12}"
          f"{'MB per M chars':>17}  load before->after")
if args.train_chars:
    path, size, k = os.path.join(tmp, 'repeated.jsonl'), 0, 0
    with open(path, 'w', encoding='utf-8') as f:
        while size < args.train_chars * 1.02:  # a little more than the budget: the run stops at --max_chars
            for t in REVIEWS:
                f.write(json.dumps({'text': f"{t} #{k}"}, ensure_ascii=False) + '\n')
                size += len(t) + 2 + len(str(k))
            k += 1
    train_row('repeated', path, args.train_chars)
    os.remove(path)
for chars in [float(c) for c in args.distinct_chars.split(',') if c]:
    clauses = [c for t in REVIEWS for c in re.split(r'(?<=[，。！？；、,.!?;])', t) if len(c) > 3]
    path, size = os.path.join(tmp, 'distinct.jsonl'), 0
    with open(path, 'w', encoding='utf-8') as f:
        while size < chars * 1.02:
            doc = ''.join(a[:rng.randint(1, len(a) - 1)] + b[rng.randint(1, len(b) - 1):]
                          for a, b in zip(rng.sample(clauses, 20), rng.sample(clauses, 20)))
            f.write(json.dumps({'text': doc}, ensure_ascii=False) + '\n')
            size += len(doc)
    train_row('distinct', path, chars)
    os.remove(path)
if not args.tmp:
    shutil.rmtree(tmp)
