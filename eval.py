"""
Evaluate a checkpoint (out_dir/ckpt.pt) or GPT-2 weights on the whole val split (or --split) of a prepared dataset:
loss, perplexity and bits per byte, printed and appended to out_dir/log.jsonl (the run's record). On a live run
(train.py still writing out_dir) it evaluates the latest checkpoint read-only: no lock, nothing written there; the
numbers are printed, and with --log_dir=DIR appended to DIR/log.jsonl.
$ python eval.py --out_dir=out-shakespeare-char --device=cpu
$ python eval.py --init_from=gpt2 --dataset=shakespeare --out_dir=out-gpt2
$ python eval.py --out_dir=out-shakespeare-char --window_shift=128   # the context sample.py gives
$ python eval.py --out_dir=out-chat --split=train   # a chat dataset: assistant-token loss, exact greedy answers
$ python eval.py --out_dir=out-live --log_dir=evals-live   # a run still training: its numbers kept apart

The rule. val.bin holds tokens t[0], ..., t[N-1]. Windows of block_size (B) inputs slide over it by
window_shift (k) tokens, as sample.py's window does: the window at s feeds t[s : s+B] and predicts
t[s+1 : s+B+1]; the first window counts all its predictions, every later one its last k (those the
windows before it have not made); the last window may be shorter. So every token but t[0] is predicted
exactly once, after its first B tokens from B-k+1 to B tokens of context. The default k = B cuts the text
into non-overlapping windows (1 to B tokens of context); k = 1 gives every token the full B (and costs B
times the forward passes). Then
    loss       = the mean cross-entropy, in nats, over these N-1 predictions
    perplexity = exp(loss)
    bpb        = loss * (N-1) / (ln 2 * n_bytes), n_bytes = the UTF-8 bytes of the text of t[1..N-1]:
                 char-level data decodes each id with meta.pkl's itos, GPT-2 BPE with tiktoken's
                 decode_bytes, a trained tokenizer.json with its byte-level pieces; <|endoftext|> (and every
                 special token) separates documents and counts 0 bytes.
"""

import math
import os
import sys

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from configurator import configure
from nanogpt.advice import busy_cpu_notes
from nanogpt.chat import ChatData, assistant_loss, greedy_answers
from nanogpt.checkpoint import build_model, load_gpt2
from nanogpt.dataset import bin_dtype, dataset_dir, load_summary
from nanogpt.device import setup
from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.lock import hold, holder
from nanogpt.parallel import load_latest
from nanogpt.runlog import append_row
from nanogpt.tokenizer import GPT2_VOCAB, CharTokenizer, GPT2Tokenizer, dataset_tokenizer

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

# -----------------------------------------------------------------------------
init_from = 'resume'  # 'resume' (out_dir/ckpt.pt), a gpt2 variant (e.g. 'gpt2-xl') or a local GPT-2 folder
out_dir = 'out'  # the checkpoint's folder; the numbers are appended to its log.jsonl (also for GPT-2 weights)
dataset = ''  # a prepared data/<dataset>; default: the one the checkpoint was trained on
split = 'val'  # the split evaluated
max_answers = 0  # chat datasets: how many answers to generate greedily and compare (0: all)
block_size = 0  # window length; 0 = the model's block_size
window_shift = 0  # the window slides by this many tokens; 0 = block_size (non-overlapping windows)
batch_size = 8  # windows per forward pass
device = 'cuda' if torch.cuda.is_available() else 'cpu'
dtype = 'float32'  # 'bfloat16' or 'float16' are faster on a GPU but move the loss in its third decimal
log_dir = ''  # the folder whose log.jsonl gets the numbers; '' = out_dir's (the run's record)
# -----------------------------------------------------------------------------
configure(globals())
# -----------------------------------------------------------------------------

device_type, ctx = setup(device, dtype, tf32=dtype != 'float32')  # float32 means float32 matmuls
for line in busy_cpu_notes(device_type, 'eval.py'):  # nanogpt/advice.py
    print(line, file=sys.stderr)
