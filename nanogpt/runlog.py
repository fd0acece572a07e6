"""
The run's record: out_dir/log.jsonl, one JSON object per line, written by train.py and eval.py and read
by plot.py. Readable without wandb, a network or this project (any JSON-lines reader will do).

    {"kind": "config", "config": {...}, "tokens_per_iter": 768, "time": ...}          first line, once
    {"kind": "train", "iter": 10, "tokens": 7680, "train_loss": 3.21, "lr": ..., "ms_per_iter": ..., "mfu_pct": ...}
    {"kind": "eval", "iter": 250, "tokens": ..., "train_loss": ..., "val_loss": ..., "lr": ..., "mfu_pct": ...}
    {"kind": "resume", "iter": 250, "tokens": ..., "config_changes": {...}}            each resume
    {"kind": "resume", ..., "dataset": "new", "previous_dataset": "old", "val_changed": true}  on other val data
    {"kind": "evaluate", "iter": 2000, "val_loss": ..., "perplexity": ..., "bpb": ..., ...}   from eval.py

"iter" is train.py's iter_num: the number of optimizer steps taken before the loss was measured, and
"tokens" = iter * tokens_per_iter, the tokens the model had trained on at that moment. A train row's
loss is that of the forward pass of step "iter" (the last micro-batch's, before that step's update),
so train and eval rows with the same iter describe the same weights.

Durability: rows are only ever appended, one whole line per write, flushed at once and fsync'ed at each
evaluation (where checkpoints are saved). A crash can at worst tear the last line; readers skip it and
the next writer cuts it off (train.py --eval_only, which never rewrites, ends it instead). Rewrites (on
resume) go through a temporary file and a rename. One process at a time writes a folder (nanogpt/lock.py).
A full disk loses log rows with a warning but never stops training before its checkpoint.

Resume: a run resumed from a checkpoint at iter N redoes iterations N, N+1, ... so the train/eval rows
with iter >= N are dropped before appending; eval.py's rows are kept. Its resume row says what changed;
val_changed marks a resume onto other val data, where plot.py breaks the val curve (docs/continuing.md).

$ python -m nanogpt.runlog out-shakespeare-char > log.csv    # every row but the config header, as CSV
"""

import csv
import json
import os
import sys
import time

from nanogpt.atomicfile import atomic_write
from nanogpt.errors import exit_on_bad_input, fail, warn

LOG_NAME = 'log.jsonl'
COLUMNS = ['kind', 'iter', 'tokens', 'train_loss', 'val_loss', 'lr', 'ms_per_iter', 'mfu_pct', 'time']
REDONE_ON_RESUME = ('train', 'eval', 'resume')  # kinds that a resumed run writes again
# wandb keys: the per-interval loss of one batch is kept apart from the evaluation's mean losses
WANDB_NAMES = {'train': {'train_loss': 'train/batch_loss'}, 'eval': {'train_loss': 'train/loss', 'val_loss': 'val/loss'}}


def log_path(run):
    """The log of a run: run may be its out_dir or the log file itself."""
    return run if run.endswith('.jsonl') else os.path.join(run, LOG_NAME)


def read_lines(path):
    """The rows of a log as dicts, and whether its tail was torn (a crash mid-write)."""
    with open(path, 'rb') as f:
        data = f.read()
    lines = data.split(b'\n')
    torn = lines[-1] != b''  # a complete file ends with a newline
    rows = []
    for i, line in enumerate(lines[:-1]):
        try:
            rows.append(json.loads(line))
        except ValueError:
            print(f"warning: {path} line {i + 1} is not JSON; skipped", file=sys.stderr)
    return rows, torn


def read_log(run):
    """(config header or {}, list of rows) of a run's log; exits 2 when there is none."""
    path = log_path(run)
    if not os.path.exists(path):
        fail(f"no run log at {path}; train with this project's train.py first, or pass a run's out_dir or its {LOG_NAME}")
    rows, _ = read_lines(path)
    header = next((r for r in rows if r.get('kind') == 'config'), {})
    return header, [r for r in rows if r.get('kind') != 'config']


