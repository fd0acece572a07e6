"""
Checkpoints in the reference's format: out_dir/ckpt.pt holding a dict with model, optimizer,
model_args, iter_num, best_val_loss and config. Shared by train.py, sample.py and the tools.
"""

import os

import torch

CKPT_NAME = 'ckpt.pt'
COMPILE_PREFIX = '_orig_mod.'  # torch.compile's wrapper; checkpoints from elsewhere may carry it


def save_checkpoint(out_dir, checkpoint):
    """Write out_dir/ckpt.pt atomically: a temporary file in the same folder, fsync'ed, then renamed,
    so a crash at any moment leaves the previous checkpoint whole."""
    path = os.path.join(out_dir, CKPT_NAME)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, 'wb') as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(out_dir, os.O_RDONLY)  # make the rename itself durable
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(out_dir, map_location='cpu'):
    """Load out_dir/ckpt.pt (or a path to a .pt file), with a clear error when it is missing or unreadable;
    strips torch.compile's '_orig_mod.' prefix from parameter names."""
    path = out_dir if out_dir.endswith('.pt') else os.path.join(out_dir, CKPT_NAME)
    if not os.path.exists(path):
        raise SystemExit(f"error: no checkpoint at {path}; train one first, or check --out_dir")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # truncated zip, pickle errors
        raise SystemExit(f"error: {path} is not a readable checkpoint ({type(e).__name__}: {e}); "
                         f"it may be truncated or corrupt") from None
    missing = [k for k in ('model', 'model_args') if k not in checkpoint]
    if missing:
        raise SystemExit(f"error: {path} lacks {', '.join(missing)}; it is not a checkpoint of this project or nanoGPT")
    state = checkpoint['model']
    for k in list(state):
        if k.startswith(COMPILE_PREFIX):
            state[k[len(COMPILE_PREFIX):]] = state.pop(k)
    return checkpoint
