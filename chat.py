"""
Chat with a model finetuned on conversations (train.py on a data/prepare_chat.py dataset), in the terminal.
$ python chat.py --out_dir=out-chat                                  # interactive: type, Enter; /reset, /quit
$ python chat.py --out_dir=out-chat --prompt="What is AI?" --temperature=0   # one answer, printed, then exit
$ python chat.py --out_dir=out-chat --system="You answer in one sentence."

The conversation is rendered with the chat template (nanogpt/chat.py) and each answer runs until the model
emits <|end|>. The KV cache keeps the conversation's positions from one turn to the next, so a turn only
computes its own tokens. When the conversation outgrows the model's context (block_size tokens), its oldest
exchanges are dropped, with a message, and the rest is computed again.
"""

import contextlib
import re
import sys

import torch

from configurator import configure
from nanogpt.advice import busy_cpu_notes
from nanogpt.chat import Answerer, check_chat_tokenizer, render
from nanogpt.checkpoint import build_model
from nanogpt.dataset import data_dir_of, load_summary
from nanogpt.device import default_dtype, setup
from nanogpt.errors import exit_on_bad_input, fail, warn
from nanogpt.parallel import load_latest
from nanogpt.sampling import TextStream, check_sampling
from nanogpt.tokenizer import CHAT_TOKENS, dataset_tokenizer

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

# -----------------------------------------------------------------------------
out_dir = 'out-chat'  # the finetuned model's folder (ckpt.pt)
dataset = ''  # the prepared dataset whose tokenizer the model uses; '' = the checkpoint's (a folder inside data/)
prompt = ''  # one-shot: answer this message, print the answer and exit; '' = an interactive chat
system = ''  # a system message that opens the conversation
temperature = 0.8  # as sample.py: 0 = always the most likely token
top_k = 200  # retain only the top_k most likely tokens (None: all)
top_p = 1.0  # nucleus sampling: the fewest most likely tokens whose probabilities sum to top_p (1.0: all)
seed = 1337
device = 'cuda' if torch.cuda.is_available() else 'cpu'
dtype = default_dtype()  # bfloat16 or float16 on a GPU, float32 on a CPU
# -----------------------------------------------------------------------------
with contextlib.redirect_stdout(sys.stderr):  # stdout is the answers only (--prompt, for scripts)
    configure(globals(), nullable=('top_k',))
# -----------------------------------------------------------------------------
check_sampling(temperature, top_k, top_p)
device_type, ctx = setup(device, dtype)
for line in busy_cpu_notes(device_type, 'chat.py'):  # nanogpt/advice.py
    print(line, file=sys.stderr)

checkpoint = load_latest(out_dir)  # ckpt.pt, or an FSDP run's shards (ckpt.dcp) when newer
model = build_model(checkpoint)
config = checkpoint.get('config', {})
source = checkpoint['path']
del checkpoint
if not (dataset or config.get('dataset')):
    fail(f"{source} does not say which dataset it was trained on; pass it with --dataset=NAME (a folder in data/)")
data_dir = data_dir_of(dataset, None) if dataset else data_dir_of(config['dataset'], source)  # its tokenizer
tok = dataset_tokenizer(data_dir, config.get('tokenizer_sha256'), source)
check_chat_tokenizer(tok, f"the tokenizer of {data_dir}")
if max(tok.special[t] for t in CHAT_TOKENS) >= model.config.vocab_size:
    fail(f"the model has {model.config.vocab_size} token ids, too few for the chat tokens; finetune it on a "
         f"chat dataset first (data/prepare_chat.py, then train.py)")
if (load_summary(data_dir) or {}).get('kind') != 'chat':
    warn(f"{out_dir} was trained on {data_dir}, not a chat dataset: expect continued text, "
         f"not answers. Finetune it with data/prepare_chat.py and train.py first")
model.eval()
model.to(device)
torch.manual_seed(seed)  # after the model is built (its init draws numbers): serve.py's seed means the same
block = model.config.block_size
answerer = Answerer(model, tok, temperature, top_k, top_p)
history = [render(tok, [('system', system)])[0]] if system else []  # token ids of each finished turn


def reply(message):
    """Stream the answer to message, keep both turns in history; False when the message cannot fit."""
    user = render(tok, [('user', message)])[0] + [tok.special['<|assistant|>']]
    fixed = len(history[0]) if system else 0
    if fixed + len(user) >= block:
        print(f"[the message is {len(user) - 1} tokens: with the system message it leaves no room for an answer "
              f"in the model's context of {block} tokens; write a shorter one]", file=sys.stderr, flush=True)
        return False
    dropped = 0
    while sum(map(len, history)) + len(user) + block // 4 > block and len(history) > (1 if system else 0):
        del history[1 if system else 0:(3 if system else 2)]  # the oldest exchange: a user and an assistant turn
        dropped += 1
    if dropped:
        print(f"[the conversation outgrew the model's context of {block} tokens: the oldest {dropped} exchange(s) "
              f"are forgotten]", file=sys.stderr, flush=True)
    answer, stream = [], TextStream(tok)
    with ctx:
        for t in answerer.answer([i for turn in history for i in turn] + user):
            answer.append(t)
            stream.add(t)  # printed as it comes, whole characters only
    stream.close(flush=True)
    if answerer.cut:
        print(f"[the answer was cut: the conversation filled the model's context of {block} tokens]",
              file=sys.stderr, flush=True)
    history.extend([user[:-1], [tok.special['<|assistant|>']] + answer + [tok.special['<|end|>']]])
    return True


if prompt:
    if not reply(prompt):
        fail(f"--prompt is too long for the model's context of {block} tokens; shorten it")
    sys.exit(0)

interactive = sys.stdin.isatty()
COMMANDS = {'/reset': "forget the conversation and start over (the --system prompt stays)",
            '/quit': "end the chat (Ctrl-D does too)", '/help': "list these commands"}
if interactive:
    print(f"chatting with {out_dir} (context {block} tokens). /help lists the commands.")
while True:
    try:
        message = input('> ' if interactive else '')
    except (EOFError, KeyboardInterrupt):
        break
    command = message.strip()
    if command == '/quit':
        break
    if command == '/reset':
        del history[1 if system else 0:]
        answerer.forget()
        print("[conversation reset" + ("; the system prompt stays]" if system else "]"), file=sys.stderr, flush=True)
    elif command == '/help':
        print('\n'.join(f"  {c:<7} {what}" for c, what in COMMANDS.items()), file=sys.stderr, flush=True)
    elif re.fullmatch(r'/\w+', command):  # a lone /word is a mistyped command, not a message for the model
        print(f"[unknown command {command}; /help lists the commands]", file=sys.stderr, flush=True)
    elif command:
        reply(message)
