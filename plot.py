"""
Loss curves of one or several runs, from their out_dir/log.jsonl, into a PNG.
$ python plot.py out-shakespeare-char
$ python plot.py out-lr1e-3 out-lr3e-3 --x=tokens --out=compare.png

Each run gets one colour: its train loss (the per-interval loss of one batch, from train.py's log
lines) as a thin line, its val loss (train.py's evaluations) as a thick line with dots, and eval.py's
results (whole val split) as stars. Where a run was resumed on other val data (train.py --init_from=resume
--dataset=other, docs/continuing.md) its curves break, at a dashed vertical line: losses on two val sets
are not one curve. matplotlib is only needed here: pip install matplotlib
"""

import argparse
import os
import sys

from nanogpt.atomicfile import atomic_write
from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.runlog import read_log

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

parser = argparse.ArgumentParser(description="Plot train and val loss curves of runs into a PNG.")
parser.add_argument('runs', nargs='+', help="out_dir of a run (or its log.jsonl); several to compare")
parser.add_argument('--x', choices=('iter', 'tokens'), default='iter', help="horizontal axis (default: iter)")
parser.add_argument('--out', default='loss.png', help="PNG to write (default: loss.png)")
parser.add_argument('--labels', help="comma-separated legend names, one per run (default: the folder names)")
args = parser.parse_args()

try:
    import matplotlib
    matplotlib.use('Agg')  # files only, no display needed
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter
except ImportError:
    fail("plot.py needs matplotlib, which is not installed: pip install matplotlib")

labels = args.labels.split(',') if args.labels else [
    os.path.basename(os.path.dirname(os.path.abspath(r)) if r.endswith('.jsonl') else os.path.abspath(r))
    for r in args.runs]
if len(labels) != len(args.runs):
    fail(f"--labels names {len(labels)} runs but {len(args.runs)} were given")
if not args.out.lower().endswith('.png'):
    fail(f"--out={args.out} must end in .png")


def points(rows, kind, key):
    pts = [(r[args.x], r[key]) for r in rows
           if r.get('kind') == kind and r.get(args.x) is not None and r.get(key) is not None]
    return sorted(pts)


def val_changes(header, rows):
    """(x, resume row) where the run went on with other val data; a row without tokens has them computed."""
    tpi = header.get('tokens_per_iter') or 0
    return sorted(((r.get(args.x, r['iter'] * tpi), r) for r in rows if r.get('kind') == 'resume' and r.get('val_changed')),
                  key=lambda c: c[0])


def split_at(pts, cuts):
    """pts in pieces: a point at x >= a cut belongs to the piece after it (the resumed run measured it)."""
    pieces = [[] for _ in range(len(cuts) + 1)]
    for x, y in pts:
        pieces[sum(x >= c for c in cuts)].append((x, y))
    return [p for p in pieces if p]


fig, ax = plt.subplots(figsize=(9, 5.5), dpi=120)
plotted = 0
for i, (run, label) in enumerate(zip(args.runs, labels)):
    header, rows = read_log(run)
    colour = f'C{i % 10}'
    train, val, final = points(rows, 'train', 'train_loss'), points(rows, 'eval', 'val_loss'), points(rows, 'evaluate', 'val_loss')
    changes = val_changes(header, rows)
    cuts = [x for x, _ in changes]
    for k, piece in enumerate(split_at(train, cuts)):
        ax.plot(*zip(*piece), color=colour, lw=0.9, alpha=0.55, label=None if k else f'{label} train')
    for k, piece in enumerate(split_at(val, cuts)):
        ax.plot(*zip(*piece), color=colour, lw=2.2, marker='o', ms=4, label=None if k else f'{label} val')
    for x, r in changes:
        note = f"val data changed at iter {r['iter']:,}" + (
            f" ({r['previous_dataset']} -> {r['dataset']})" if r.get('previous_dataset') != r.get('dataset') else '')
        ax.axvline(x, color=colour, ls='--', lw=1.2, label=f'{label}: {note}')
        print(f"{label}: {note}; the curves break there")
    if cuts:
        val = [p for p in val if p[0] >= cuts[-1]]  # the best val below is on the current val data only
    if final:
        ax.plot(*zip(*final), color=colour, ls='none', marker='*', ms=14, mec='black', label=f'{label} eval.py (full val)')
    if not (train or val or final):
        print(f"warning: {run} has no loss rows yet", file=sys.stderr)
        continue
    plotted += 1
    best = min(val, key=lambda p: p[1]) if val else None
    last = max((r['iter'] for r in rows if r.get('kind') == 'train'), default=None)
    print(f"{label}: {len(train)} train rows, {len(points(rows, 'eval', 'val_loss'))} evaluations, last iter {last}"
          + (f", best val {best[1]:.4f} at {args.x} {best[0]:,}" if best else '')
          + (" (on the val data since the last change)" if cuts and best else ''))
if not plotted:
    fail("nothing to plot: the logs have no train or eval rows")

ax.set_xlabel('iteration' if args.x == 'iter' else 'tokens seen')
if args.x == 'tokens':
    ax.xaxis.set_major_formatter(EngFormatter())
ax.set_ylabel('loss (cross-entropy, nats per token)')
ax.set_title('loss vs ' + ('iterations' if args.x == 'iter' else 'tokens seen'))
ax.grid(True, alpha=0.3)
ax.legend()
fig.tight_layout()
# written under a temporary name, then renamed: never a half-written PNG under the real name
with atomic_write(args.out) as f:
    fig.savefig(f, format='png')
print(f"wrote {args.out}")
