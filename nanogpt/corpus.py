"""
Reading documents from local corpus files: one document per .txt file and per JSON line of a .jsonl
file, both also inside .tar/.tar.gz archives. local_documents() yields (text, bytes read) in a fixed
order, which is what makes a prepare resumable and its output reproducible.
"""

import hashlib
import json
import os
import tarfile

from nanogpt.errors import fail


def file_kind(name):
    for ext in ('.txt', '.jsonl', '.tar', '.tar.gz', '.tgz'):
        if name.endswith(ext):
            return ext
    return None


def corpus_files(paths):
    """The input files of paths (files or folders, folders walked in sorted order)."""
    if not paths:
        fail("no input paths given")
    files = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs if file_kind(f))
            if not found:
                fail(f"{p} holds no .txt, .jsonl, .tar or .tar.gz files")
            files += found
        elif not os.path.exists(p):
            fail(f"{p} does not exist")
        elif file_kind(p) is None:
            fail(f"{p} is not a .txt, .jsonl, .tar or .tar.gz file (or a folder of them)")
        else:
            files.append(p)
    return files


def decode_utf8(data, where):
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as e:
        fail(f"{where} is not UTF-8 (bad byte at offset {e.start}); convert it first, "
             f"e.g. iconv -f GB18030 -t UTF-8 in.txt > out.txt")


def drop_empty(text):
    """The text without its empty and whitespace-only lines."""
    return ''.join(line for line in text.splitlines(keepends=True) if line.strip())


def _member_docs(name, f, key):
    """Documents of one binary file object: the whole text of a .txt, or each JSON line's text field."""
    if name.endswith('.txt'):
        data = f.read()
        yield decode_utf8(data, name), len(data)
        return
    for i, line in enumerate(f):  # line by line: .jsonl files can be far larger than memory
        if not line.strip():
            continue
        where = f"{name} line {i + 1}"
        try:
            obj = json.loads(decode_utf8(line, where))
        except json.JSONDecodeError as e:
            fail(f"{where} is not JSON ({e.msg}); .jsonl files hold one JSON object per line")
        if not isinstance(obj, dict) or not isinstance(obj.get(key), str):
            fail(f"{where} has no string field '{key}'; name the text field with --key")
        yield obj[key], len(line)


def local_documents(files, key='text'):
    """Yield (text, bytes read) for every document of files, in order."""
    for path in files:
        kind = file_kind(path)
        if kind in ('.txt', '.jsonl'):
            with open(path, 'rb') as f:
                yield from _member_docs(path, f, key)
            continue
        try:
            with tarfile.open(path) as tar:  # members in archive order
                for m in tar:
                    if m.isfile() and file_kind(m.name) in ('.txt', '.jsonl'):
                        yield from _member_docs(f"{path}:{m.name}", tar.extractfile(m), key)
        except (tarfile.TarError, EOFError, OSError) as e:
            fail(f"{path} is not a readable tar archive ({e})")


def files_fingerprint(files, options=''):
    """Names, sizes and modification times of the input files: what resuming and append compare."""
    parts = [f"{os.path.abspath(p)}:{os.path.getsize(p)}:{os.stat(p).st_mtime_ns}" for p in files]
    return hashlib.sha256(('\n'.join(parts) + options).encode()).hexdigest()[:16]
