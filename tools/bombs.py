"""Inputs that expand far past their size on disk, made in a moment: a compressed stream is the same small
frame (gzip member, zstd frame) repeated, which both formats read as one stream; a .txt is a sparse file.
Used by tests/test_bounded_memory.py and tools/bench_memory_bounds.py."""
import gzip
import json
import os

MB = 2 ** 20


def _frames(compress, head, body, mb, tail):
    one = compress(body * (MB // len(body)))  # one frame: 1 MB of body
    return compress(head) + one * mb + compress(tail)


def gzip_bomb(path, mb, head=b'', body=b'a', tail=b''):
    """A gzip file whose stream is head, then mb MB of body (no newline unless body has one), then tail."""
    with open(path, 'wb') as f:
        f.write(_frames(lambda b: gzip.compress(b, 6), head, body, mb, tail))
    return str(path)


def zstd_bomb(path, mb, head=b'', body=b' ', tail=b''):
    import zstandard
    with open(path, 'wb') as f:
        f.write(_frames(zstandard.ZstdCompressor(level=3).compress, head, body, mb, tail))
    return str(path)


def sparse_txt(path, mb):
    """A .txt of mb MB of NUL bytes (valid UTF-8) that takes no disk space."""
    with open(path, 'wb') as f:
        f.truncate(mb * MB)
    return str(path)


def document_zst(path, mb):
    """One JSON line {"text": "..."} of mb MB of words, zstd-compressed: a single huge document."""
    return zstd_bomb(path, mb, head=b'{"text": "', body=b'word ', tail=b'"}\n')


def conversation_jsonl(path, mb):
    """One valid conversation whose answer is mb MB of words (one JSON line, plain .jsonl)."""
    answer = 'word ' * (mb * MB // 5)
    with open(path, 'w') as f:
        f.write(json.dumps({'messages': [{'role': 'user', 'content': 'Say it.'},
                                         {'role': 'assistant', 'content': answer}]}) + '\n')
    return str(path)


def size_on_disk(path):
    return os.stat(path).st_blocks * 512
