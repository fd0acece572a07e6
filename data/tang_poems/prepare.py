"""
全唐诗, the Tang poems of chinese-poetry/chinese-poetry (57,607 poems, Traditional Chinese), as characters.
Each poem is a document: its title, its author, then its lines, one a line; documents are separated by an
empty line. The vocabulary is the sorted set of characters (about 9,700, uint16; a corpus with more than
65,536 distinct characters would be written as uint32). Every 10th poem goes to val. With
--tokenizer=PATH/tokenizer.json (data/train_tokenizer.py) the poems are encoded with a trained tokenizer instead,
each followed by its <|endoftext|>.

The poems are in Traditional characters (靜夜思 舉頭望明月). --simplified converts them to Simplified ones
(静夜思 举头望明月) with OpenCC's t2s tables (pip install opencc-python-reimplemented); a model trained on
either answers prompts in the same script.

  python data/tang_poems/prepare.py                      # downloads the 58 poet.tang.*.json files
  python data/tang_poems/prepare.py --src=path/to/全唐诗   # or reads them from a folder
  python data/tang_poems/prepare.py --simplified --out_dir=data/tang_poems_simplified   # Simplified Chinese
Offline: NANOGPT_LOCAL_DATA=path/to/folder (holding tang_poems/poet.tang.*.json)
"""
import argparse
import json
import os
import urllib.parse

from nanogpt.corpus import files_fingerprint
from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.localdata import fetch_file, local_copy
from nanogpt.prepare import prepare_documents
from nanogpt.usage import HelpFormatter

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

here = os.path.dirname(os.path.abspath(__file__))
NAMES = [f'poet.tang.{k}.json' for k in range(0, 58000, 1000)]
URL = 'https://raw.githubusercontent.com/chinese-poetry/chinese-poetry/master/' + urllib.parse.quote('全唐诗') + '/'

p = argparse.ArgumentParser(description='prepare the Tang poems, character-level', formatter_class=HelpFormatter)
p.add_argument('--src', default=None, help='folder holding poet.tang.*.json (default: $NANOGPT_LOCAL_DATA or download)')
p.add_argument('--out_dir', default=here, help='dataset folder')
p.add_argument('--simplified', action='store_true', help='convert to Simplified characters (needs OpenCC)')
p.add_argument('--tokenizer', default='char', help='char, gpt2, or the path of a tokenizer.json')
args = p.parse_args()

src = args.src or local_copy('tang_poems')
if src is None:  # download into data/tang_poems/raw/
    src = os.path.join(here, 'raw')
    os.makedirs(src, exist_ok=True)
    for name in NAMES:
        fetch_file(os.path.join(src, name), URL + name, f'tang_poems/{name}')
if args.simplified:
    try:
        from opencc import OpenCC
    except ImportError:
        fail("--simplified needs OpenCC: pip install opencc-python-reimplemented")
    to_simplified = OpenCC('t2s').convert
files = [os.path.join(src, n) for n in NAMES]
missing = [f for f in files if not os.path.exists(f)]
if missing:
    fail(f"{len(missing)} of the {len(NAMES)} poet.tang.*.json files are missing from {src}, e.g. {missing[0]}")


def poems():
    for path in files:
        try:
            with open(path, encoding='utf-8') as f:
                entries = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            fail(f"{path} is not a chinese-poetry JSON file ({e})")
        for e in entries:
            lines = [line for line in e.get('paragraphs', []) if line.strip()]
            if lines:
                text = f"{e.get('title', '')}\n{e.get('author', '')}\n" + '\n'.join(lines) + '\n'
                yield (to_simplified(text) if args.simplified else text), len(text.encode('utf-8'))


documents = poems
if args.simplified:  # prepare_documents reads the poems twice (vocabulary, then tokens): convert them once, ~30 s
    converted = list(poems())
    documents = lambda: iter(converted)  # noqa: E731
prepare_documents(args.out_dir, documents, tokenizer=args.tokenizer, split=('every', 10), num_proc=1,
                  fingerprint=files_fingerprint(files, ' simplified' if args.simplified else ''), desc='tang poems')
