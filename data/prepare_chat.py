"""
Prepare conversations for chat finetuning (SFT): .jsonl, .jsonl.gz or .parquet files in either layout,
  smoltalk / OpenAI  {"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}
  ShareGPT           {"conversations": [{"from": "system"|"human"|"gpt", "value": ...}, ...]}
rendered with the chat template (nanogpt/chat.py, docs/chat.md) into token ids and a loss mask.

  python data/prepare_chat.py ../shared/data/chat/chatterbot_en.jsonl --out_dir=data/chat_en --block_size=256
  python train.py config/sft_chat.py --dataset=chat_en --init_from=gpt2

GPT-2 BPE by default (the chat tokens take ids 50257..50260 of the padded vocabulary); --tokenizer=PATH uses a
tokenizer.json trained here (data/train_tokenizer.py), copied into the dataset folder. A conversation longer
than --block_size + 1 tokens is cut after its last assistant turn that fits, or skipped when even the first
does not fit; summary.json counts both. A malformed conversation (roles out of order, empty content, an
unknown role, a line that is not JSON) stops the prepare with its file and line, or with --skip_malformed is
skipped and counted. A conversation goes to val when a hash of its rendered text says so (--val_fraction).
"""
import argparse
import os
import shutil
import zlib

import numpy as np

from nanogpt.atomicfile import fsync_dir, write_atomic
from nanogpt.chat import KIND, MAX_CONVERSATION_BYTES, check_chat_tokenizer, parse_conversation, read_records, render
from nanogpt.dataset import META, SUMMARY, remove_files, write_bin, write_summary
from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.lock import hold
from nanogpt.prepare import disk_full, is_val
from nanogpt.tokenizer import CHAT_TOKENS, GPT2_VOCAB, TRAINED_FILE, GPT2Tokenizer, TrainedTokenizer
from nanogpt.usage import HelpFormatter

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2
WORK = '.prepare_chat'  # the files being written, inside out_dir

p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=HelpFormatter)
p.add_argument('paths', nargs='+', help='.jsonl, .jsonl.gz or .parquet files of conversations')
p.add_argument('--out_dir', required=True, help='dataset folder, e.g. data/chat_en (train.py --dataset=chat_en)')
p.add_argument('--tokenizer', default='gpt2', help="'gpt2' or the path of a trained tokenizer.json")
p.add_argument('--block_size', type=int, default=1024, help='the block_size you will train with')
p.add_argument('--val_fraction', type=float, default=0.05, help='expected share of conversations held out for val')
p.add_argument('--skip_malformed', action='store_true', help='skip and count malformed conversations instead of stopping')
p.add_argument('--max_conversation_bytes', type=int, default=MAX_CONVERSATION_BYTES,
               help='the largest conversation (a JSON line), refused while read: memory stays bounded for any file')
p.add_argument('--overwrite', action='store_true', help='replace the dataset already in --out_dir')
args = p.parse_args()

if not 0 < args.val_fraction < 1:
    fail(f"--val_fraction must be between 0 and 1, not {args.val_fraction}")
if args.max_conversation_bytes < 1:
    fail(f"--max_conversation_bytes must be 1 or more, not {args.max_conversation_bytes}")
if args.block_size < 4:
    fail(f"--block_size must be at least 4 tokens, not {args.block_size}")
if not args.out_dir:
    fail("--out_dir is empty; name the dataset folder, e.g. --out_dir=data/chat_en")
hold(args.out_dir, 'prepare_chat.py')  # one writer per folder: a second prepare, or a live train.py there, is refused
if os.path.exists(os.path.join(args.out_dir, 'train.bin')) and not args.overwrite:  # a killed run leaves none
    fail(f"{args.out_dir} already holds a dataset; add --overwrite to replace it, or choose another --out_dir")
for path in args.paths:
    if not os.path.isfile(path):
        fail(f"{path} does not exist; give .jsonl, .jsonl.gz or .parquet files of conversations")
    if not path.endswith(('.jsonl', '.jsonl.gz', '.parquet')):
        fail(f"{path} is not a .jsonl, .jsonl.gz or .parquet file; convert it to one of those")
if args.tokenizer == 'gpt2':
    tok, vocab_size, tok_info = GPT2Tokenizer(), GPT2_VOCAB + len(CHAT_TOKENS), {}
else:
    tok = TrainedTokenizer(args.tokenizer)
    vocab_size = tok.vocab_size
    tok_info = dict(tokenizer_sha256=tok.sha256, tokenizer_source=os.path.abspath(args.tokenizer))
check_chat_tokenizer(tok, f"--tokenizer={args.tokenizer}")

