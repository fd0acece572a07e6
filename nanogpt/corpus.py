"""
Reading documents from local corpus files, each streamed (never a whole compressed file or table in memory):

    .txt                              the whole file is one document
    .jsonl, .jsonl.gz, .json.gz       one JSON object per line (C4 ships as .json.gz), gzip read as a stream
    .jsonl.zst                        the same, zstandard-compressed (The Pile, RedPajama)
    .parquet                          one document per row, read one row group at a time (pyarrow)
    .tar, .tar.gz, .tgz               archives of the text and JSON-lines kinds above, members in archive order

Where a record's text is (JSON lines and parquet rows) is said by a field spec (prepare_local.py's --key):
    text              a key (a parquet column)
    meta.body         a nested path: record['meta']['body']
    段落.内容          a path through a list: each element's '内容', joined by newlines (MNBVC's paragraphs)
    问,答              several fields, their texts joined by a newline (MNBVC's QA layout)
A record without the field (or with something other than text there) is an error naming the file and line
(row, for parquet); with skip_bad it is left out and counted instead.

local_documents() yields (text, bytes read) in a fixed order, which is what makes a prepare resumable and its
output reproducible; bytes read are of the file as stored (compressed), for progress bars.

Memory is bounded for any input: a document (a .txt file, a JSON line, a parquet row's text) over max_bytes
(MAX_DOCUMENT_BYTES unless told) is refused while it is read, never held whole, so a file without newlines or a
gzip/zstd bomb ends in one line naming the file, the line and the knob (--max_document_bytes) instead of
exhausting memory.
"""

import gzip
import hashlib
import io
import itertools
import json
import os
import re
import sys
import tarfile
import zlib

from nanogpt.errors import fail

JSONL_KINDS = ('.jsonl', '.jsonl.gz', '.json.gz', '.jsonl.zst')
STREAM_KINDS = ('.txt',) + JSONL_KINDS  # kinds read as one stream, so also inside a tar archive
KINDS = STREAM_KINDS + ('.parquet', '.tar', '.tar.gz', '.tgz')
KIND_NAMES = ', '.join(KINDS)
MAX_DOCUMENT_BYTES = 128 * 2 ** 20  # the largest document read (decompressed); enwik8 as one .txt fits


def file_kind(name):
    """The kind of a corpus file by its name's ending (the longest that matches), or None."""
    for ext in sorted(KINDS, key=len, reverse=True):
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
                fail(f"{p} holds no .txt, .jsonl, .tar or other corpus files ({KIND_NAMES})")
            files += found
        elif not os.path.exists(p):
            fail(f"{p} does not exist")
        elif file_kind(p) is None:
            fail(f"{p} is not a corpus file ({KIND_NAMES}) or a folder of them")
        else:
            files.append(p)
    return files


def decode_utf8(data, where):
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as e:
        fail(f"{where} is not UTF-8 (bad byte at offset {e.start}); convert it first, "
             f"e.g. iconv -f GB18030 -t UTF-8 in.txt > out.txt")


def too_large(where, limit, knob='--max_document_bytes', what='document'):
    fail(f"{where} is over {limit:,} bytes (decompressed), the most one {what} may have, so it was not read "
         f"whole (a file without line breaks, or a compression bomb?); split it, or raise the limit with {knob}=N")


def bounded_lines(stream, name, limit, knob='--max_document_bytes', what='document'):
    """Yield (line number, line) of a byte stream, reading each line at most limit + 1 bytes at a time: a
    line longer than limit bytes (its newline not counted) is refused before more of it is read."""
    for n in itertools.count(1):
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b'\n'):
            too_large(f"{name} line {n}", limit, knob, what)
        yield n, line


_SURROGATE = re.compile('[\ud800-\udfff]')


