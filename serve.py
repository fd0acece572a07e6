"""
Serve a trained model over HTTP with OpenAI's API, and a chat page (docs/serve.md).
$ python serve.py --out_dir=out-chat                   # http://127.0.0.1:8000: the chat page; the API under /v1
$ curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model": "out-chat", "messages": [{"role": "user", "content": "What is AI?"}], "temperature": 0}'

POST /v1/chat/completions (a model finetuned on a chat dataset: the messages go through the chat template),
POST /v1/completions (any model: the prompt is continued, as sample.py does), GET /v1/models, GET /health.
"stream": true sends the answer as server-sent events in whole characters, ending with `data: [DONE]`.
temperature, top_p, max_tokens, stop and seed mean what they mean in chat.py and sample.py: at temperature 0
with no max_tokens, an answer is chat.py --prompt's. One request is answered at a time; up to `queue` more
wait, and the rest get 429 at once. It listens on 127.0.0.1 only unless --host says otherwise: before you
expose it, set an API key (NANOGPT_API_KEY) and read docs/serve.md.
"""

import os
import socket
import sys

import torch

from configurator import configure
from nanogpt.device import default_dtype, setup
from nanogpt.errors import exit_on_bad_input, fail, warn
from nanogpt.sampling import check_sampling
from nanogpt.serve import Engine, Limits, create_app, load

exit_on_bad_input()  # a BadInput ends the script as one `error:` line and exit 2

# -----------------------------------------------------------------------------
out_dir = 'out-chat'  # the model's folder (ckpt.pt)
dataset = ''  # the prepared dataset whose tokenizer the model uses; '' = the checkpoint's (a folder inside data/)
model_name = ''  # the model id clients send and GET /v1/models lists; '' = out_dir's folder name
host = '127.0.0.1'  # this machine only; '0.0.0.0' listens on every network (set api_key first)
port = 8000  # 0: any free port (the line it prints says which)
# clients must send 'Authorization: Bearer KEY'. '' = the environment's NANOGPT_API_KEY (set it there: a command
# line shows in `ps`), or no key when that is unset too
api_key = ''
queue = 8  # requests that may wait while one is answered; more get 429 at once
cors = ''  # web pages of other origins that may call the API, comma-separated ('*': any); '' = none
# sampling, when a request does not say (as chat.py)
temperature = 0.8  # 0 = always the most likely token
top_k = 200  # retain only the top_k most likely tokens (None: all); a request may send top_k too
top_p = 1.0  # nucleus sampling: the fewest most likely tokens whose probabilities sum to top_p (1.0: all)
seed = 1337  # the random generator's seed at start-up; a request's seed reseeds it for that answer
# limits
max_tokens = 500  # /v1/completions without max_tokens generates this many (chat: until the answer ends)
max_tokens_limit = 4096  # the most tokens a request may ask for
max_body_bytes = 1_000_000  # a larger request body gets 413
max_message_chars = 20_000  # a longer message or prompt gets 400
device = 'cuda' if torch.cuda.is_available() else 'cpu'
dtype = default_dtype()  # bfloat16 or float16 on a GPU, float32 on a CPU
compile = True  # on a GPU: compile the decode step once (a CUDA graph), before the first request; a CPU runs eager
# -----------------------------------------------------------------------------
configure(globals(), nullable=('top_k',))
api_key = api_key or os.environ.get('NANOGPT_API_KEY', '')
# -----------------------------------------------------------------------------
check_sampling(temperature, top_k, top_p)
for name, low in (('queue', 0), ('max_tokens', 1), ('max_tokens_limit', 1), ('max_body_bytes', 1),
                  ('max_message_chars', 1)):
    if globals()[name] < low:
        fail(f"--{name}={globals()[name]}: it must be {low} or more")
if not 0 <= port <= 65535:
    fail(f"--port={port}: a port is from 1 to 65535 (0: any free one)")
device_type, ctx = setup(device, dtype)
# listen before loading the model: a port in use fails at once, and --port=0 gets a free port to print
listener = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    listener.bind((host, port))
except OSError as e:
    fail(f"cannot listen on {host} port {port} ({e.strerror}); choose another --port (another program may use "
         f"it), and a --host that is this machine's")
port = listener.getsockname()[1]
listener.listen(128)  # connections wait from now on, answered once the model is loaded

model, tok, chat_problem = load(out_dir, dataset)
model.eval()
model.to(device)
torch.manual_seed(seed)
model_id = model_name or os.path.basename(os.path.normpath(out_dir))
engine = Engine(model, tok, ctx, chat_problem, compile=compile and device_type == 'cuda')
if compile and device_type == 'cuda':
    print("compiling the decode step (once)...", flush=True)
    engine.warm_up()
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static', 'chat.html'), encoding='utf-8') as f:
    page = f.read()
app = create_app(engine, model_id, Limits(max_body_bytes, max_message_chars, max_tokens=max_tokens,
                                          max_tokens_limit=max_tokens_limit),
                 dict(temperature=temperature, top_k=top_k, top_p=top_p), queue=queue, api_key=api_key, cors=cors,
                 page=page, created=int(os.path.getmtime(os.path.join(out_dir, 'ckpt.pt'))))

kind = "chat" if chat_problem is None else "completions only: not a chat model"
print(f"serving {out_dir} as '{model_id}' ({kind}; context {model.config.block_size} tokens; {device}, {dtype}) "
      f"at http://{host}:{port}/ (the chat page) and http://{host}:{port}/v1; queue {queue}"
      + ("; API key required" if api_key else ""), flush=True)
if host not in ('127.0.0.1', 'localhost', '::1') and not api_key:
    warn(f"listening on {host} without an API key: anyone who reaches port {port} can use the model; "
         f"set NANOGPT_API_KEY (docs/serve.md)")

import uvicorn  # noqa: E402  (after the checks: a bad flag fails fast)
server = uvicorn.Server(uvicorn.Config(app, log_level='info', timeout_graceful_shutdown=3))
server.run(sockets=[listener])
sys.exit(0)
