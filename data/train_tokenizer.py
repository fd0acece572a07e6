"""
Train a byte-level BPE tokenizer (Hugging Face tokenizers' BPE trainer) on your corpus, for a language GPT-2's
tokenizer serves badly, and save it as OUT_DIR/tokenizer.json (loadable by tokenizers.Tokenizer.from_file and
transformers' PreTrainedTokenizerFast(tokenizer_file=...)).

  python data/train_tokenizer.py ../shared/data/zh_reviews/reviews.jsonl --vocab_size=32000 --out_dir=tok/zh32k
  python data/prepare_local.py corpus/ --tokenizer=tok/zh32k/tokenizer.json --out_dir=data/zh

It reads every format data/prepare_local.py reads, with the same --key and --skip_bad. Byte-level: every text
encodes, and decoding gives back exactly the text (no normalizer, no prefix space). Special tokens, ids 0..15:
<|endoftext|> (the document separator), <|system|>, <|user|>, <|assistant|>, <|end|> (chat) and 11 spares.

Memory: the trainer keeps a count of every distinct pre-token (for Chinese, a run of characters between
punctuation), which grows with the text it sees: up to about 230 bytes per character of Chinese text whose
clauses are all distinct (measured: 2.4 GB at 10 M characters), far less for text that repeats its words. So it
sees at most --max_chars characters (default 20 M: at most about 5 GB): the documents
are streamed in order, those with a hash below --sample kept, until the budget is spent. For a corpus much
larger than the budget, set --sample to about budget / corpus size so the sample spreads over all files.
Documents held out (blake2b of the text below --heldout: prepare_local.py's split rule, so with the same
--val_fraction the tokenizer never sees the val documents) are never trained on; up to --eval_chars of them
measure tokens per character and per byte, against GPT-2 BPE and characters (encoded by the saved file).

The saved file converts to a tiktoken encoding (2-3x faster; nanogpt/tokenizer.py tiktoken_of). The held-out
documents are encoded with both, and tokenizer_report.json records whether every id was equal ('tiktoken_check'):
TrainedTokenizer and prepare_local.py use the conversion only where such a check passed. tokenizer.json itself
stays as tokenizers wrote it.
"""
import argparse
import atexit
import glob
import hashlib
import json
import math
import os
import resource
import time

from nanogpt.atomicfile import write_atomic
from nanogpt.corpus import MAX_DOCUMENT_BYTES, corpus_files, file_kind, files_fingerprint, local_documents
from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.localdata import LOCAL_DATA_ENV, local_copy
from nanogpt.lock import hold
from nanogpt.prepare import disk_full, is_val
from nanogpt.tokenizer import GPT2_BPE_FILE, REPORT_FILE, RESERVED_TOKENS, TRAINED_FILE, TrainedTokenizer, gpt2_encoding
from nanogpt.usage import HelpFormatter

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
p.add_argument('paths', nargs='+', help='files or folders of .txt, .jsonl(.gz/.zst), .json.gz, .parquet, .tar(.gz)')
p.add_argument('--out_dir', required=True, help='folder for tokenizer.json and tokenizer_report.json')
p.add_argument('--vocab_size', type=int, default=32000, help='ids in all, the 16 special tokens and 256 bytes included')
p.add_argument('--min_frequency', type=int, default=2, help='a merge must be seen at least this often')
p.add_argument('--max_chars', type=float, default=20e6,
               help='characters of training text at most (bounds memory: about 230 bytes each at worst)')
p.add_argument('--sample', type=float, default=1.0, help='share of documents trained on (by a hash of the text)')
p.add_argument('--heldout', type=float, default=0.01, help='share of documents never trained on, for the measures')
p.add_argument('--eval_chars', type=float, default=1e6, help='characters of held-out text to measure on')
p.add_argument('--key', default='text', help='where the text of a record is (see data/prepare_local.py)')
p.add_argument('--max_document_bytes', type=int, default=MAX_DOCUMENT_BYTES,
               help='the largest document (bounds memory)')
p.add_argument('--skip_bad', action='store_true', help='leave out (and count) records without the --key field')
p.add_argument('--overwrite', action='store_true', help='replace a tokenizer.json already in --out_dir')
args = p.parse_args()

if args.vocab_size < 256 + len(RESERVED_TOKENS) + 1:
    fail(f"--vocab_size={args.vocab_size} leaves no room for merges: the 256 bytes and {len(RESERVED_TOKENS)} special "
         f"tokens take {256 + len(RESERVED_TOKENS)} ids; use e.g. 32000")
