"""
TinyStories (GPT-2 BPE) from TinyStories or TinyStories-Instruct text files, stories separated by
<|endoftext|>. By default only the story text is kept: in Instruct records the header fields (Features:,
Words:, Summary:, Random sentence:, Story:) come in any order and a Summary may follow the story; everything
but the Story field is dropped. With --keep_fields an Instruct record keeps its fields for conditional
training, rewritten in one order with the story last (Features, Words, Random sentence, Summary, Story), so
that a prompt of field lines ending in "Story:" asks for a story that fits them. Every 10th story goes to val
(a 9:1 split); each story's encode_ordinary tokens are followed by EOT 50256. A dataset already in --out_dir
is replaced only with --overwrite.

  python data/tinystories/prepare.py                        # downloads TinyStoriesV2-GPT4-train.txt
  python data/tinystories/prepare.py --instruct             # downloads TinyStories-Instruct-train.txt
  python data/tinystories/prepare.py my/TinyStories*.txt --stories=100000   # local files, first 100k stories
  python data/tinystories/prepare.py --instruct --keep_fields --out_dir=data/tinystories_instruct
"""
import argparse
import os
import re
import sys

from nanogpt.corpus import MAX_DOCUMENT_BYTES, bounded_lines, decode_utf8, files_fingerprint, too_large
from nanogpt.dataset import load_summary
from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.prepare import prepare_documents
from nanogpt.usage import HelpFormatter

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

here = os.path.dirname(os.path.abspath(__file__))
SEP = '<|endoftext|>'
FIELD = re.compile(r'^(Features|Words|Summary|Random sentence|Story):[ \t]*', re.M)
ORDER = ('Features', 'Words', 'Random sentence', 'Summary')  # --keep_fields: the prompt's fields, then the Story


def fields_of(record):
    """{field: text} of an Instruct record ({} for a plain story)."""
    found = list(FIELD.finditer(record))
    return {m.group(1): record[m.end():found[i + 1].start() if i + 1 < len(found) else len(record)].strip()
            for i, m in enumerate(found)}


def story_of(record, keep_fields=False):
    """The document a record gives: the Story field of an Instruct record (with keep_fields: its fields in
    ORDER, then 'Story: ' and the story), else the whole record; '' for a record of headers but no story."""
    fields = fields_of(record)
    if not fields:
        return record.strip()
    story = fields.get('Story', '')
    if not story or not keep_fields:
        return story
    return ''.join(f"{k}: {fields[k]}\n" for k in ORDER if k in fields) + "Story: " + story


def records(path, limit=MAX_DOCUMENT_BYTES):
    """The <|endoftext|>-separated records of a file, read line by line (the files are GBs); a line or a record
    past limit bytes (characters, for a record) is refused while it is read: memory stays bounded for any file."""
    buf, size = [], 0
    with open(path, 'rb') as f:
        for i, raw in bounded_lines(f, path, limit):
            *ends, line = decode_utf8(raw, f"{path} line {i}").split(SEP)
            for head in ends:  # records that end on this line
                buf.append(head)
                yield ''.join(buf)
                buf, size = [], 0
            buf.append(line)
            size += len(line)
            if size > limit:
                too_large(f"{path} line {i} (a story that began on an earlier line)", limit)
    yield ''.join(buf)


def stories(paths, limit, keep_fields, max_bytes=MAX_DOCUMENT_BYTES):
    n = 0
    for path in paths:
        for rec in records(path, max_bytes):
            story = story_of(rec, keep_fields)
            if story:
                yield story, len(rec)
                n += 1
                if n == limit:
                    return


def download(filename, repo):
    from huggingface_hub import hf_hub_download
    try:
        return hf_hub_download(repo_id=repo, filename=filename, repo_type='dataset')
    except Exception as e:  # offline, missing file, proxy errors
        fail(f"could not download {filename} from the Hugging Face dataset {repo} ({type(e).__name__}); "
             f"download it yourself and pass its path: python data/tinystories/prepare.py path/to/{filename}")


p = argparse.ArgumentParser(description='prepare TinyStories', formatter_class=HelpFormatter)
p.add_argument('files', nargs='*', help='TinyStories or TinyStories-Instruct .txt files (default: download)')
p.add_argument('--instruct', action='store_true', help='download TinyStories-Instruct instead of TinyStories')
p.add_argument('--stories', type=int, default=0, help='keep only the first N stories (0: all)')
p.add_argument('--keep_fields', action='store_true',
               help='keep Instruct records\' Features/Words/Random sentence/Summary lines before the story')
p.add_argument('--out_dir', default=here, help='dataset folder')
p.add_argument('--overwrite', action='store_true', help='replace the dataset already in --out_dir')
p.add_argument('--num_proc', type=int, default=os.cpu_count(), help='processes that tokenize at once: every core')
p.add_argument('--max_document_bytes', type=int, default=MAX_DOCUMENT_BYTES, help='the largest story (bounds memory)')
args = p.parse_args()

files = args.files or [download('TinyStories-Instruct-train.txt', 'roneneldan/TinyStoriesInstruct') if args.instruct
                       else download('TinyStoriesV2-GPT4-train.txt', 'roneneldan/TinyStories')]
for f in files:
    if not os.path.isfile(f):
        fail(f"{f} does not exist")
fingerprint = files_fingerprint(files, f" stories={args.stories}" + (" keep_fields" if args.keep_fields else ""))
if os.path.exists(os.path.join(args.out_dir, 'train.bin')) and not args.overwrite:
    if (load_summary(args.out_dir) or {}).get('inputs') == [fingerprint]:
        print(f"{args.out_dir} already holds these stories, prepared with these options; nothing to do "
              f"(--overwrite prepares them again)")
        sys.exit(0)
    fail(f"{args.out_dir} already holds a dataset made from other files or options; pass --overwrite to replace "
         f"it, or write this one elsewhere with --out_dir=data/NAME (then train with --dataset=NAME)")
prepare_documents(args.out_dir, lambda: stories(files, args.stories, args.keep_fields, args.max_document_bytes),
                  split=('every', 10),
                  num_proc=args.num_proc, fingerprint=fingerprint,
                  total_bytes=None if args.stories else sum(os.path.getsize(f) for f in files), desc='tinystories')