def _rewrite(path, rows):
    """Replace the log by rows, atomically: a crash leaves either the old or the new file."""
    with atomic_write(path, 'w') as f:
        for row in rows:
            f.write(json.dumps(row) + '\n')


def _clean(x):
    """JSON has no NaN or inf: a diverged loss is written as null rather than an invalid file."""
    if isinstance(x, float) and (x != x or x in (float('inf'), float('-inf'))):
        return None
    return x


def _append(path, row, sync=False):
    _append_raw(path, json.dumps({k: _clean(v) for k, v in row.items()}) + '\n', sync)


def _append_raw(path, text, sync=False):
    with open(path, 'a') as f:
        f.write(text)
        f.flush()
        if sync:
            os.fsync(f.fileno())


def append_row(out_dir, row, config=None):
    """Append one row to out_dir's log (eval.py); starts the log with config when there is none yet."""
    path = log_path(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
        if os.path.exists(path):
            rows, torn = read_lines(path)
            if torn:
                _rewrite(path, rows)
        elif config is not None:
            _append(path, {'kind': 'config', 'config': config, 'time': time.time()})
        _append(path, dict(row, time=time.time()), sync=True)
    except OSError as e:
        fail(f"could not append to {path} ({e.strerror}); free some space, or pass another --out_dir")
    return path


class RunLog:
    """train.py's writer. A fresh run starts a new log (an older one is renamed to log.1.jsonl, ...,
    never overwritten); a resumed run (resume_iter = the checkpoint's iter_num) continues the old one;
    append_only (eval_only) only ever appends, to the log there is or a new one. A row that cannot be
    written (disk full) is a warning, not the end of the run: its checkpoint matters more than its log."""

    def __init__(self, out_dir, config, tokens_per_iter, resume_iter=None, wandb_log=False, resume_note=None,
                 append_only=False):
        os.makedirs(out_dir, exist_ok=True)
        self.path = log_path(out_dir)
        self.tokens_per_iter = tokens_per_iter
        self.wandb_log = wandb_log
        self.write_failed = False
        header = {'kind': 'config', 'config': config, 'tokens_per_iter': tokens_per_iter, 'time': time.time()}
        resume = None
        if resume_iter is not None:
            resume = {'kind': 'resume', 'iter': resume_iter, 'tokens': resume_iter * tokens_per_iter,
                      'config_changes': {}, **(resume_note or {}), 'time': time.time()}
        try:
            self._start(header, config, resume, append_only)
        except OSError as e:
            fail(f"could not write the run log {self.path} ({e.strerror}); free some space or choose another --out_dir")
        print(f"run log: {self.path}")

    def _start(self, header, config, resume, append_only):
        if append_only:
            if not os.path.exists(self.path):
                _append(self.path, header)
            elif read_lines(self.path)[1]:  # a torn last line: end it, so the next row starts a line
                _append_raw(self.path, '\n')
        elif resume is not None and os.path.exists(self.path):
            resume_iter = resume['iter']
            rows, _ = read_lines(self.path)
            kept = [r for r in rows if not (r.get('kind') in REDONE_ON_RESUME and r.get('iter', -1) >= resume_iter)]
            old = next((r['config'] for r in kept if r.get('kind') == 'config'), {})
            resume['config_changes'] = {k: v for k, v in config.items() if old.get(k) != v}
            if len(kept) < len(rows):
                print(f"run log: the earlier run went on past this checkpoint (iter {resume_iter}) before it stopped; "
                      f"its {len(rows) - len(kept)} rows from iter {resume_iter} on were removed from the log, as "
                      f"those iterations are trained again now")
            _rewrite(self.path, kept + [resume])
        else:
            if os.path.exists(self.path):
                self._set_aside()
            _rewrite(self.path, [header] if resume is None else [header, resume])

    def _set_aside(self):
        k = 1
        while os.path.exists(old := self.path[:-len('.jsonl')] + f'.{k}.jsonl'):
            k += 1
        os.replace(self.path, old)
        print(f"run log: a log from an earlier run in this out_dir was moved to {old}")

    def _row(self, kind, it, sync, **fields):
        row = {'kind': kind, 'iter': it, 'tokens': it * self.tokens_per_iter, **fields, 'time': time.time()}
        try:
            _append(self.path, row, sync=sync)
        except OSError as e:  # disk full, quota: keep training, so that the run can still try to checkpoint
            if not self.write_failed:
                warn(f"could not append to {self.path} ({e.strerror}); training goes on without its log rows. "
                     f"Free some space: the checkpoint needs it too")
            self.write_failed = True
        if self.wandb_log:
            import wandb  # train.py has called wandb.init
            names = WANDB_NAMES[kind]
            wandb.log({names.get(k, k): v for k, v in row.items() if k not in ('kind', 'time') and v is not None})

    def train(self, it, loss, lr, dt, mfu):
        """A log-interval row: loss of step it, seconds dt that step took, mfu as a fraction (-1 = not yet)."""
        self._row('train', it, False, train_loss=loss, lr=lr, ms_per_iter=dt * 1000,
                  mfu_pct=mfu * 100 if mfu >= 0 else None)

    def eval(self, it, losses, lr, mfu):
        """An evaluation row: losses = {'train': mean, 'val': mean} at iter it."""
        self._row('eval', it, True, train_loss=losses['train'], val_loss=losses['val'], lr=lr,
                  mfu_pct=mfu * 100 if mfu >= 0 else None)


def wandb_offline_unless_key():
    """train.py's check before training, without network: with wandb_log=True and no W&B API key (neither
    WANDB_API_KEY nor a stored `wandb login`), wandb.init would die after start-up (on Kubernetes, a restart
    loop); log offline instead and say how to upload later. WANDB_MODE=offline/disabled needs no key.
    Returns the mode for wandb.init: 'offline', or None for wandb's own choice."""
    if os.environ.get('WANDB_MODE', '').lower() in ('offline', 'dryrun', 'disabled'):
        return None
    import wandb
    try:
        has_key = wandb.login(verify=False, prompt=False)  # looks for a key; no prompt, no network
    except TypeError:  # a wandb without login(prompt=): its stored key, read the same way
        has_key = bool(getattr(getattr(wandb, 'api', None), 'api_key', None))
    except wandb.errors.Error as e:  # e.g. a malformed WANDB_API_KEY
        fail(f"wandb: {str(e).rstrip('.')}; fix WANDB_API_KEY (or run `wandb login`), or pass --wandb_log=False")
    if has_key:
        return None
    warn("wandb_log=True but no W&B API key is set up (WANDB_API_KEY or `wandb login`): logging offline instead, "
         "into wandb/offline-run-* (under WANDB_DIR if set); upload it later with `wandb sync wandb/offline-run-*`, "
         "or run `wandb login` before training")
    return 'offline'


if __name__ == '__main__':
    exit_on_bad_input()
    if len(sys.argv) != 2 or sys.argv[1] in ('-h', '--help'):
        asked = len(sys.argv) == 2  # --help: to stdout, exit 0; a wrong call: to stderr, exit 2
        print("usage: python -m nanogpt.runlog OUT_DIR_OR_LOG > log.csv\n"
              "writes a run's log.jsonl (every row of every resume) as CSV to stdout",
              file=sys.stdout if asked else sys.stderr)
        sys.exit(0 if asked else 2)
    _, rows = read_log(sys.argv[1])
    extra = sorted({k for r in rows for k in r if k not in COLUMNS})
    w = csv.DictWriter(sys.stdout, COLUMNS + extra, extrasaction='ignore')
    try:
        w.writeheader()  # a resume row keeps its config_changes as JSON text
        w.writerows({k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()} for r in rows)
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
