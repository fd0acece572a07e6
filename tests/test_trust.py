"""Files from elsewhere run no code: a sharded checkpoint's .metadata and .distcp entries, and a symlinked .lock."""
import io
import os
import pickle
import sys

import pytest
import torch

from harness import bad_input
from nanogpt import lock, parallel


class _Global:
    """Pickles as a bare GLOBAL of module.name, as a crafted .metadata would write it."""
    def __init__(self, module, name):
        self.module, self.name = module, name

    def __reduce__(self):
        return self.name  # a string: pickle writes GLOBAL __module__ name


def test_metadata_names_are_checked_before_any_import(tmp_path, monkeypatch):
    """A .metadata naming pwn.X, beside a pwn.py on sys.path, is refused without importing pwn."""
    marker = tmp_path / 'marker'
    (tmp_path / 'pwn.py').write_text(f"open({str(marker)!r}, 'w').write('ran')\nX = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    crafted = b'\x80\x04\x8c\x03pwn\x94\x8c\x01X\x94\x93\x94.'  # PROTO 4, 'pwn', 'X', STACK_GLOBAL, STOP
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL pwn\.X is not allowed"):
        parallel._MetadataUnpickler(io.BytesIO(crafted)).load()
    assert not marker.exists() and 'pwn' not in sys.modules


def test_distcp_bytes_entry_loads_weights_only(tmp_path):
    """DCP's own load_bytes unpickles with weights_only=False; ours refuses a payload that would run a command."""
    marker = tmp_path / 'marker'

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    buf = io.BytesIO()
    torch.save(Payload(), buf)
    buf.seek(0)
    planner = parallel._SafeLoadPlanner()
    planner.flatten_state_dict = False
    planner.state_dict = {}
    item = type('ReadItem', (), {'dest_index': type('Index', (), {'fqn': 'x'})()})()
    with pytest.raises(pickle.UnpicklingError):
        planner.load_bytes(item, buf)
    assert not marker.exists()
    buf = io.BytesIO()
    torch.save({'lr': 0.1, 'betas': (0.9, 0.95)}, buf)  # what a real optimizer entry holds still loads
    buf.seek(0)
    planner.load_bytes(item, buf)
    assert planner.state_dict['x'] == {'lr': 0.1, 'betas': (0.9, 0.95)}


def test_symlinked_lock_is_refused_and_its_target_kept(tmp_path):
    important = tmp_path / 'important.txt'
    important.write_text('keep me\n')
    out = tmp_path / 'out'
    out.mkdir()
    os.symlink(important, out / '.lock')
    with bad_input() as e:
        lock.hold(str(out), 'train.py')
    assert e.value.code == 2
    assert important.read_text() == 'keep me\n'


def test_count_tokens_verify_compares_the_largest_id_with_vocab_size(shakespeare_char, tmp_path):
    """A dataset whose ids pass its vocab_size (65 characters, an id 64,000 written in) fails --verify, exit 1."""
    import json
    import shutil
    import numpy as np
    from harness import run
    d = tmp_path / 'ds'
    shutil.copytree(shakespeare_char, d)
    ids = np.memmap(d / 'val.bin', dtype=np.uint16, mode='r+')
    ids[0] = 64000
    ids.flush()
    del ids
    s = json.loads((d / 'summary.json').read_text())
    from nanogpt.dataset import file_stats
    _, s['val_sha256'], _ = file_stats(str(d / 'val.bin'), np.dtype(np.uint16))
    (d / 'summary.json').write_text(json.dumps(s))
    r = run(['data/count_tokens.py', str(d), '--verify'], expect=1)
    assert 'MISMATCH: ids reach 64,000 but vocab_size is 65' in r.out


def test_merge_bins_refuses_an_out_dir_that_links_to_an_input(shakespeare_char, tmp_path):
    import shutil
    from harness import run
    a = tmp_path / 'a'
    shutil.copytree(shakespeare_char, a)
    before = (a / 'train.bin').read_bytes()
    os.symlink(a, tmp_path / 'link')
    r = run(['data/merge_bins.py', str(a), str(a), f'--out_dir={tmp_path / "link"}', '--overwrite'], expect=2)
    assert '--out_dir must not be one of the inputs' in r.out
    assert (a / 'train.bin').read_bytes() == before