def loads_line(line):
    """The JSON value of one line (a str), or ValueError saying in a few words what is wrong with it: not JSON,
    nested deeper than Python's parser goes, an integer past Python's 4,300 digits, or a lone UTF-16 surrogate
    (an escape such as \\ud800 without its pair), which is no character and cannot be encoded as UTF-8."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"it is not JSON ({e.msg})") from None
    except RecursionError:
        raise ValueError("it nests arrays or objects deeper than Python's JSON parser goes") from None
    except ValueError:  # int('9' * 5000): past sys.get_int_max_str_digits()
        raise ValueError(f"it holds a number of more than {sys.get_int_max_str_digits():,} digits, which "
                         f"Python does not read") from None
    # a surrogate can only come from a \\u escape (the line itself is UTF-8): look further only then
    if ('\\ud' in line or '\\uD' in line) and _SURROGATE.search(json.dumps(value, ensure_ascii=False)):
        raise ValueError("it holds a lone UTF-16 surrogate (an escape such as \\ud800 without its pair), "
                         "which is no character")
    return value


def drop_empty(text):
    """The text without its empty and whitespace-only lines."""
    return ''.join(line for line in text.splitlines(keepends=True) if line.strip())


# -----------------------------------------------------------------------------
# where the text of a record is

def parse_field(spec):
    """A field spec ('text', 'a.b', '段落.内容', '问,答') as a list of paths, each a list of keys."""
    paths = [[k for k in part.strip().split('.')] for part in spec.split(',')]
    if not spec or any('' in p for p in paths):
        fail(f"--key={spec!r} is not a field spec: give a key (text), a nested path (meta.body, 段落.内容) "
             f"or fields to join (问,答)")
    return paths


def _at(value, path):
    """The text at path inside value: a string, the newline-joined texts of a list, or None."""
    for i, key in enumerate(path):
        if isinstance(value, list):
            parts = [_at(v, path[i:]) for v in value]
            return None if any(p is None for p in parts) else '\n'.join(parts)
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return '\n'.join(value)
    return value if isinstance(value, str) else None


def record_text(record, paths):
    """The text of a record (a dict) by parse_field's paths, or None when a field is missing or not text."""
    parts = [_at(record, p) for p in paths]
    return None if any(p is None for p in parts) else '\n'.join(parts)


def _bad(where, spec, skipped):
    if skipped is None:
        fail(f"{where} has no string field '{spec}'; name the text field with --key (a key, a.b for a nested "
             f"one, 段落.内容 through a list, 问,答 to join fields), or pass --skip_bad to leave such records out")
    skipped.append(where)


# -----------------------------------------------------------------------------
# one reader per kind of file

def _text_docs(name, f, limit):
    data = f.read(limit + 1)
    if len(data) > limit:
        too_large(name, limit)
    yield decode_utf8(data, name), len(data)


def _stream(kind, f):
    """The decompressed byte stream of a file object of a JSON-lines kind."""
    if kind in ('.jsonl.gz', '.json.gz'):
        return gzip.GzipFile(fileobj=f)
    if kind == '.jsonl.zst':
        import zstandard
        # closefd=False: f stays open for _zst_whole's check at the end
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True, closefd=False))
    return f


def _zst_whole(f):
    """Raise EOFError when the zstandard file f ends inside a frame (a truncated file), which zstandard's stream
    reader takes for a normal end. Walks the frame and block headers by seeking: no decompressing."""
    import zstandard
    try:  # a file of its own: seeking is cheap (in a .tar.gz member it would decompress the archive again)
        f.fileno()
    except (OSError, AttributeError):
        return
    f.seek(0)
    while head := f.read(18):  # a frame: magic, header, blocks (3-byte headers), checksum; or a skippable frame
        start, magic = f.tell() - len(head), int.from_bytes(head[:4], 'little')
        if magic & 0xFFFFFFF0 == 0x184D2A50:
            end = start + 8 + int.from_bytes(head[4:8].ljust(4, b'\xff'), 'little')
        elif magic == 0xFD2FB528:
            end, last = start + (zstandard.frame_header_size(head) if len(head) > 4 else 18), 0
            while not last:
                f.seek(end)
                block = int.from_bytes(f.read(3).ljust(3, b'\xff'), 'little')  # past the end: a bogus size
                last, end = block & 1, end + 3 + (1 if (block >> 1) & 3 == 1 else block >> 3)
            end += 4 * ((head[4] >> 2) & 1)  # the content checksum
        else:
            return  # not zstandard framing we know: leave it to the decompressor
        if end > f.seek(0, os.SEEK_END):
            raise EOFError("it ends inside a zstandard frame: the file is truncated")
        f.seek(end)


