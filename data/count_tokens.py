"""
Count the tokens of dataset folders, from the .bin files themselves, and compare with their summary.json.

  python data/count_tokens.py data/shakespeare_char data/mine
  python data/count_tokens.py data/mine --verify    # also re-hash the files and find the largest id
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from nanogpt.dataset import bin_dtype, file_stats, load_summary  # noqa: E402
from nanogpt.errors import fail  # noqa: E402

p = argparse.ArgumentParser(description='count the tokens of dataset folders')
p.add_argument('dirs', nargs='+')
p.add_argument('--verify', action='store_true', help='recompute sha256 and the largest id, compare with summary.json')
args = p.parse_args()

bad = 0
for d in args.dirs:
    if not os.path.isdir(d):
        fail(f"{d} is not a folder")
    dtype = bin_dtype(d)
    s = load_summary(d)
    total, top = 0, -1
    for split in ('train', 'val'):
        path = os.path.join(d, f'{split}.bin')
        if not os.path.exists(path):
            fail(f"{d} has no {split}.bin; it is not a prepared dataset")
        n = os.path.getsize(path) // dtype.itemsize
        total += n
        note = ''
        if s is not None and s[f'{split}_tokens'] != n:
            note, bad = f"  MISMATCH: summary.json says {s[f'{split}_tokens']:,}", bad + 1
        if args.verify:
            _, sha, m = file_stats(path, dtype)
            top = max(top, m)
            if s is not None and sha != s[f'{split}_sha256']:
                note, bad = note + "  MISMATCH: sha256 differs from summary.json", bad + 1
        print(f"{path}: {n:,} tokens ({dtype.name}){note}")
    extra = f", largest id {top:,}" if args.verify else ''
    print(f"{d}: {total:,} tokens{extra}" + ('' if s else ' (no summary.json)'))
sys.exit(1 if bad else 0)