if not (0 < args.sample <= 1 and 0 <= args.heldout < 1):
    fail(f"--sample must be in (0, 1] and --heldout in [0, 1), not {args.sample} and {args.heldout}")
if not (0 < args.max_chars < math.inf and 0 <= args.eval_chars < math.inf):  # nan fails both comparisons
    fail(f"--max_chars must be a number of characters above 0 and --eval_chars 0 or more, not {args.max_chars:g} "
         f"and {args.eval_chars:g}; e.g. --max_chars=100e6")
if args.min_frequency < 0:
    fail(f"--min_frequency must be 0 or more (how often a merge must be seen), not {args.min_frequency}")
if not args.out_dir:
    fail("--out_dir is empty; name the folder for tokenizer.json, e.g. --out_dir=tok/zh32k")
hold(args.out_dir, 'train_tokenizer.py')  # one writer per folder: a second train_tokenizer is refused
out_path = os.path.join(args.out_dir, TRAINED_FILE)
if os.path.exists(out_path) and not args.overwrite:  # written last: a killed run leaves none
    fail(f"{out_path} already exists; datasets prepared with it would no longer match a new one. "
         f"Choose another --out_dir, or pass --overwrite")
for stale in glob.glob(f"{out_path}.tmp.*") + glob.glob(os.path.join(args.out_dir, 'tokenizer_report.json.tmp.*')):
    os.remove(stale)  # a killed run's temporary files: the lock says no other run is live
files = corpus_files(args.paths)
skipped = []
heldout = []  # (text) of held-out documents, up to eval_chars characters
fed = {'documents': 0, 'characters': 0, 'stopped_in': None}


def sampled(text):
    """--sample's rule: a hash of the text other than the split's, so the sample is not the split."""
    h = int.from_bytes(hashlib.blake2b(text.encode('utf-8'), digest_size=8, person=b'tok-sample').digest(), 'little')
    return h < args.sample * 2 ** 64


def training_text(bar):
    """The training documents, streamed; collects the held-out ones on the way."""
    held_chars = 0
    for i, (text, nbytes) in enumerate(local_documents(files, args.key, skipped if args.skip_bad else None,
                                                       args.max_document_bytes)):
        bar.update(nbytes)  # the bar counts the corpus read, whatever of it is trained on
        if not text:
            continue
        if is_val(text, i, ('hash', args.heldout)):
            if held_chars < args.eval_chars:
                heldout.append(text)
                held_chars += len(text)
            continue
        if not sampled(text):
            continue
        if fed['characters'] + len(text) > args.max_chars:
            fed['stopped_in'] = i
            return
        fed['documents'] += 1
        fed['characters'] += len(text)
        yield text


from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tqdm import tqdm

tk = Tokenizer(models.BPE())
# GPT-2's pre-tokenizer: split by the regex (letters, numbers, punctuation, spaces), then each byte as a character
tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
tk.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=args.vocab_size, min_frequency=args.min_frequency,
                              special_tokens=list(RESERVED_TOKENS), show_progress=True,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
t0 = time.time()
# the bar's total: the corpus's bytes (unknown inside compressed files), not --max_chars
plain = all(file_kind(f) in ('.txt', '.jsonl', '.tar') for f in files)
with tqdm(total=sum(os.path.getsize(f) for f in files) if plain else None, unit='B', unit_scale=True,
          desc='reading the corpus') as bar:
    tk.train_from_iterator(training_text(bar), trainer=trainer)
train_s = time.time() - t0
if fed['documents'] == 0:
    fail("no training text: every document was empty, held out or not sampled; check the inputs and --sample")
# written beside its place and renamed there last, after the report: a run killed or out of space before
# that leaves no tokenizer.json (nor a half of one), so the same command runs again without --overwrite
new_path = f"{out_path}.tmp.{os.getpid()}"
atexit.register(lambda: os.path.exists(new_path) and os.remove(new_path))  # gone however this run ends
try:
    write_atomic(new_path, tk.to_str(pretty=True).encode('utf-8'))
except OSError as e:
    disk_full(e, args.out_dir, f"no {TRAINED_FILE} was written there")
peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

