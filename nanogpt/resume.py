"""
What train.py --init_from=resume continues and what starts over, said out loud (docs/continuing.md).

Continued from the checkpoint: the weights, AdamW's moments, the iteration count (and so the place in the
learning-rate schedule, which is a function of the iteration), the random streams and the wandb run.
Taken from the command line: every other setting, the dataset included. Starts over when the val data
changed (another dataset name, or a val.bin whose sha256 differs from the one the checkpoint recorded):
best_val_loss, because a loss on another val set is no bar to beat; the run log marks the change and
plot.py breaks the val curve there.
"""

from nanogpt.errors import fail

# settings that do not change what is trained, left out of the "changed settings" line
QUIET = ('init_from', 'out_dir', 'eval_only', 'overwrite_checkpoint')


def val_changed(checkpoint, dataset, sha):
    """(changed, the checkpoint's dataset): whether this run's val data differs from the checkpoint's."""
    old = checkpoint.get('config', {}).get('dataset')
    old_sha = checkpoint.get('val_sha256')
    return (old is not None and old != dataset) or (old_sha is not None and sha is not None and old_sha != sha), old


def check_left_to_train(out_dir, iter_num, max_iters, lr_decay_iters, auto):
    """Exit when the checkpoint is already past max_iters: exit 2 with the fix for --init_from=resume; exit 0
    for auto, where it is a finished run restarted (Kubernetes, torchrun --max-restarts)."""
    if iter_num <= max_iters:
        return
    if auto:
        print(f"{out_dir}/ckpt.pt is at iter {iter_num}, past max_iters={max_iters}: the run is finished, "
              f"nothing left to train")
        raise SystemExit(0)
    fail(f"{out_dir}/ckpt.pt is at iter {iter_num} and max_iters={max_iters}: nothing left to train; to go on, "
         f"pass a larger --max_iters (e.g. --max_iters={iter_num - 1 + max(max_iters, 1)}) and a --lr_decay_iters to "
         f"match (now {lr_decay_iters}; past it the learning rate stays at min_lr)")


def report(checkpoint, config, iter_num, changed, old_dataset):
    """Print what the resumed run continues, what it takes from this command and what starts over."""
    c = config
    print(f"continuing {c['out_dir']}/ckpt.pt at iter {iter_num} (of max_iters={c['max_iters']}):")
    where = (f"min_lr={c['min_lr']:g} from here on, iter {iter_num} is past lr_decay_iters={c['lr_decay_iters']}"
             if c['decay_lr'] and iter_num >= c['lr_decay_iters'] else
             f"warmup_iters={c['warmup_iters']}, decay to min_lr={c['min_lr']:g} at lr_decay_iters={c['lr_decay_iters']}"
             if c['decay_lr'] else f"constant learning_rate={c['learning_rate']:g}")
    print(f"  continued: weights, optimizer state (AdamW moments), iteration count, lr schedule at iter {iter_num} "
          f"({where}), random streams, wandb run")
    old = checkpoint.get('config', {})
    changes = [f"{k} {old[k]!r} -> {v!r}" for k, v in c.items() if k in old and old[k] != v and k not in QUIET]
    if changes:
        print(f"  changed by this command: {', '.join(changes)}")
    if changed:
        what = (f"dataset {old_dataset} -> {c['dataset']}" if old_dataset != c['dataset'] else
                f"data/{c['dataset']}/val.bin is not the one the checkpoint was trained with (its sha256 differs)")
        print(f"  starts over: best_val_loss (was {checkpoint['best_val_loss']:.4f}), as the val data changed "
              f"({what}); the run log and plot.py mark the change")
    else:
        print(f"  starts over: nothing (same dataset; best_val_loss {checkpoint['best_val_loss']:.4f} carries over)")
