"""Memory stays bounded for any input (issue 21 point 4): the real prepare scripts, each in a process whose address
space is capped (RLIMIT_AS), on inputs that expand to a GB or more: a document past the stated limit is refused
while it is read, in one `error:` line naming the file, the line and the knob, exit 2 -- not a MemoryError."""
import resource
import subprocess
import sys

import pytest

from tools.bombs import conversation_jsonl, document_zst, gzip_bomb, sparse_txt, zstd_bomb
from harness import ROOT

GB = 2 ** 30
CAP = 1.25 * GB  # address space: the script's own (~0.3 GB, prepare_chat ~0.75 GB) and a bounded document


def capped_run(args, cap=CAP):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (int(cap), int(cap)))
    return subprocess.run([sys.executable] + [str(a) for a in args], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=limit, timeout=120)


def one_error_line(r, *names):
    assert r.returncode == 2 and 'Traceback' not in r.stderr and 'MemoryError' not in r.stderr, r.stderr[-3000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and all(n in last for n in names), last
    return last


BOMBS = {  # name: (make(path), file name, what the error names)
    'zst_without_newline': (lambda p: zstd_bomb(p, 1536), 'bomb.jsonl.zst', 'line 1'),  # 1.5 GB of spaces
    'zst_one_400MB_document': (lambda p: document_zst(p, 400), 'doc.jsonl.zst', 'line 1'),
    'gzip_bomb': (lambda p: gzip_bomb(p, 1536), 'bomb.jsonl.gz', 'line 1'),
    'txt_of_1.5GB': (lambda p: sparse_txt(p, 1536), 'big.txt', 'big.txt'),
}


@pytest.mark.parametrize('case', list(BOMBS))
def test_prepare_local_refuses_a_huge_document_while_reading_it(case, tmp_path):
    make, name, where = BOMBS[case]
    path = make(tmp_path / name)
    r = capped_run(['data/prepare_local.py', path, f'--out_dir={tmp_path / "out"}'])
    one_error_line(r, path, where, '134,217,728 bytes', '--max_document_bytes')
    assert not (tmp_path / 'out' / 'train.bin').exists()


def test_prepare_chat_refuses_a_conversation_bomb(tmp_path):
    path = gzip_bomb(tmp_path / 'chat.jsonl.gz', 1536, head=b'{"messages": [{"role": "user", "content": "')
    r = capped_run(['data/prepare_chat.py', path, f'--out_dir={tmp_path / "out"}'])
    one_error_line(r, path, 'line 1', '8,388,608 bytes', '--max_conversation_bytes')


def test_prepare_chat_refuses_a_20MB_conversation_at_a_large_block_size(tmp_path):
    """It would fit the block, but 20 MB of text is past the stated limit (tiktoken alone takes some 40 bytes per
    byte of a text without spaces): refused before it is parsed, let alone tokenized."""
    path = conversation_jsonl(tmp_path / 'long.jsonl', 20)
    r = capped_run(['data/prepare_chat.py', path, '--block_size=20000000', f'--out_dir={tmp_path / "out"}'])
    one_error_line(r, path, 'line 1', '8,388,608 bytes', '--max_conversation_bytes')


def test_tinystories_refuses_a_file_without_line_breaks(tmp_path):
    path = sparse_txt(tmp_path / 'TinyStories-train.txt', 1536)
    r = capped_run(['data/tinystories/prepare.py', path, f'--out_dir={tmp_path / "out"}'])
    one_error_line(r, path, 'line 1', '134,217,728 bytes', '--max_document_bytes')


def test_parquet_rows_past_the_limit_are_refused(tmp_path, capsys):
    """parquet is read 64 rows at a time; a row whose text passes the limit stops the read with its row number."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from harness import bad_input
    from nanogpt.chat import read_records
    from nanogpt.corpus import local_documents
    rows = [{'text': 'short', 'messages': [{'role': 'user', 'content': 'hi'}]},
            {'text': 'x' * 100, 'messages': [{'role': 'user', 'content': 'y' * 100}]}]
    path = str(tmp_path / 'r.parquet')
    pq.write_table(pa.Table.from_pylist(rows), path)
    for read, knob in ((lambda: list(local_documents([path], max_bytes=50)), '--max_document_bytes'),
                       (lambda: list(read_records(path, max_bytes=50)), '--max_conversation_bytes')):
        with bad_input():
            read()
        err = capsys.readouterr().err
        assert f"error: {path} row 2 is over 50 bytes" in err and f"{knob}=N" in err, err
