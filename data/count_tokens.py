"""
Count the tokens of dataset folders, from the .bin files themselves, and compare with their summary.json;
or (--corpus) count the tokens that corpus files would take with each of several tokenizers.

  python data/count_tokens.py data/shakespeare_char data/mine
  python data/count_tokens.py data/mine --verify    # also re-hash the files and find the largest id
  python data/count_tokens.py --corpus reviews.jsonl poems/ --tokenizer=gpt2,char,tok/zh32k/tokenizer.json
  python data/count_tokens.py --corpus reviews.jsonl --heldout=0.01 --tokenizer=...   # only the documents the
      # split rule holds out (prepare_local.py's val, train_tokenizer.py's held-out slice): unseen text
"""
import argparse
import os
import sys

from nanogpt.corpus import MAX_DOCUMENT_BYTES
from nanogpt.dataset import bin_dtype, file_stats, load_summary
from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.usage import HelpFormatter

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=HelpFormatter)
p.add_argument('dirs', nargs='+', help='dataset folders (or with --corpus: corpus files and folders)')
p.add_argument('--verify', action='store_true', help='recompute sha256 and the largest id, compare with summary.json')
p.add_argument('--corpus', action='store_true', help='count the tokens of corpus files instead of datasets')
p.add_argument('--tokenizer', default='gpt2,char', help='with --corpus: gpt2, char and tokenizer.json paths, comma-separated')
p.add_argument('--key', default='text', help='with --corpus: where the text of a record is (see prepare_local.py)')
p.add_argument('--max_document_bytes', type=int, default=MAX_DOCUMENT_BYTES, help='with --corpus: the largest document')
p.add_argument('--heldout', type=float, default=None,
               help='with --corpus: only the documents the hash split puts in a val of this share, e.g. 0.01 (default: all)')
args = p.parse_args()


def count_corpus():
    """Documents, characters, bytes and each tokenizer's tokens (encode_ordinary, no separators) of the corpus."""
    from nanogpt.corpus import corpus_files, local_documents
    from nanogpt.prepare import is_val
    from nanogpt.tokenizer import GPT2Tokenizer, TrainedTokenizer
    names = [t for t in args.tokenizer.split(',') if t]
    toks = {n: None if n == 'char' else GPT2Tokenizer() if n == 'gpt2' else TrainedTokenizer(n) for n in names}
    docs = chars = nbytes = 0
    counts = dict.fromkeys(names, 0)
    documents = local_documents(corpus_files(args.dirs), args.key, max_bytes=args.max_document_bytes)
    for i, (text, _) in enumerate(documents):
        if args.heldout is not None and not is_val(text, i, ('hash', args.heldout)):
            continue
        docs, chars, nbytes = docs + 1, chars + len(text), nbytes + len(text.encode('utf-8'))
        for n, tok in toks.items():
            counts[n] += len(text) if tok is None else len(tok.encode_ordinary(text))
    which = '' if args.heldout is None else f" held out by the split rule (hash {args.heldout})"
    print(f"{', '.join(args.dirs)}: {docs:,} documents{which}, {chars:,} characters, {nbytes:,} UTF-8 bytes")
    print(f"  {'tokenizer':<40} {'tokens':>12} {'per char':>9} {'per byte':>9}")
    for n in names:
        print(f"  {n:<40} {counts[n]:>12,} {counts[n] / max(chars, 1):>9.3f} {counts[n] / max(nbytes, 1):>9.3f}")


if args.corpus:
    count_corpus()
    sys.exit(0)

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
    vocab = s.get('vocab_size') if isinstance(s, dict) else None
    if args.verify and isinstance(vocab, int) and top >= vocab:  # an id past the vocabulary breaks train.py
        extra, bad = extra + f"  MISMATCH: ids reach {top:,} but vocab_size is {vocab:,}", bad + 1
    kind = f", tokenizer {s['tokenizer']}" + (f" ({s['tokenizer_file']}, vocab {s['vocab_size']:,})"
                                               if s['tokenizer'] == 'trained' else '') if s else ' (no summary.json)'
    print(f"{d}: {total:,} tokens{extra}{kind}")
sys.exit(1 if bad else 0)