run_dir = (os.path.dirname(out_dir) or '.') if out_dir.endswith('.pt') else out_dir  # a kept ckpt-ITER.pt
live = None if log_dir else holder(run_dir)  # a live train.py there: read its checkpoint, write nothing there
if not live:
    log_dir = log_dir or run_dir
    hold(log_dir, 'eval.py')  # the log it appends to has one writer at a time

# model
config, iter_num, tokens, tokenizer_sha256 = None, None, None, None
if init_from == 'resume':
    checkpoint = load_latest(out_dir)  # ckpt.pt, or an FSDP run's shards (ckpt.dcp) when newer
    model = build_model(checkpoint)
    ckpt_path = checkpoint['path']
    config = checkpoint.get('config', {})
    dataset_given = bool(dataset)
    dataset = dataset or config.get('dataset', '')
    iter_num = checkpoint.get('iter_num')
    tokenizer_sha256 = config.get('tokenizer_sha256')  # set when trained on a tokenizer.json
    if iter_num is not None and {'gradient_accumulation_steps', 'batch_size', 'block_size'} <= set(config):
        tokens = iter_num * config['gradient_accumulation_steps'] * config['batch_size'] * config['block_size']
    checkpoint = None
else:
    model = load_gpt2(init_from)
    ckpt_path = init_from
    config = {'init_from': init_from}
    dataset_given = True
if not dataset:
    fail("no dataset to evaluate on: pass --dataset=NAME (a prepared data/NAME)")
model.eval()
model.to(device)
window = block_size or model.config.block_size  # the rule's B
if window > model.config.block_size:
    fail(f"block_size={window} is larger than the model's {model.config.block_size}; "
         f"use --block_size={model.config.block_size} or less")
shift = window_shift or window  # the rule's k
if not 1 <= shift <= window:
    fail(f"window_shift must be between 1 and the window's {window} tokens (0 for {window}), not {window_shift}")
source = out_dir if init_from == 'resume' else init_from  # the model, as the report names it


def evaluate_chat(data_dir):
    """Whole conversations, as train.py saw them: the loss over every assistant token (their mean,
    token-weighted), and how many answers greedy generation gets exactly right given the conversation
    before them. Prints the numbers and returns the log row."""
    chat_data = ChatData(data_dir, bin_dtype(data_dir), window)
    tok = dataset_tokenizer(data_dir, tokenizer_sha256, ckpt_path)
    with torch.no_grad(), ctx:
        loss, n_targets = assistant_loss(model, chat_data, split, batch_size)
        exact, n_answers = greedy_answers(model, tok, chat_data, split, max_answers or None)
    print(f"{source} on {dataset} {split} "
          f"({chat_data.conversations(split):,} conversations, {n_targets:,} assistant tokens):")
    print(f"assistant loss {loss:.4f}, exact greedy answers {exact}/{n_answers} = {exact / max(n_answers, 1):.1%}")
    return {'kind': 'evaluate', 'iter': iter_num, 'tokens': tokens, 'split': split,
            'assistant_loss': loss, 'n_tokens': n_targets, 'exact_answers': exact,
            'answers': n_answers, 'dataset': dataset, 'model': out_dir, 'block_size': window, 'dtype': dtype}


