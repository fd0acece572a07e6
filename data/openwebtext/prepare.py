"""
OpenWebText (GPT-2 BPE) the reference's way, on current datasets (>= 4): the hub dataset
Skylion007/openwebtext, now plain parquet files (its old loading script no longer runs), 0.05% held out
for val (seed 2357), tokenized by --num_proc processes; about 9.0B train and 4.4M val tokens.

  python data/openwebtext/prepare.py --num_proc=8
  python data/openwebtext/prepare.py --data_files 'owt/*.parquet'   # parquet (or .jsonl) files you downloaded

The datasets cache takes about 2.5x the data; for text you already have as files, data/prepare_local.py
needs no cache and resumes after an interruption.
"""
import argparse
import os

from nanogpt.errors import exit_on_bad_input
from nanogpt.prepare import prepare_hf
from nanogpt.usage import HelpFormatter

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

REPO = 'Skylion007/openwebtext'
p = argparse.ArgumentParser(description='prepare OpenWebText', formatter_class=HelpFormatter)
p.add_argument('--data_files', nargs='*', help='local .parquet/.jsonl files with a text column, instead of the hub')
p.add_argument('--num_proc', type=int, default=os.cpu_count() // 2 or 1,
               help='processes that load and tokenize at once: half the cores')
p.add_argument('--out_dir', default=os.path.dirname(os.path.abspath(__file__)), help='dataset folder')
args = p.parse_args()


def load():
    from datasets import load_dataset
    if args.data_files:
        kind = 'parquet' if args.data_files[0].endswith('.parquet') else 'json'
        return load_dataset(kind, data_files=args.data_files, split='train', num_proc=args.num_proc)
    return load_dataset(REPO, split='train', num_proc=args.num_proc)


prepare_hf(args.out_dir, load, ' '.join(args.data_files) if args.data_files else REPO, num_proc=args.num_proc)
