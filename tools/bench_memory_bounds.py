"""
Peak resident memory of the prepare scripts on inputs that expand far past their size on disk (issue 21 point 4):
each case runs the real script in a process of its own (os.wait4 gives its ru_maxrss), under an address-space cap
(RLIMIT_AS, --cap_gb) so that a checkout without the bound ends in MemoryError rather than taking the machine.
Prints one row per case: exit code, peak RSS, the last line of stderr.

  python tools/bench_memory_bounds.py                      # this checkout
  python tools/bench_memory_bounds.py --root=/tmp/mainsnap  # another checkout (its data/ scripts), for a before
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
from bombs import conversation_jsonl, document_zst, gzip_bomb, size_on_disk, sparse_txt, zstd_bomb  # tools/bombs.py

p = argparse.ArgumentParser()
p.add_argument('--root', default=ROOT, help='the checkout whose scripts run')
p.add_argument('--cap_gb', type=float, default=6.0, help='address-space cap of each run')
args = p.parse_args()


def punctuation_conversation(path, mb):
    """One conversation whose answer is mb MB of punctuation: about a token per byte."""
    import json
    import random
    rng = random.Random(0)
    answer = ''.join(rng.choice('!#$%&()*+,-./:;<=>?@[]^_`{|}~') for _ in range(mb * 2 ** 20))
    with open(path, 'w') as f:
        f.write(json.dumps({'messages': [{'role': 'user', 'content': 'Say it.'},
                                         {'role': 'assistant', 'content': answer}]}) + '\n')
    return str(path)


def punctuation_lines():
    """1 MB of lines of 80 random punctuation characters (about a token a byte), JSON-escaped newlines."""
    import random
    rng = random.Random(0)
    line = lambda: ''.join(rng.choice('!#$%&()*+,-./:;<=>?@[]^_`{|}~') for _ in range(80)) + '\\n'
    return ''.join(line() for _ in range(2 ** 20 // 82)).encode()


def measure(cmd):
    cap = int(args.cap_gb * 2 ** 30)
    env = dict(os.environ, PYTHONPATH=args.root)
    proc = subprocess.Popen([sys.executable] + cmd, cwd=args.root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)))
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = err.strip().splitlines()
    return proc.returncode, usage.ru_maxrss / 1024, (lines[-1] if lines else '')[:110]


with tempfile.TemporaryDirectory() as tmp:
    t = lambda name: os.path.join(tmp, name)
    cases = [
        ('.jsonl.zst, 1.5 GB of spaces, no newline', 'prepare_local.py', zstd_bomb(t('a.jsonl.zst'), 1536), []),
        ('.jsonl.zst, one 400 MB document', 'prepare_local.py', document_zst(t('b.jsonl.zst'), 400), []),
        ('.jsonl.gz bomb, 1.5 GB, no newline', 'prepare_local.py', gzip_bomb(t('c.jsonl.gz'), 1536), []),
        ('.txt of 1.5 GB (sparse)', 'prepare_local.py', sparse_txt(t('d.txt'), 1536), []),
        ('.jsonl.zst, a 48 MB document of punctuation lines (under the limit) and a short one, tokenized',
         'prepare_local.py', zstd_bomb(t('h.jsonl.zst'), 48, head=b'{"text": "', body=punctuation_lines(),
                                       tail=b'"}\n{"text": "another document"}\n'), ['--num_proc=1']),
        ('chat .jsonl.gz bomb, 1.5 GB', 'prepare_chat.py',
         gzip_bomb(t('e.jsonl.gz'), 1536, head=b'{"messages": [{"role": "user", "content": "'), []),
        ('chat, one 20 MB conversation (words), block 2e7', 'prepare_chat.py', conversation_jsonl(t('f.jsonl'), 20),
         ['--block_size=20000000']),
        ('chat, one 20 MB conversation (punctuation), block 2e7', 'prepare_chat.py',
         punctuation_conversation(t('g.jsonl'), 20), ['--block_size=20000000']),
        ('the same, --max_conversation_bytes=33554432', 'prepare_chat.py', t('g.jsonl'),
         ['--block_size=20000000', '--max_conversation_bytes=33554432']),
    ]
    print(f"root {os.path.abspath(args.root)}, cap {args.cap_gb:g} GB")
    print("| input | on disk | exit | peak RSS | last line |\n|---|---|---|---|---|")
    for n, (name, script, path, extra) in enumerate(cases):
        code, rss, last = measure([f'data/{script}', path, f'--out_dir={t(f"out{n}")}'] + extra)
        print(f"| {name} | {size_on_disk(path) / 2 ** 20:.2f} MB | {code} | {rss:,.0f} MB | `{last}` |", flush=True)