# everything is read, checked and rendered before any file is written: a bad file changes nothing
limit = args.block_size + 1  # a row of a batch: block_size inputs and the target after the last
splits = {'train': ([], [], [0]), 'val': ([], [], [0])}  # ids, mask, starts
count = dict(cut=0, skipped_too_long=0, skipped_malformed=0, turns=0, characters=0)
for path in args.paths:
    where = 'row' if path.endswith('.parquet') else 'line'
    try:
        for n, record, problem in read_records(path, args.max_conversation_bytes):
            try:
                if problem:
                    raise ValueError(problem)
                turns = parse_conversation(record)
            except ValueError as e:
                if not args.skip_malformed:
                    fail(f"{path} {where} {n}: {e}; fix it, or pass --skip_malformed to skip such conversations")
                count['skipped_malformed'] += 1
                continue
            ids, mask, cuts = render(tok, turns, limit)
            if len(ids) > limit:
                fits = [c for c in cuts if c <= limit]
                if not fits:
                    count['skipped_too_long'] += 1
                    continue
                ids, mask = ids[:fits[-1]], mask[:fits[-1]]
                count['cut'] += 1
            split_ids, split_mask, starts = splits['val' if is_val(repr(turns), 0, ('hash', args.val_fraction)) else 'train']
            split_ids.append(np.asarray(ids, dtype=np.uint32))  # arrays, not lists of ints: 4 bytes a token
            split_mask.append(np.asarray(mask, dtype=np.uint8))
            starts.append(starts[-1] + len(ids))
            count['turns'] += len(turns)
            count['characters'] += sum(len(t) for _, t in turns)
    except (OSError, UnicodeDecodeError, EOFError, zlib.error) as e:  # a corrupt .gz, a file that is not UTF-8
        fail(f"cannot read {path} ({type(e).__name__}: {e}); check that it is a {path.rsplit('.', 1)[-1]} file")
    except Exception as e:  # pyarrow's errors for a file that is not parquet
        if not path.endswith('.parquet'):
            raise
        fail(f"cannot read {path} as parquet ({type(e).__name__}: {str(e)[:200]}); check the file")
for split, (ids, _, starts) in splits.items():
    if len(starts) < 2:
        fail(f"no conversation went to {split} ({len(splits['train'][2]) - 1} train, {len(splits['val'][2]) - 1} val); "
             f"give more conversations or change --val_fraction")

# written into a work folder and renamed into place only when all of it is whole, summary.json last: a kill or a
# full disk before that leaves the dataset there was (or none), and the same command can simply run again
work = os.path.join(args.out_dir, WORK)
shutil.rmtree(work, ignore_errors=True)  # a killed run's: the lock says no other prepare is live
conversations = {s: len(v[2]) - 1 for s, v in splits.items()}
trained = {s: int(sum(m.sum(dtype=np.int64) for m in v[1])) for s, v in splits.items()}
try:
    os.makedirs(work)
    for split, (ids, mask, starts) in splits.items():
        write_bin(os.path.join(work, f'{split}.bin'), np.concatenate(ids), vocab_size)
        write_atomic(os.path.join(work, f'{split}.mask.bin'), np.concatenate(mask).tobytes())
        write_atomic(os.path.join(work, f'{split}.idx.bin'), np.asarray(starts, dtype=np.uint64).tobytes())
    if args.tokenizer != 'gpt2':
        with open(args.tokenizer, 'rb') as f:
            write_atomic(os.path.join(work, TRAINED_FILE), f.read())
    write_summary(work, 'gpt2' if args.tokenizer == 'gpt2' else 'trained', vocab_size,
                  documents=sum(conversations.values()), characters=count.pop('characters'), kind=KIND,
                  conversations=conversations, trained_tokens=trained, block_size=args.block_size,
                  sources=[os.path.basename(p) for p in args.paths], shown=args.out_dir,
                  **count, **tok_info)
except OSError as e:
    shutil.rmtree(work, ignore_errors=True)
    disk_full(e, args.out_dir)
for name in os.listdir(work):
    if name != SUMMARY:
        os.replace(os.path.join(work, name), os.path.join(args.out_dir, name))
# another dataset's files that would be read with these ids: a character-level meta.pkl, a tokenizer.json
remove_files(args.out_dir, [META] + ([TRAINED_FILE] if args.tokenizer == 'gpt2' else []))
os.replace(os.path.join(work, SUMMARY), os.path.join(args.out_dir, SUMMARY))
os.rmdir(work)
fsync_dir(args.out_dir)
print(f"{conversations['train']:,} train and {conversations['val']:,} val conversations ({count['turns']:,} turns); "
      f"{count['cut']} cut at a turn boundary and {count['skipped_too_long']} skipped for --block_size={args.block_size}, "
      f"{count['skipped_malformed']} malformed skipped")
