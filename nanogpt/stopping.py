"""
Stopping a run safely, for train.py: preemption signals and non-finite losses, agreed on by every rank
so all of them stop at the same step; and the test-only fault injection that proves it.

SIGTERM (Kubernetes, Slurm and torchrun send it before killing) or SIGINT (Ctrl-C) only sets a flag; the
current step finishes, then every rank learns of it through one all_reduce per step, rank 0 writes a
checkpoint and the run exits 0. A second Ctrl-C interrupts at once.
"""

import os
import signal
import sys

import torch
import torch.distributed as dist

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


def agree(loss, grad_norm, check_grad, rank, world_size, device):
    """One all_reduce per step for every rank to learn (ranks whose loss is non-finite, whether the gradient
    norm is non-finite, whether any rank was asked to stop)."""
    flags = torch.zeros(world_size + 2, device=device)
    flags[rank] = (~torch.isfinite(loss)).float()
    if check_grad:  # with a float16 GradScaler an inf gradient only makes it skip the step and rescale
        flags[-2] = (~torch.isfinite(grad_norm)).float()
    flags[-1] = float(bool(_caught))
    if world_size > 1:
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    flags = flags.tolist()
    bad_ranks = [r for r in range(world_size) if flags[r]]
    return bad_ranks, bool(flags[-2]), bool(flags[-1])


def report_nonfinite(iter_num, rank, bad_ranks):
    """Every rank stops before the update (train.py then exits NONFINITE_EXIT); nothing is checkpointed after
    the last good step."""
    if rank == 0:
        what = f"loss on rank {', '.join(map(str, bad_ranks))}" if bad_ranks else "gradient norm"
        print(f"error: non-finite {what} at iter {iter_num}; every rank stopped before the update and the last "
              f"checkpoint is left as it was. Lower --learning_rate, set --grad_clip or use bfloat16/float32, "
              f"then resume with --init_from=resume", file=sys.stderr, flush=True)


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
    return loss