# what it gives: tokens per character and per byte on the held-out documents, and an exact round trip
tok = TrainedTokenizer(new_path)
text = ''.join(heldout)
n_chars, n_bytes = len(text), len(text.encode('utf-8'))
measures = {}
check = {'equal': None, 'why': tok.tiktoken_why or 'no held-out documents'}
if heldout:
    ids = tok.encode_ordinary_batch(heldout, reference=True)
    if tok.tiktoken is not None:  # the tiktoken conversion against tokenizers, on every held-out document
        differ = [i for i, x in enumerate(tok.tiktoken.encode_ordinary_batch(heldout)) if x != ids[i]]
        check = {'equal': not differ, 'documents': len(heldout), 'characters': sum(map(len, heldout)),
                 'differing_documents': len(differ)}
        if differ:
            check['first_difference'] = heldout[differ[0]][:80]
    n_trained = sum(len(x) for x in ids)
    bad = [t for t, x in zip(heldout, ids) if tok.decode(x) != t]
    if bad:
        fail(f"the tokenizer does not give back {len(bad)} held-out documents exactly, e.g. {bad[0][:80]!r}; "
             f"this is a bug, please report it")
    measures['trained'] = n_trained
    if local_copy(GPT2_BPE_FILE) is not None or os.environ.get('TIKTOKEN_CACHE_DIR'):
        measures['gpt2'] = sum(len(x) for x in gpt2_encoding().encode_ordinary_batch(heldout))
    else:  # GPT-2 BPE would be downloaded; the comparison is left out instead
        print(f"no local GPT-2 BPE files (set {LOCAL_DATA_ENV}, see nanogpt/localdata.py): no comparison with GPT-2 BPE")
    measures['characters'] = n_chars
report = {
    'tokenizer': os.path.abspath(out_path), 'sha256': tok.sha256, 'vocab_size': tok.vocab_size,
    'special_tokens': tok.special, 'min_frequency': args.min_frequency,
    'trained_on': {'documents': fed['documents'], 'characters': fed['characters'], 'sample': args.sample,
                   'max_chars': args.max_chars, 'budget_reached': fed['stopped_in'] is not None,
                   'inputs': files_fingerprint(files, f" key={args.key}")},
    'skipped_records': len(skipped), 'train_seconds': round(train_s, 1), 'peak_rss_mb': round(peak_rss_mb),
    'heldout': {'documents': len(heldout), 'characters': n_chars, 'bytes': n_bytes,
                'tokens': measures, 'tokens_per_char': {k: round(v / n_chars, 4) for k, v in measures.items()},
                'tokens_per_byte': {k: round(v / n_bytes, 4) for k, v in measures.items()}} if heldout else None,
    'tiktoken_check': check,
}
try:
    write_atomic(os.path.join(args.out_dir, REPORT_FILE),
                 (json.dumps(report, indent=1, ensure_ascii=False) + '\n').encode('utf-8'))
except OSError as e:
    disk_full(e, args.out_dir, f"no {TRAINED_FILE} was written there")
os.replace(new_path, out_path)

print(f"saved {out_path}: vocabulary {tok.vocab_size:,} ({len(tok.special)} special tokens, <|endoftext|> = {tok.eot}), "
      f"sha256 {tok.sha256[:16]}...")
print(f"trained on {fed['documents']:,} documents, {fed['characters']:,} characters in {train_s:.1f}s, "
      f"peak memory (RSS) {peak_rss_mb:,.0f} MB")
if fed['stopped_in'] is not None:
    print(f"the --max_chars budget was spent at document {fed['stopped_in']:,}: later documents were not trained on; "
          f"to spread the sample over the whole corpus, give --sample below 1")
if skipped:
    print(f"skipped {len(skipped):,} records without the field '{args.key}' (--skip_bad), the first: {skipped[0]}")
if heldout:
    print(f"held-out slice: {len(heldout):,} documents, {n_chars:,} characters, {n_bytes:,} UTF-8 bytes; decodes exactly")
    print(f"  {'tokenizer':<24} {'tokens':>10} {'per char':>9} {'per byte':>9}")
    names = {'trained': f'trained ({tok.vocab_size:,})',
             'gpt2': 'GPT-2 BPE', 'characters': 'characters'}
    for k, v in measures.items():
        print(f"  {names[k]:<24} {v:>10,} {v / n_chars:>9.3f} {v / n_bytes:>9.3f}")
else:
    print("no held-out documents (--heldout=0 or too few documents): nothing measured")
if check['equal']:
    print(f"tiktoken conversion: the same ids as tokenizers on all {check['documents']:,} held-out documents; "
          f"prepare_local.py will encode through it")
elif check['equal'] is False:
    print(f"tiktoken conversion: different ids on {check['differing_documents']:,} of {check['documents']:,} held-out "
          f"documents (the first: {check['first_difference']!r}); tokenizers will be used")
elif tok.tiktoken is None:
    print(f"no tiktoken conversion ({check['why']}): tokenizers will be used")
else:
    print("tiktoken conversion: not checked (no held-out documents); prepare_local.py checks a sample of each shard")
