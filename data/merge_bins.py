"""
Merge prepared datasets into one: train.bin of each input folder concatenated in the order given
(the same bytes as `cat a/train.bin b/train.bin`), val.bin likewise, then a summary.json.

  python data/merge_bins.py data/web data/books --out_dir=data/web_books

The inputs must share a tokenizer (for character-level data the very same meta.pkl, for a trained tokenizer
the same tokenizer.json, by its sha256).
"""
import argparse
import os
import shutil

from nanogpt.atomicfile import atomic_write, write_atomic
from nanogpt.dataset import CHAT_FILES, bin_dtype, load_meta, load_summary, remove_files, write_meta, write_summary
from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.lock import hold
from nanogpt.prepare import disk_full
from nanogpt.tokenizer import GPT2_VOCAB, TRAINED_FILE

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

p = argparse.ArgumentParser(description='merge prepared datasets')
p.add_argument('dirs', nargs='+', help='dataset folders, in order')
p.add_argument('--out_dir', required=True)
p.add_argument('--overwrite', action='store_true', help='replace a dataset already in --out_dir')
args = p.parse_args()

if os.path.realpath(args.out_dir) in map(os.path.realpath, args.dirs):  # realpath: a symlink is its target
    fail("--out_dir must not be one of the inputs")
hold(args.out_dir, 'merge_bins.py')  # one writer per dataset folder
if os.path.exists(os.path.join(args.out_dir, 'train.bin')) and not args.overwrite:
    fail(f"{args.out_dir} already holds a dataset; add --overwrite to replace it")
metas, summaries = [], []
for d in args.dirs:
    for split in ('train', 'val'):
        if not os.path.exists(os.path.join(d, f'{split}.bin')):
            fail(f"{d} has no {split}.bin; prepare it first")
    metas.append(load_meta(d))
    summaries.append(load_summary(d))
    if (summaries[-1] or {}).get('kind') == 'chat' or os.path.exists(os.path.join(d, CHAT_FILES[0])):
        fail(f"{d} is a chat dataset (conversations with loss masks, data/prepare_chat.py): merging would drop its "
             f"masks and conversation starts; prepare the conversation files together with prepare_chat.py instead")
if any(m != metas[0] for m in metas):
    fail("the inputs have different meta.pkl (vocabularies); merging them would mix up token ids")
tokenizers = {s['tokenizer'] if s else ('char' if m else 'gpt2') for s, m in zip(summaries, metas)}
if len(tokenizers) > 1:
    fail(f"the inputs use different tokenizers: {', '.join(sorted(tokenizers))}")
trained = {s.get('tokenizer_sha256') for s in summaries if s and s['tokenizer'] == 'trained'}
if len(trained) > 1:
    fail("the inputs were prepared with different tokenizer.json files (sha256 differs); merging would mix up token ids")
meta = metas[0]
dtype = bin_dtype(args.dirs[0])

try:  # both files written before either replaces the old one: a full disk leaves the dataset there was
    with atomic_write(os.path.join(args.out_dir, 'train.bin')) as train_out, \
            atomic_write(os.path.join(args.out_dir, 'val.bin')) as val_out:
        for split, out in (('train', train_out), ('val', val_out)):
            for d in args.dirs:
                with open(os.path.join(d, f'{split}.bin'), 'rb') as f:
                    shutil.copyfileobj(f, out, 16 << 20)
            out.flush()
except OSError as e:
    disk_full(e, args.out_dir)
if meta is not None:
    write_meta(args.out_dir, meta)
remove_files(args.out_dir, ([] if meta is not None else ['meta.pkl']) + list(CHAT_FILES))  # another dataset's
known = all(summaries)
extra = {}
if trained:  # the tokenizer.json travels with the data, as prepare_local.py leaves it
    with open(os.path.join(args.dirs[0], TRAINED_FILE), 'rb') as f:
        write_atomic(os.path.join(args.out_dir, TRAINED_FILE), f.read())
    extra = {k: summaries[0][k] for k in ('tokenizer_file', 'tokenizer_sha256', 'tokenizer_source')}
write_summary(args.out_dir, tokenizers.pop(), summaries[0]['vocab_size'] if trained else meta['vocab_size'] if meta else GPT2_VOCAB,
              documents=sum(s['documents'] for s in summaries) if known else None,
              characters=sum(s['characters'] for s in summaries) if known else None,
              merged_from=[os.path.abspath(d) for d in args.dirs], **extra)
