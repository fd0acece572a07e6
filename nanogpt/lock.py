"""
One writer per folder. train.py (its out_dir), eval.py (the log it appends to) and the prepare scripts (their
dataset folder) call hold(folder) before writing anything there. It takes an exclusive flock on folder/.lock
and keeps it until the process ends; the kernel releases it when the process dies, however it dies, so a
killed run never leaves a stale lock behind. A second writer is refused with one line naming the holder.

The file's content (the holder's pid and what it does) is only for that message: the lock is the flock,
never the file's existence.
"""

import errno
import fcntl
import os

from nanogpt.errors import fail, warn

LOCK_NAME = '.lock'
_held = {}  # folder (absolute) -> open file descriptor: kept open for the process's life


def hold(folder, what):
    """Make this process the only writer of folder (created if needed) until it exits; exits 2 with the
    holder's pid when another live process holds it. what says what this process does, for that message."""
    key = os.path.abspath(folder)
    if key in _held:
        return
    path = os.path.join(folder, LOCK_NAME)
    try:
        os.makedirs(folder, exist_ok=True)
        # O_NOFOLLOW: a .lock planted as a symlink must not make us truncate the file it points to
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            fail(f"{path} is a symbolic link, not this project's lock file; remove it and run again")
        fail(f"cannot write to {folder!r} ({e.strerror}); choose a writable folder")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode('utf-8', 'replace').strip() or 'a process that is starting'
        os.close(fd)
        fail(f"{folder} is in use by another process (pid {holder}); two writers would corrupt it. Wait for "
             f"that one to finish (or stop it), or use another folder")
    except OSError as e:  # a filesystem without locks (some network mounts): say so and go on
        warn(f"cannot lock {path} ({e.strerror}); nothing stops a second process from writing to {folder}")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}, {what}\n".encode(), 0)
    except OSError as e:  # a full disk: say so in one line, as every other writer does
        os.close(fd)
        fail(f"cannot write to {folder!r} ({e.strerror}); free some space or choose another folder")
    _held[key] = fd


def holder(folder):
    """'PID, what' of the live process that holds folder's lock, or None when none does. A reader's question:
    it takes no lock (a shared flock, dropped at once) and writes nothing."""
    try:
        fd = os.open(os.path.join(folder, LOCK_NAME), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:  # no lock file (no writer ever), or not ours to read
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return os.pread(fd, 200, 0).decode('utf-8', 'replace').strip() or 'a process that is starting'
    except OSError:  # a filesystem without locks: nobody can be seen holding it
        return None
    finally:
        os.close(fd)  # and with it the shared lock, when taken


def release(folder):
    """Give up folder's lock before this process ends (tests that run several writers in one process)."""
    fd = _held.pop(os.path.abspath(folder), None)
    if fd is not None:
        os.close(fd)