def evaluate_tokens(data_dir):
    """The rule in the docstring above: loss, perplexity and bits per byte over the split's tokens.
    Prints the numbers and returns the log row."""
    val_path = os.path.join(data_dir, f'{split}.bin')
    val = np.memmap(val_path, dtype=bin_dtype(data_dir), mode='r')
    n_tokens = len(val)  # the rule's N
    if n_tokens < 2:
        fail(f"{val_path} holds {n_tokens} tokens; at least 2 are needed to predict one")
    # the dataset's tokenizer: exits 2 when its tokenizer.json is missing or not the model's
    tok = dataset_tokenizer(data_dir, tokenizer_sha256, ckpt_path)
    byte_len = np.array([len(tok.token_bytes(i)) for i in range(tok.vocab_size)], dtype=np.int64)
    # the model must have been trained on this tokenization, or its ids mean other things
    vocab = model.config.vocab_size
    if isinstance(tok, CharTokenizer) and vocab != tok.vocab_size:
        fail(f"{data_dir} is character-level with {tok.vocab_size} ids but the model has {vocab}: "
             f"it was trained on another dataset; pass that one with --dataset")
    if tokenizer_sha256 is None and not isinstance(tok, (CharTokenizer, GPT2Tokenizer)):
        fail(f"{data_dir} has a trained tokenizer's ids but the model was not trained on them; "
             f"pass the dataset the model was trained on with --dataset")
    if isinstance(tok, GPT2Tokenizer) and vocab < GPT2_VOCAB:
        fail(f"{data_dir} is GPT-2 BPE but the model has only {vocab} ids: it was trained on a character-level "
             f"dataset; pass that one with --dataset")
    top = int(val.max())
    if top >= min(vocab, len(byte_len)):
        fail(f"{val_path} has token id {top}, beyond the model's or the tokenizer's vocabulary; prepare it again")
    n_pred = n_tokens - 1
    n_bytes = int(byte_len[val[1:]].sum())
    if n_bytes == 0:
        fail(f"the text of {val_path} is empty (0 bytes), bits per byte are undefined")

    # windows (start, length, first counted prediction); those of one length go in batches of batch_size
    starts = [0] + list(range(shift, n_pred - window + shift, shift))
    windows = [(s, min(window, n_pred - s), 0 if s == 0 else window - shift) for s in starts]
    batches = []
    for w in windows:
        if batches and len(batches[-1]) < batch_size and batches[-1][0][1] == w[1]:
            batches[-1].append(w)
        else:
            batches.append([w])
    nll = 0.0  # total nats, summed in float64 on the host
    with torch.no_grad(), tqdm(total=n_pred, unit='tok', desc=f"{dataset} {split}") as bar:
        for batch in batches:
            T = batch[0][1]
            x = torch.from_numpy(np.stack([val[s:s + T] for s, _, _ in batch]).astype(np.int64)).to(device)
            y = torch.from_numpy(np.stack([val[s + 1:s + 1 + T] for s, _, _ in batch]).astype(np.int64)).to(device)
            with ctx:
                logits, _ = model(x, y)  # with targets the model gives every position's logits
            token_nll = F.cross_entropy(logits.float().view(-1, vocab), y.view(-1), reduction='none')
            first = torch.tensor([f for _, _, f in batch], device=device)
            counted = torch.arange(T, device=device)[None, :] >= first[:, None]
            nll += token_nll.view(len(batch), T)[counted].double().sum().item()
            bar.update(int(counted.sum()))

    loss = nll / n_pred
    ppl = math.exp(loss)
    bpb = nll / (math.log(2) * n_bytes)
    print(f"{source} on {dataset} {split} ({n_pred:,} tokens predicted, {n_bytes:,} bytes, "
          f"windows of {window} sliding by {shift}):")
    print(f"loss {loss:.4f}, perplexity {ppl:.4f}, bits per byte {bpb:.4f}")
    return {'kind': 'evaluate', 'iter': iter_num, 'tokens': tokens, 'val_loss': loss,
            'perplexity': ppl, 'bpb': bpb, 'n_tokens': n_pred, 'n_bytes': n_bytes,
            'dataset': dataset, 'model': source, 'block_size': window, 'window_shift': shift,
            'dtype': dtype}


data_dir = dataset_dir(dataset, splits=(split,), source=None if dataset_given else ckpt_path)
if (load_summary(data_dir) or {}).get('kind') == 'chat':
    row = evaluate_chat(data_dir)
else:
    row = evaluate_tokens(data_dir)
if live:
    print(f"{run_dir} is in use by a live run (pid {live}): its latest checkpoint was evaluated read-only and its "
          f"log left alone; pass --log_dir=DIR to keep these numbers in DIR/log.jsonl")
else:
    print(f"appended to {append_row(log_dir, row, config)}")
