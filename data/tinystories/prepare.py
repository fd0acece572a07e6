"""
TinyStories (GPT-2 BPE) from TinyStories or TinyStories-Instruct text files, stories separated by
<|endoftext|>. Only the story text is kept: in Instruct records the header fields (Features:, Words:,
Summary:, Random sentence:, Story:) come in any order and a Summary may follow the story; everything but
the Story field is dropped. Every 10th story goes to val (a 9:1 split); each story's encode_ordinary
tokens are followed by EOT 50256.

  python data/tinystories/prepare.py                        # downloads TinyStoriesV2-GPT4-train.txt
  python data/tinystories/prepare.py --instruct             # downloads TinyStories-Instruct-train.txt
  python data/tinystories/prepare.py my/TinyStories*.txt --stories=100000   # local files, first 100k stories
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from nanogpt.corpus import decode_utf8, files_fingerprint  # noqa: E402
from nanogpt.errors import fail  # noqa: E402
from nanogpt.prepare import prepare_documents  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
SEP = '<|endoftext|>'
FIELD = re.compile(r'^(Features|Words|Summary|Random sentence|Story):[ \t]*', re.M)


def story_of(record):
    """The story text of a record: the Story field of an Instruct record, else the whole record."""
    fields = list(FIELD.finditer(record))
    for i, m in enumerate(fields):
        if m.group(1) == 'Story':
            end = fields[i + 1].start() if i + 1 < len(fields) else len(record)
            return record[m.end():end].strip()
    return '' if fields else record.strip()  # a record of headers but no story has none


def records(path):
    """The <|endoftext|>-separated records of a file, read line by line (the files are GBs)."""
    buf = []
    with open(path, 'rb') as f:
        for i, raw in enumerate(f):
            line = decode_utf8(raw, f"{path} line {i + 1}")
            while SEP in line:
                head, line = line.split(SEP, 1)
                buf.append(head)
                yield ''.join(buf)
                buf = []
            buf.append(line)
    yield ''.join(buf)


def stories(paths, limit):
    n = 0
    for path in paths:
        for rec in records(path):
            story = story_of(rec)
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


p = argparse.ArgumentParser(description='prepare TinyStories')
p.add_argument('files', nargs='*', help='TinyStories or TinyStories-Instruct .txt files (default: download)')
p.add_argument('--instruct', action='store_true', help='download TinyStories-Instruct instead of TinyStories')
p.add_argument('--stories', type=int, default=0, help='keep only the first N stories (0: all)')
p.add_argument('--out_dir', default=here)
p.add_argument('--num_proc', type=int, default=os.cpu_count())
args = p.parse_args()

files = args.files or [download('TinyStories-Instruct-train.txt', 'roneneldan/TinyStoriesInstruct') if args.instruct
                       else download('TinyStoriesV2-GPT4-train.txt', 'roneneldan/TinyStories')]
for f in files:
    if not os.path.isfile(f):
        fail(f"{f} does not exist")
prepare_documents(args.out_dir, lambda: stories(files, args.stories), split=('every', 10), num_proc=args.num_proc,
                  fingerprint=files_fingerprint(files, f" stories={args.stories}"),
                  total_bytes=None if args.stories else sum(os.path.getsize(f) for f in files), desc='tinystories')