def _jsonl_docs(name, kind, f, paths, spec, skipped, limit):
    """Each JSON line's text; bytes read are counted in the stored (compressed) file."""
    # a compressed file's bytes read are where it stands; a plain one's, its lines' lengths (no tell per line)
    where_read = f.tell if kind != '.jsonl' and f.seekable() else None
    last = pos = where_read() if where_read else 0
    key = paths[0][0] if len(paths) == 1 and len(paths[0]) == 1 else None  # the usual --key=text: no path walk
    try:
        for n, line in bounded_lines(_stream(kind, f), name, limit):  # these files can be far larger than memory
            pos = where_read() if where_read else pos + len(line)  # a blank line's bytes go with the next record
            if not line.strip():
                continue
            try:
                obj = loads_line(line.decode('utf-8'))
            except UnicodeDecodeError:
                decode_utf8(line, f"{name} line {n}")  # says where the bad byte is, and stops
            except ValueError as e:
                if kind == '.jsonl.zst':  # a line cut short by a truncated file: say that instead
                    _zst_whole(f)
                fail(f"{name} line {n}: {e}; {kind} files hold one JSON object per line: fix or remove that line")
            text = obj.get(key) if key is not None and type(obj) is dict else None
            if type(text) is not str:
                text = record_text(obj, paths) if isinstance(obj, dict) else None
            nbytes, last = pos - last, pos
            if text is None:
                _bad(f"{name} line {n}", spec, skipped)
                continue
            yield text, nbytes
        if kind == '.jsonl.zst':
            _zst_whole(f)
    except (OSError, EOFError, zlib.error) as e:  # gzip's BadGzipFile, a truncated or corrupt stream
        fail(f"{name} is not a readable {kind} file ({e})")
    except Exception as e:  # zstandard.ZstdError derives from Exception only
        if type(e).__name__ != 'ZstdError':
            raise
        fail(f"{name} is not a readable {kind} file ({e})")


def _parquet_docs(path, paths, spec, skipped, limit):
    """Each row's text, reading 64 rows (and only the columns named) at a time."""
    import pyarrow.parquet as pq
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow.ArrowInvalid for a file that is not parquet
        fail(f"{path} is not a readable parquet file ({e})")
    columns = sorted({p[0] for p in paths})
    missing = [c for c in columns if c not in pf.schema_arrow.names]
    if missing:
        fail(f"{path} has no column '{missing[0]}' (columns: {', '.join(pf.schema_arrow.names)}); "
             f"name the text column with --key")
    row = 0
    for g in range(pf.num_row_groups):
        group_bytes = pf.metadata.row_group(g).total_byte_size
        last = row + pf.metadata.row_group(g).num_rows
        for batch in pf.iter_batches(batch_size=64, row_groups=[g], columns=columns):  # not a whole group
            for rec in batch.to_pylist():
                row += 1
                text = record_text(rec, paths)
                if text is None:
                    _bad(f"{path} row {row}", spec, skipped)
                    continue
                if len(text) > limit:  # characters: at least as many bytes
                    too_large(f"{path} row {row}", limit)
                yield text, group_bytes if row == last else 0


def _tar_docs(path, paths, spec, skipped, limit):
    try:
        with tarfile.open(path) as tar:  # members in archive order
            for m in tar:
                kind = file_kind(m.name)
                if m.isfile() and kind in STREAM_KINDS:
                    yield from _member_docs(f"{path}:{m.name}", kind, tar.extractfile(m), paths, spec, skipped,
                                            limit)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        fail(f"{path} is not a readable tar archive ({e})")


def _member_docs(name, kind, f, paths, spec, skipped, limit):
    if kind == '.txt':
        return _text_docs(name, f, limit)
    return _jsonl_docs(name, kind, f, paths, spec, skipped, limit)


def local_documents(files, key='text', skipped=None, max_bytes=MAX_DOCUMENT_BYTES):
    """Yield (text, bytes read) for every document of files, in order. key: a field spec (see above);
    skipped: None to stop at a record without the field, or a list that collects where such records were;
    max_bytes: the largest document, refused while it is read (see above)."""
    paths = parse_field(key)
    if max_bytes < 1:
        fail(f"--max_document_bytes must be 1 or more, not {max_bytes}")
    for path in files:
        kind = file_kind(path)
        if kind in STREAM_KINDS:
            with open(path, 'rb') as f:
                yield from _member_docs(path, kind, f, paths, key, skipped, max_bytes)
        elif kind == '.parquet':
            yield from _parquet_docs(path, paths, key, skipped, max_bytes)
        else:
            yield from _tar_docs(path, paths, key, skipped, max_bytes)


def files_fingerprint(files, options=''):
    """Names, sizes and modification times of the input files: what resuming and append compare."""
    parts = [f"{os.path.abspath(p)}:{os.path.getsize(p)}:{os.stat(p).st_mtime_ns}" for p in files]
    return hashlib.sha256(('\n'.join(parts) + options).encode()).hexdigest()[:16]
