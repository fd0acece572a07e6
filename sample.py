"""
Sample from a trained model (out_dir/ckpt.pt) or from GPT-2 weights.
$ python sample.py --out_dir=out-shakespeare-char --device=cpu
$ python sample.py --init_from=gpt2-xl --start="What is the answer to life?" --num_samples=3
"""

import os
import sys

import torch

from configurator import configure
from nanogpt.advice import busy_cpu_notes
from nanogpt.checkpoint import build_model, load_gpt2
from nanogpt.dataset import data_dir_of
from nanogpt.device import default_dtype, setup
from nanogpt.errors import exit_on_bad_input, fail
from nanogpt.parallel import load_latest
from nanogpt.sampling import TextStream, check_sampling
from nanogpt.tokenizer import GPT2_VOCAB, CharTokenizer, GPT2Tokenizer, dataset_tokenizer

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

# -----------------------------------------------------------------------------
init_from = 'resume'  # 'resume' (from out_dir), a gpt2 variant (e.g. 'gpt2-xl') or a local GPT-2 folder
out_dir = 'out'  # ignored if init_from is not 'resume'
dataset = ''  # the prepared dataset whose vocabulary decodes the tokens; '' = the checkpoint's (a folder inside data/)
start = "\n"  # or "<|endoftext|>" or etc. Can also specify a file, use as: "FILE:prompt.txt"
num_samples = 10  # number of samples to draw, generated together as one batch
max_new_tokens = 500  # number of tokens generated in each sample
temperature = 0.8  # 1.0 = no change, < 1.0 = less random, > 1.0 = more random, 0 = always the most likely token
top_k = 200  # retain only the top_k most likely tokens, clamp others to have 0 probability (None: all)
top_p = 1.0  # nucleus sampling: keep the fewest most likely tokens whose probabilities sum to top_p (1.0: all)
stop_at_eot = False  # end a sample at <|endoftext|> (GPT-2 tokenizer), without printing it
window_shift = None  # past block_size tokens drop this many oldest at once; None: block_size // 8; 1: as nanoGPT, slow
seed = 1337
device = 'cuda' if torch.cuda.is_available() else 'cpu'  # 'cpu', 'cuda', 'cuda:0', 'mps'
dtype = default_dtype()  # bfloat16 or float16 on a GPU, float32 on a CPU
compile = False  # use PyTorch 2.0 to compile the model to be faster
# -----------------------------------------------------------------------------
configure(globals(), nullable=('top_k', 'window_shift'))
# -----------------------------------------------------------------------------

check_sampling(temperature, top_k, top_p)
if window_shift is not None and (type(window_shift) is not int or window_shift < 1):
    fail(f"window_shift must be a whole number of tokens, 1 or more (or None for the default), not {window_shift!r}")
if num_samples < 1 or max_new_tokens < 0:
    fail("num_samples must be 1 or more and max_new_tokens 0 or more")
device_type, ctx = setup(device, dtype)
for line in busy_cpu_notes(device_type, 'sample.py'):  # nanogpt/advice.py
    print(line, file=sys.stderr)
torch.manual_seed(seed)
torch.cuda.manual_seed(seed)

# model
if init_from == 'resume':
    checkpoint = load_latest(out_dir)  # ckpt.pt, or an FSDP run's shards (ckpt.dcp) when newer
    model = build_model(checkpoint)
    ckpt_path = checkpoint['path']
    source = None if dataset else ckpt_path  # a name read from a checkpoint must stay inside data/
    dataset = dataset or checkpoint.get('config', {}).get('dataset')
    tokenizer_sha256 = checkpoint.get('config', {}).get('tokenizer_sha256')  # set when trained on a tokenizer.json
    del checkpoint  # the optimizer state is not needed here
    data_dir = data_dir_of(dataset, source) if dataset else None
    if data_dir is None and tokenizer_sha256:
        fail(f"{ckpt_path} was trained with a trained tokenizer but names no dataset; pass --dataset=NAME")
    # the dataset's tokenizer: exits 2 when its tokenizer.json is missing or not the one the model was trained with
    tok = dataset_tokenizer(data_dir, tokenizer_sha256, ckpt_path) if data_dir else GPT2Tokenizer()
    if isinstance(tok, CharTokenizer):
        print(f"Loading meta from {os.path.join(data_dir, 'meta.pkl')}...")
    elif isinstance(tok, GPT2Tokenizer) and model.config.vocab_size < GPT2_VOCAB:
        fail(f"the model has {model.config.vocab_size} token ids, too few for GPT-2 BPE: it needs its dataset's "
             f"vocabulary, data/{dataset}/meta.pkl, which is missing; run from the project's root or prepare the dataset")
else:
    model = load_gpt2(init_from)
    tok = GPT2Tokenizer()
model.eval()
model.to(device)
if compile:
    model = torch.compile(model)

# encode the beginning of the prompt
if start.startswith('FILE:'):
    try:
        with open(start[5:], 'r', encoding='utf-8') as f:
            start = f.read()
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read the prompt file {start[5:]} ({e}); check --start=FILE:path")
try:
    start_ids = tok.encode(start)
except ValueError as e:
    fail(f"{e}; change --start")
if not start_ids:
    fail("the prompt is empty; give --start at least one character, e.g. --start='\\n'")
x = torch.tensor(start_ids, dtype=torch.long, device=device)[None, ...].repeat(num_samples, 1)
eot = getattr(tok, 'eot', None) if stop_at_eot else None

# run generation: all samples in one batch; the first one is printed as its tokens come, the others at the end
new_ids = [[] for _ in range(num_samples)]
done = [False] * num_samples
stream = TextStream(tok)  # the first sample, printed as it comes
print(tok.decode(start_ids), end='', flush=True)
with torch.no_grad(), ctx:
    # ids past the tokenizer's vocabulary (a model padded to 50304) are never drawn
    shift = window_shift and min(window_shift, model.config.block_size)
    for step in model.generate_tokens(x, max_new_tokens, temperature, top_k, top_p, tok.vocab_size, window_shift=shift):
        for i, t in enumerate(step[:, 0].tolist()):
            if done[i]:
                continue
            if t == eot:
                done[i] = True
            else:
                new_ids[i].append(t)
                if i == 0:
                    stream.add(t)
        if all(done):
            break
stream.close()
print('---------------')
for ids in new_ids[1:]:
    print(tok.decode(start_ids + ids))
    print('---------------')
sys.stdout.flush()
