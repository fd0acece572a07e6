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
