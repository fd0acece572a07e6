"""
Prepare your own text: any folders or lists of .txt, .jsonl, .jsonl.gz, .json.gz, .jsonl.zst, .parquet, .tar
and .tar.gz files, straight into train.bin/val.bin, with no Hugging Face cache, on all cores, resumable after a kill.

  python data/prepare_local.py my_texts/ more.jsonl books.tar.gz --out_dir=data/mine
  python data/prepare_local.py c4/*.json.gz --tokenizer=tok/tokenizer.json --out_dir=data/c4_zh
  python data/prepare_local.py mnbvc/*.jsonl.zst --key=段落.内容 --skip_bad --tokenizer=tok/tokenizer.json --out_dir=data/web
  python train.py --dataset=mine ...

One document per .txt file, per JSON line and per parquet row; files inside a .tar/.tar.gz count the same way.
--key says where a record's text is: a key (text), a nested path (meta.body), a path through a list of
paragraphs joined by newlines (段落.内容, MNBVC), or fields joined by a newline (问,答). A record without it
stops the run with its file and line, or with --skip_bad is left out and counted.
GPT-2 BPE by default: each document's encode_ordinary tokens, then EOT 50256. --tokenizer=PATH/tokenizer.json
uses a tokenizer trained by data/train_tokenizer.py: each document's tokens, then its <|endoftext|>; the dataset
keeps a copy as tokenizer.json and its sha256 in summary.json. --tokenizer=char makes a character-level dataset
of any UTF-8 text (Chinese included), each document followed by '\\n'; a vocabulary over 65,536 characters is
written as uint32.
A document goes to val when blake2b of its text falls in the first --val_fraction of the hash range, so
--append (adding new documents to the dataset in --out_dir) gives the same bytes as preparing everything
at once. Run the same command again after an interruption: it resumes, with byte-identical results.
"""
import argparse
import os

from nanogpt.corpus import MAX_DOCUMENT_BYTES, corpus_files, file_kind, files_fingerprint, local_documents
from nanogpt.dataset import load_summary
from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.lock import hold
from nanogpt.prepare import prepare_documents
from nanogpt.usage import HelpFormatter

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=HelpFormatter)
p.add_argument('paths', nargs='+', help='files or folders of .txt, .jsonl(.gz/.zst), .json.gz, .parquet, .tar(.gz)')
p.add_argument('--out_dir', required=True, help='dataset folder, e.g. data/mine (train.py --dataset=mine)')
p.add_argument('--tokenizer', default='gpt2', help='gpt2, char, or the path of a tokenizer.json (data/train_tokenizer.py)')
p.add_argument('--key', default='text', help='where the text of a JSON record or parquet row is: text, meta.body, '
               '段落.内容 (list items joined by newlines), 问,答 (fields joined by a newline)')
p.add_argument('--skip_bad', action='store_true', help='leave out (and count) records without the --key field')
p.add_argument('--drop_empty_lines', action='store_true', help='remove empty and whitespace-only lines')
p.add_argument('--val_fraction', type=float, default=0.01, help='expected share of documents held out for val')
p.add_argument('--append', action='store_true', help='add these documents to the dataset already in --out_dir')
p.add_argument('--overwrite', action='store_true', help='replace the dataset already in --out_dir')
p.add_argument('--num_proc', type=int, default=os.cpu_count(), help='processes that read and tokenize at once: every core')
p.add_argument('--max_document_bytes', type=int, default=MAX_DOCUMENT_BYTES,
               help='the largest document (decompressed), refused while read: memory stays bounded for any input')
p.add_argument('--shard_mb', type=float, default=4, help='millions of characters per unit of work and resuming')
args = p.parse_args()

if not 0 < args.val_fraction < 1:
    fail(f"--val_fraction must be between 0 and 1, not {args.val_fraction}")
hold(args.out_dir, 'prepare_local.py')  # one writer per dataset folder: a second prepare is refused
exists = os.path.exists(os.path.join(args.out_dir, 'train.bin'))
if exists and not (args.append or args.overwrite):
    fail(f"{args.out_dir} already holds a dataset; add --append to add these documents to it, "
         f"or --overwrite to replace it")
if args.append and not exists:
    fail(f"--append: {args.out_dir} holds no dataset yet; prepare it first without --append")
if args.append:  # one dataset, one set of options: summary.json records them for the whole of it
    made = load_summary(args.out_dir) or {}
    rule, _, fraction = str(made.get('split', 'hash')).partition(' ')
    if rule != 'hash':
        fail(f"{args.out_dir} was split by another rule ({made['split']}), not by hash as prepare_local.py splits: "
             f"add to it with the script that made it, or remake it with --overwrite")
    if fraction and float(fraction) != args.val_fraction:
        fail(f"{args.out_dir} was made with --val_fraction={float(fraction):g}, not {args.val_fraction:g}: appending "
             f"must use the same split; pass --val_fraction={float(fraction):g}, or --overwrite to remake it all")
    if 'drop_empty_lines' in made and made['drop_empty_lines'] != args.drop_empty_lines:
        how = 'with' if made['drop_empty_lines'] else 'without'
        fail(f"{args.out_dir} was made {how} --drop_empty_lines: appending must treat empty lines the same way; "
             f"append {how} --drop_empty_lines, or --overwrite to remake it all")
if args.tokenizer not in ('gpt2', 'char') and not os.path.isfile(args.tokenizer):
    fail(f"--tokenizer={args.tokenizer} is not gpt2, char or a tokenizer.json file; "
         f"train one with python data/train_tokenizer.py --out_dir=DIR")
files = corpus_files(args.paths)
total = None if any(file_kind(f) in ('.tar.gz', '.tgz') for f in files) else sum(os.path.getsize(f) for f in files)
skipped = []


def documents():
    skipped.clear()  # a character-level prepare reads the documents twice
    return local_documents(files, args.key, skipped if args.skip_bad else None, args.max_document_bytes)


prepare_documents(args.out_dir, documents, tokenizer=args.tokenizer,
                  split=('hash', args.val_fraction), drop_empty_lines=args.drop_empty_lines, append=args.append,
                  num_proc=args.num_proc, shard_chars=int(args.shard_mb * 1e6),
                  fingerprint=files_fingerprint(files, f" key={args.key} skip_bad={args.skip_bad}"), total_bytes=total)
if skipped:
    print(f"skipped {len(skipped):,} records without the field '{args.key}' (--skip_bad), the first: {skipped[0]}")
