"""
The first 10,000 documents of OpenWebText (stas/openwebtext-10k), GPT-2 BPE, for quick runs: prepared
exactly like data/openwebtext (0.05% val, seed 2357). That repository only has a loading script, which
datasets >= 4 no longer runs, so this reads the hub's parquet conversion of it (refs/convert/parquet).

  python data/openwebtext-10k/prepare.py
  python data/openwebtext-10k/prepare.py --data_files 0000.parquet   # the parquet file, downloaded elsewhere
"""
import argparse
import os

from nanogpt.errors import exit_on_bad_input
from nanogpt.prepare import prepare_hf
from nanogpt.usage import HelpFormatter

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

PARQUET = 'hf://datasets/stas/openwebtext-10k@refs%2Fconvert%2Fparquet/plain_text/train/*.parquet'
p = argparse.ArgumentParser(description='prepare the 10k-document sample of OpenWebText', formatter_class=HelpFormatter)
p.add_argument('--data_files', nargs='*', help='local .parquet/.jsonl files with a text column, instead of the hub')
p.add_argument('--num_proc', type=int, default=os.cpu_count(), help='processes that tokenize at once: every core')
p.add_argument('--out_dir', default=os.path.dirname(os.path.abspath(__file__)), help='dataset folder')
args = p.parse_args()


def load():
    from datasets import load_dataset
    files = args.data_files or [PARQUET]
    kind = 'parquet' if files[0].endswith('.parquet') else 'json'
    return load_dataset(kind, data_files=files, split='train')


prepare_hf(args.out_dir, load, ' '.join(args.data_files) if args.data_files else PARQUET, num_proc=args.num_proc)
