"""Writing a file so that it is either whole or absent: the one way every script here replaces a file."""

import os
import shutil
from contextlib import contextmanager


@contextmanager
def atomic_write(path, mode='wb'):
    """Yield a temporary file beside path; when the block succeeds it is flushed, fsync'ed and renamed over
    path, when it fails it is removed. A crash at any moment leaves the old file (or none), never half of one."""
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def link_atomic(src, path):
    """Give src's (durable) bytes a second name, path, appearing only when whole: a hard link, or on a
    filesystem without links a copy fsync'ed before its rename. A leftover path.tmp.link is the caller's."""
    tmp = f"{path}.tmp.link"
    try:
        os.link(src, tmp)  # same bytes, no copy
    except OSError:
        shutil.copyfile(src, tmp)
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
    os.replace(tmp, path)


def write_atomic(path, data):
    """Write bytes to path through atomic_write."""
    with atomic_write(path) as f:
        f.write(data)


def fsync_append(path, data):
    """Append bytes to path and make them durable before returning."""
    with open(path, 'ab') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(path):
    """Make the renames inside folder path durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
