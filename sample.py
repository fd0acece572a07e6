"""
Sample from a trained model (out_dir/ckpt.pt) or from GPT-2 weights.
$ python sample.py --out_dir=out-shakespeare-char --device=cpu
$ python sample.py --init_from=gpt2-xl --start="What is the answer to life?" --num_samples=3
"""

import os
import sys
from contextlib import nullcontext

import torch

from checkpoint import load_checkpoint
from configurator import configure, fail
from model import GPT, GPTConfig
from tokenizer import GPT2Tokenizer, load_meta, tokenizer_for

# -----------------------------------------------------------------------------
init_from = 'resume'  # 'resume' (from out_dir), a gpt2 variant (e.g. 'gpt2-xl') or a local GPT-2 folder
out_dir = 'out'  # ignored if init_from is not 'resume'
start = "\n"  # or "<|endoftext|>" or etc. Can also specify a file, use as: "FILE:prompt.txt"
num_samples = 10  # number of samples to draw
max_new_tokens = 500  # number of tokens generated in each sample
temperature = 0.8  # 1.0 = no change, < 1.0 = less random, > 1.0 = more random
top_k = 200  # retain only the top_k most likely tokens, clamp others to have 0 probability
seed = 1337
device = 'cuda'  # 'cpu', 'cuda', 'cuda:0', 'mps'
dtype = 'bfloat16' if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else 'float16'
compile = False  # use PyTorch 2.0 to compile the model to be faster
# -----------------------------------------------------------------------------
configure(globals(), nullable=('top_k',))
# -----------------------------------------------------------------------------

if temperature <= 0:
    fail("temperature must be above 0")
torch.manual_seed(seed)
torch.cuda.manual_seed(seed)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
device_type = 'cuda' if 'cuda' in device else device.split(':')[0]
ptdtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}[dtype]
ctx = nullcontext() if device_type == 'cpu' else torch.amp.autocast(device_type=device_type, dtype=ptdtype)

# model
if init_from == 'resume':
    checkpoint = load_checkpoint(out_dir)
    model = GPT(GPTConfig(**checkpoint['model_args']))
    model.load_state_dict(checkpoint['model'])
    dataset = checkpoint.get('config', {}).get('dataset')
    meta = load_meta(os.path.join('data', dataset)) if dataset else None
    if meta is not None:
        print(f"Loading meta from {os.path.join('data', dataset, 'meta.pkl')}...")
    tok = tokenizer_for(meta)
else:
    try:
        model = GPT.from_pretrained(init_from, dict(dropout=0.0))
    except ValueError as e:
        fail(str(e))
    tok = GPT2Tokenizer()
model.eval()
model.to(device)
if compile:
    model = torch.compile(model)

# encode the beginning of the prompt
if start.startswith('FILE:'):
    with open(start[5:], 'r', encoding='utf-8') as f:
        start = f.read()
try:
    start_ids = tok.encode(start)
except ValueError as e:
    fail(f"{e}; change --start")
x = torch.tensor(start_ids, dtype=torch.long, device=device)[None, ...]

# run generation
with torch.no_grad():
    with ctx:
        for k in range(num_samples):
            y = model.generate(x, max_new_tokens, temperature=temperature, top_k=top_k)
            print(tok.decode(y[0].tolist()))
            print('---------------')
    sys.stdout.flush()
