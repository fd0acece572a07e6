"""
Stopping a run safely, for train.py: preemption signals and non-finite losses, agreed on by every rank
so all of them stop at the same step; and the test-only fault injection that proves it.

SIGTERM (Kubernetes, Slurm and torchrun send it before killing) or SIGINT (Ctrl-C) only sets a flag; every
rank learns of it through the step's Flags (read a step later), all stop after the same step, rank 0 writes
a checkpoint and the run exits 0. A second Ctrl-C interrupts at once.
"""

import os
import signal
import sys
import time
from collections import namedtuple

import torch
import torch.distributed as dist

from nanogpt import errors

NONFINITE_EXIT = 3  # exit code of a run stopped by a NaN/inf loss or gradient norm
_caught = []  # names of the signals received


def catch_preemption():
    def on_signal(signum, frame):
        _caught.append(signal.Signals(signum).name)
        print(f"{_caught[-1]} received: stopping after this step with a checkpoint", file=sys.stderr, flush=True)
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def requested():
    """Whether this process was asked to stop (train.py looks between evaluation batches)."""
    return bool(_caught)


Agreed = namedtuple('Agreed', 'bad_ranks bad_grad stop iter_num')


class Flags:
    """What every rank must agree on to stop at the same step, kept on the device so that no step waits
    for the host: per rank "my loss is not finite", "the gradient norm is not finite", "some rank was
    signalled", and the iteration they describe. One small all_reduce per step (queued like any kernel;
    NCCL does not block the host), then a copy to host memory that the host reads a step later, when the
    GPU is busy with the next step, or at once where it reads anyway (log_interval, evaluation, the end).

    Once a step is non-finite the flags stay as they were at that step, and skip() tells the optimizer to
    skip this and every later update on the device (the way GradScaler skips fused optimizers' steps),
    so the one or two steps queued before the host learns of it change nothing. (With float16's GradScaler the
    scaler itself skips the bad step; a finite step queued after it may be applied in memory before the host
    stops the run, which then saves nothing.) The flags are int64, so the iteration they carry is exact."""

    def __init__(self, world_size, device):
        self.world_size = world_size
        self.device = torch.device(device)
        self.state = torch.zeros(world_size + 3, dtype=torch.long, device=device)  # bad loss per rank, bad grad, stop, iter
        self.copies = []  # (host copy, event) of the last two steps' flags, newest last

    def update(self, loss, grad_norm, check_grad, rank, iter_num):
        new = torch.zeros_like(self.state)
        new[rank] = (~torch.isfinite(loss)).long()
        if check_grad:  # with a float16 GradScaler an inf gradient only makes it skip the step and rescale
            new[-3] = (~torch.isfinite(grad_norm)).long()
        new[-2] = int(bool(_caught))
        new[-1] = iter_num
        if self.world_size > 1:
            dist.all_reduce(new, op=dist.ReduceOp.MAX)
        was_bad = self.state[:-2].amax() > 0
        self.state = torch.where(was_bad, self.state, new)  # a new tensor: last step's copy is left alone
        if self.device.type == 'cuda':
            host = torch.empty(self.state.shape, pin_memory=True)
            host.copy_(self.state, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
        else:  # CPU: already there (MPS and others: a blocking copy)
            host, event = self.state.to('cpu', copy=True), None
        self.copies = self.copies[-1:] + [(host, event)]

    def skip(self):
        """1.0 (a 0-d float device tensor) when this step or an earlier one was non-finite on some rank, else 0.0."""
        return self.state[:-2].amax().float()

    def read(self, late):
        """Agreed(ranks with a non-finite loss, non-finite gradient norm?, stop signal?, iteration) of the last step,
        or with late=True of the step before it (None before there was one). Every rank must read at the same
        iterations with the same `late`, so that all take the same decision."""
        if late and len(self.copies) < 2:
            return None
        host, event = self.copies[0 if late else -1]
        if event is not None:
            event.synchronize()  # late: waits for the previous step only, the current one stays queued
        flags = host.numpy()
        bad_ranks = [r for r in range(self.world_size) if flags[r]]
        return Agreed(bad_ranks, bool(flags[-3]), bool(flags[-2]), int(flags[-1]))


def optimizer_step(optimizer, scaler, skip):
    """The update, unless skip (a 0-d device tensor) is 1, decided on the device where the optimizer can
    (fused AdamW reads found_inf as GradScaler sets it); elsewhere the host reads skip."""
    if scaler.is_enabled():  # float16: a non-finite loss gives non-finite gradients, which the scaler skips
        scaler.step(optimizer)
        scaler.update()
    elif optimizer.defaults.get('fused'):
        optimizer.found_inf = skip.to(torch.float32)
        try:
            optimizer.step()
        finally:
            del optimizer.found_inf
    elif not skip.item():
        optimizer.step()


def report_nonfinite(iter_num, rank, bad_ranks):
    """Every rank stops before the update (train.py then exits NONFINITE_EXIT); nothing is checkpointed after
    the last good step."""
    if rank == 0:
        what = f"loss on rank {', '.join(map(str, bad_ranks))}" if bad_ranks else "gradient norm"
        errors.report(f"non-finite {what} at iter {iter_num}; every rank stopped before the update and the "
                      f"last checkpoint is left as it was. Lower --learning_rate, set --grad_clip or use "
                      f"bfloat16/float32, then resume with --init_from=resume")  # exit 3, not 2: see train.py


# test-only fault injection, read in this one place: NANOGPT_FAULT=nan@ITER:RANK makes that rank's loss NaN
# at that iteration; NANOGPT_FAULT=crash@ITER:RANK:MARKER kills that rank there once (creating MARKER).
_FAULT = os.environ.get('NANOGPT_FAULT', '')


def inject_fault(loss, iter_num, rank):
    if not _FAULT:
        return loss
    kind, _, where = _FAULT.partition('@')
    it, r, marker = (where.split(':', 2) + [''])[:3]
    if int(it) != iter_num or int(r) != rank:
        return loss
    if kind == 'nan':
        return loss * float('nan')
    if kind == 'crash' and not os.path.exists(marker):
        open(marker, 'w').close()
        print(f"NANOGPT_FAULT: crashing rank {rank} at iter {iter_num}", file=sys.stderr, flush=True)
        os._exit(1)
    if kind == 'hang':  # a rank that stops answering (stuck I/O, a deadlock): its peers must not wait forever
        print(f"NANOGPT_FAULT: rank {rank} hangs at iter {iter_num}", file=sys.stderr, flush=True)
        while not _caught:  # until torchrun, seeing its peer fail, sends SIGTERM
            time.sleep(0.1)
        os._exit(1)
    return loss
