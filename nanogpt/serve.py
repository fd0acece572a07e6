"""
The OpenAI-compatible HTTP server behind serve.py (docs/serve.md): request checking, the generation worker
and the FastAPI app.

One model answers one request at a time, on one thread of its own (the Engine). A request is checked and
tokenized first (a 4xx names the field), then admitted if fewer than 1 + queue requests are running or waiting,
else refused at once with 429. Its tokens reach the event loop through an asyncio queue; a client that goes
away sets its job's `cancelled` flag, which the worker reads before each token, so it stops generating.

Chat completions render the messages with the chat template (nanogpt/chat.py) and answer with the same
Answerer as chat.py, so that at temperature 0 the answer is chat.py --prompt's. Completions continue a prompt
as sample.py does (model.generate_tokens). The text is streamed in whole characters (TextStream) and held back
while it may be the start of a stop string.
"""

import asyncio
import hmac
import json
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

from nanogpt.chat import ASSISTANT, Answerer, check_chat_tokenizer, render
from nanogpt.errors import BadInput
from nanogpt.sampling import TextStream

ROLES = {'system': 'system', 'developer': 'system', 'user': 'user', 'assistant': 'assistant'}
SAMPLING = ('temperature', 'top_p', 'top_k', 'max_tokens', 'max_completion_tokens', 'stop', 'seed', 'stream',
            'stream_options', 'n', 'model')
IGNORED = ('user', 'metadata', 'store', 'service_tier', 'parallel_tool_calls')  # accepted, no effect here
UNSUPPORTED = ('tools', 'tool_choice', 'functions', 'function_call', 'logprobs', 'top_logprobs', 'logit_bias',
               'response_format', 'frequency_penalty', 'presence_penalty', 'echo', 'suffix', 'best_of',
               'audio', 'modalities', 'prediction', 'reasoning_effort', 'web_search_options')  # refused unless off
MAX_STOPS = 4  # as OpenAI's API


class ApiError(Exception):
    """A refused request: its HTTP status and OpenAI's error object."""

    def __init__(self, status, message, param=None, kind='invalid_request_error', code=None):
        super().__init__(message)
        self.status, self.message, self.param, self.kind, self.code = status, message, param, kind, code

    def body(self):
        return {'error': {'message': self.message, 'type': self.kind, 'param': self.param, 'code': self.code}}


@dataclass
class Limits:
    max_body_bytes: int = 1_000_000  # a request body past it: 413
    max_message_chars: int = 20_000  # a message (or a completion's prompt) past it: 400
    max_messages: int = 500
    max_tokens: int = 500  # /v1/completions without max_tokens generates this many (sample.py's max_new_tokens)
    max_tokens_limit: int = 4096  # the most tokens one request may ask for


@dataclass
class Request:
    """A checked request: prompt ids and the sampling knobs, with the server's defaults filled in."""
    kind: str  # 'chat' or 'text'
    ids: list
    temperature: float
    top_k: int
    top_p: float
    max_tokens: int  # None: until <|end|> or the context is full (chat only)
    stop: list
    seed: int
    stream: bool
    usage: bool  # stream_options.include_usage
    dropped: int = 0  # the oldest exchanges dropped to fit the context


# -----------------------------------------------------------------------------
# request checking: one ApiError per bad field, naming it

def _number(body, key, default, low, high, low_open=False):
    v = body.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
            or v < low or v > high or (low_open and v == low):
        lo = f"above {low}" if low_open else f"at least {low}"
        raise ApiError(400, f"'{key}' must be a number {lo} and at most {high}, not {json.dumps(v)}", key)
    return float(v)


def _integer(body, key, low, high, what):
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise ApiError(400, f"'{key}' must be a whole number from {low} to {high} ({what}), not {json.dumps(v)}", key)
    return v


def _text(content, where, limits):
    """A message's text: a string, or a list of {"type": "text", "text": ...} parts (joined)."""
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        kinds = {p.get('type') for p in content}
        if kinds != {'text'} or not all(isinstance(p.get('text'), str) for p in content):
            raise ApiError(400, f"{where} may only hold text parts ({{\"type\": \"text\", \"text\": ...}}); "
                                f"this model reads no {', '.join(sorted(map(str, kinds - {'text'}))) or 'other'} parts",
                           where)
        content = ''.join(p['text'] for p in content)
    if not isinstance(content, str):
        raise ApiError(400, f"{where} must be a string, not {json.dumps(content)[:60]}", where)
    if not content.strip():
        raise ApiError(400, f"{where} is empty; write some text", where)
    if len(content) > limits.max_message_chars:
        raise ApiError(400, f"{where} is {len(content):,} characters, more than this server's limit of "
                            f"{limits.max_message_chars:,} (max_message_chars); shorten it", where)
    return content


def check_messages(messages, limits):
    """[(role, text)] of a chat request: an optional system message, then user and assistant in turn, ending
    with the user's (the message to answer)."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list of {\"role\", \"content\"} objects", 'messages')
    if len(messages) > limits.max_messages:
        raise ApiError(400, f"'messages' holds {len(messages)} messages, more than this server's limit of "
                            f"{limits.max_messages}", 'messages')
    turns = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise ApiError(400, f"{where} must be an object with 'role' and 'content'", where)
        role = ROLES.get(m.get('role'))
        if role is None:
            raise ApiError(400, f"{where}.role is {json.dumps(m.get('role'))}; it must be system, user or "
                                f"assistant", f"{where}.role")
        expected = 'user' if not turns or turns[-1][0] in ('system', 'assistant') else 'assistant'
        if role != expected and not (role == 'system' and i == 0):
            raise ApiError(400, f"{where}.role is {m['role']} but the {expected}'s message comes next: after an "
                                f"optional first system message, user and assistant messages alternate, from a "
                                f"user message", f"{where}.role")
        turns.append((role, _text(m.get('content'), f"{where}.content", limits)))
    if turns[-1][0] != 'user':
        raise ApiError(400, f"the last message is {turns[-1][0]}'s; it must be the user's message to answer",
                       'messages')
    return turns


def check_body(body, kind, limits, defaults, model_id):
    """The sampling knobs of a request body (a dict), with the server's defaults where absent or null."""
    known = set(SAMPLING) | set(IGNORED) | set(UNSUPPORTED) | {'messages' if kind == 'chat' else 'prompt'}
    for key in body:
        if key not in known:
            import difflib
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ApiError(400, f"unknown field '{key}'{hint}", key)
    for key in UNSUPPORTED:
        if body.get(key) not in (None, False, 0, [], {}, 'auto', 'none', 'text') \
                and not (key == 'response_format' and body[key] == {'type': 'text'}):
            raise ApiError(400, f"'{key}' is not supported by this server (a nanoGPT model); leave it out", key)
    if body.get('model') is not None and body['model'] != model_id:
        raise ApiError(404, f"model {json.dumps(body['model'])[:80]} is not served here; this server serves "
                            f"'{model_id}' (GET /v1/models)", 'model', code='model_not_found')
    if body.get('n') not in (None, 1):
        raise ApiError(400, f"'n' must be 1 (one answer per request), not {json.dumps(body['n'])}", 'n')
    stream = body.get('stream', False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise ApiError(400, f"'stream' must be true or false, not {json.dumps(stream)}", 'stream')
    options = body.get('stream_options') or {}
    if not isinstance(options, dict) or not isinstance(options.get('include_usage', False), bool):
        raise ApiError(400, "'stream_options' must be an object such as {\"include_usage\": true}", 'stream_options')
    temperature = _number(body, 'temperature', defaults['temperature'], 0, 100)
    top_p = _number(body, 'top_p', defaults['top_p'], 0, 1, low_open=True)
    top_k = defaults['top_k'] if body.get('top_k') is None else _integer(body, 'top_k', 1, 1 << 30, "or null")
    if 'max_tokens' in body and 'max_completion_tokens' in body and body['max_tokens'] != body['max_completion_tokens']:
        raise ApiError(400, "'max_tokens' and 'max_completion_tokens' differ; give one", 'max_tokens')
    key = 'max_tokens' if body.get('max_tokens') is not None else 'max_completion_tokens'
    max_tokens = _integer(body, key, 1, limits.max_tokens_limit, "this server's max_tokens_limit")
    stop = body.get('stop')
    stop = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or len(stop) > MAX_STOPS or \
            not all(isinstance(s, str) and 0 < len(s) <= 200 for s in stop):
        raise ApiError(400, f"'stop' must be a string or a list of at most {MAX_STOPS} strings (1 to 200 "
                            f"characters each), not {json.dumps(body.get('stop'))[:80]}", 'stop')
    seed = _integer(body, 'seed', 0, (1 << 63) - 1, "or null for no reseeding")
    return dict(temperature=temperature, top_k=top_k, top_p=top_p, max_tokens=max_tokens, stop=stop, seed=seed,
                stream=stream, usage=bool(options.get('include_usage')))


# -----------------------------------------------------------------------------
# text out: whole characters, without the stop string

class StopText:
    """Text in, text out, ending before the first of the stop strings: a suffix that may start one is held
    back until the next text shows whether it does."""

    def __init__(self, stops):
        self.stops, self.held, self.stopped = stops, '', False

    def add(self, text):
        """The text that is safe to send now ('' when all of it may start a stop string)."""
        self.held += text
        hits = [i for i in (self.held.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.held, self.stopped = self.held[:min(hits)], '', True
            return out
        keep = max((k for s in self.stops for k in range(1, len(s)) if self.held.endswith(s[:k])), default=0)
        out, self.held = self.held[:len(self.held) - keep], self.held[len(self.held) - keep:]
        return out


# -----------------------------------------------------------------------------
# the engine: the model on one thread

@dataclass
class Job:
    request: Request
    loop: asyncio.AbstractEventLoop
    id: int
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def put(self, *item):
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, item)
        except RuntimeError:  # the loop is closed: the server is shutting down
            self.cancelled.set()


class Engine:
    """A model, its tokenizer and the one thread that generates with them."""

    def __init__(self, model, tok, ctx, chat_problem=None, compile=False):
        self.model, self.tok, self.ctx = model, tok, ctx
        self.block = model.config.block_size
        self.device = next(model.parameters()).device
        self.chat_problem = chat_problem  # why chat completions are refused, or None
        if chat_problem is None:
            self.answerer = Answerer(model, tok)
            # one set of cache buffers for both kinds of request: a compiled decode step (a CUDA graph) reads them
            # by address, so it is captured once
            self.answerer.cache = model.generation_cache(1)
        if compile:
            model.compile_decode()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix='generate')
        self.admitted = 0  # requests running or waiting; changed on the event loop's thread only
        self.running = 0
        self.counts = dict(answered=0, refused_busy=0, stopped_disconnected=0, failed=0)
        self.next_id = 0

    # --- prompts ---
    def chat_ids(self, turns):
        """Prompt ids of a conversation; the oldest exchanges are dropped (after the system message) while the
        rest leaves less than a quarter of the context for the answer, as chat.py does."""
        if self.chat_problem:
            raise ApiError(400, self.chat_problem, 'messages', code='not_a_chat_model')
        parts = [render(self.tok, [t])[0] for t in turns]
        parts[-1] = parts[-1] + [self.tok.special[ASSISTANT]]
        fixed = len(parts[0]) if turns[0][0] == 'system' else 0
        first = 1 if turns[0][0] == 'system' else 0
        if fixed + len(parts[-1]) >= self.block:
            what = (f"the system message ({fixed - 2} tokens) and the last message ({len(parts[-1]) - 3} tokens) "
                    f"leave" if fixed else f"the last message is {len(parts[-1]) - 3} tokens: it leaves")
            raise ApiError(400, f"{what} no room for an answer in the model's context of {self.block} tokens; "
                                f"shorten {'them' if fixed else 'it'}",
                           'messages', code='context_length_exceeded')
        dropped = 0
        while sum(map(len, parts)) + self.block // 4 > self.block and len(parts) > first + 1:
            del parts[first:first + 2]
            dropped += 1
        return [i for p in parts for i in p], dropped

    def text_ids(self, prompt):
        try:
            ids = self.tok.encode(prompt)
        except ValueError as e:
            raise ApiError(400, f"'prompt': {e}; this is a character-level model", 'prompt')
        if not ids:
            raise ApiError(400, "'prompt' encodes to no tokens; give at least one character", 'prompt')
        return ids

    # --- admission, on the event loop ---
    def admit(self, request, loop, queue):
        if self.admitted >= 1 + queue:
            self.counts['refused_busy'] += 1
            raise ApiError(429, f"the server is busy: {self.admitted - 1} request(s) are waiting, as many as its "
                                f"queue holds ({queue}); try again shortly", kind='rate_limit_error',
                           code='queue_full')
        self.admitted += 1
        self.next_id += 1
        job = Job(request, loop, self.next_id)
        self.executor.submit(self._run, job)
        return job

    def _release(self):
        self.admitted -= 1

    # --- generation, on the engine's thread ---
    def _tokens(self, r):
        """The generated token ids of request r and, once it ends, sets self.finish."""
        self.finish = 'stop'
        if r.kind == 'chat':
            self.answerer.forget()  # every request from its own prefill: answers do not depend on the last one
            n = 0
            for n, t in enumerate(self.answerer.answer(r.ids, r.max_tokens), 1):
                yield t
            self.finish = 'length' if self.answerer.cut or n == r.max_tokens else 'stop'
            return
        x = torch.tensor([r.ids], dtype=torch.long, device=self.device)
        n = 0
        for n, t in enumerate(self.model.generate_tokens(x, r.max_tokens, r.temperature, r.top_k, r.top_p,
                                                          self.tok.vocab_size), 1):
            t = t.item()
            if t == self.tok.eot:  # a new document would start: the completion ends (finish_reason stop)
                return
            yield t
        self.finish = 'length'

    def _run(self, job):
        r, n, start = job.request, 0, time.time()
        try:
            if job.cancelled.is_set():
                job.put('gone')
                self.counts['stopped_disconnected'] += 1
                print(f"serve: request {job.id}: the client left while it waited; nothing generated", flush=True)
                return
            self.loop_call(job, self._set_running, 1)
            if r.kind == 'chat':
                self.answerer.temperature, self.answerer.top_k, self.answerer.top_p = r.temperature, r.top_k, r.top_p
            with torch.no_grad(), self.ctx:
                if r.seed is not None:
                    torch.manual_seed(r.seed)
                text, stop = TextStream(self.tok), StopText(r.stop)
                for t in self._tokens(r):
                    if job.cancelled.is_set():
                        break
                    n += 1
                    piece = stop.add(text.take(t))
                    if piece:
                        job.put('text', piece)
                    if stop.stopped:
                        self.finish = 'stop'
                        break
                else:
                    piece = stop.add(self.tok.decode(text.pending)) + ('' if stop.stopped else stop.held)
                    if piece:
                        job.put('text', piece)
            if job.cancelled.is_set():
                job.put('gone')
                self.counts['stopped_disconnected'] += 1
                print(f"serve: request {job.id}: the client disconnected after {n} tokens; its generation stopped",
                      flush=True)
                return
            self.counts['answered'] += 1
            job.put('end', self.finish, len(r.ids), n)
            print(f"serve: request {job.id} ({r.kind}{', stream' if r.stream else ''}): {len(r.ids)} prompt + {n} "
                  f"tokens in {time.time() - start:.2f} s, {self.finish}"
                  + (f", {r.dropped} oldest exchange(s) dropped to fit" if r.dropped else ''), flush=True)
        except Exception as e:  # a bug or an out-of-memory: this request fails, the server goes on
            self.counts['failed'] += 1
            print(f"serve: request {job.id} failed: {type(e).__name__}: {e}", flush=True)
            job.put('error', f"generation failed: {type(e).__name__}: {e}")
        finally:
            self.loop_call(job, self._set_running, 0)
            self.loop_call(job, self._release)

    def _set_running(self, n):
        self.running = n

    @staticmethod
    def loop_call(job, fn, *args):
        try:
            job.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass

    def warm_up(self):
        """A few tokens on the engine's thread, so that a compiled decode step is compiled and captured (it is
        per thread) before the first request waits for it."""
        def run():
            with torch.no_grad(), self.ctx:
                x = torch.zeros((1, 1), dtype=torch.long, device=self.device)
                for _ in self.model.generate_tokens(x, 8, 0.0):
                    pass
        self.executor.submit(run).result()


# -----------------------------------------------------------------------------
# loading: the model and tokenizer of an out_dir, and whether it can chat

def load(out_dir, dataset=''):
    """(model, tokenizer, why chat completions are refused or None) of out_dir's checkpoint, as sample.py and chat.py
    find them: the tokenizer of the dataset the checkpoint names (or --dataset), GPT-2 BPE when it names none."""
    from nanogpt.checkpoint import build_model
    from nanogpt.dataset import data_dir_of, load_summary
    from nanogpt.errors import fail
    from nanogpt.parallel import load_latest
    from nanogpt.tokenizer import CHAT_TOKENS, GPT2_VOCAB, GPT2Tokenizer, dataset_tokenizer
    checkpoint = load_latest(out_dir)  # ckpt.pt, or an FSDP run's shards (ckpt.dcp) when newer
    model = build_model(checkpoint)
    config = checkpoint.get('config', {})
    source = checkpoint['path']
    del checkpoint
    name = dataset or config.get('dataset')
    data_dir = (data_dir_of(dataset, None) if dataset else data_dir_of(name, source)) if name else None
    if data_dir is None and config.get('tokenizer_sha256'):
        fail(f"{source} was trained with a trained tokenizer but names no dataset; pass it with --dataset=NAME")
    tok = dataset_tokenizer(data_dir, config.get('tokenizer_sha256'), source) if data_dir else GPT2Tokenizer()
    if isinstance(tok, GPT2Tokenizer) and model.config.vocab_size < GPT2_VOCAB:
        fail(f"the model has {model.config.vocab_size} token ids, too few for GPT-2 BPE: it needs its dataset's "
             f"vocabulary (data/{name}/meta.pkl), which is missing; run from the project's root or pass --dataset")
    trained_on = data_dir or 'a dataset it does not name'
    try:
        check_chat_tokenizer(tok, f"its tokenizer ({data_dir or 'GPT-2 BPE'})")
        if max(tok.special[t] for t in CHAT_TOKENS) >= model.config.vocab_size:
            fail(f"it has {model.config.vocab_size} token ids, too few for the chat tokens")
        if ((load_summary(data_dir) if data_dir else None) or {}).get('kind') != 'chat':
            fail(f"it was trained on {trained_on}, not a chat dataset (data/prepare_chat.py), so it continues "
                 f"text instead of answering")
        problem = None
    except BadInput as e:
        problem = (f"this server's model ({out_dir}) is not a chat model, so it cannot answer chat completions: "
                   f"{e}. Send its text to POST /v1/completions instead, or serve a model finetuned on a chat "
                   f"dataset (docs/chat.md)")
    return model, tok, problem


# -----------------------------------------------------------------------------
# the HTTP app

async def read_body(http, limit):
    """The request's JSON object; 413 past limit bytes (told by Content-Length at once, else while reading)."""
    size = http.headers.get('content-length', '')
    too_big = ApiError(413, f"the request body is larger than this server's limit of {limit:,} bytes "
                            f"(max_body_bytes); send less", code='body_too_large')
    if size.isdigit() and int(size) > limit:
        raise too_big
    raw = bytearray()
    async for chunk in http.stream():
        raw += chunk
        if len(raw) > limit:
            raise too_big
    try:
        body = json.loads(bytes(raw).decode('utf-8'))  # JSON is UTF-8 (RFC 8259)
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text; send JSON in UTF-8", code='invalid_json')
    except ValueError as e:
        where = f" at line {e.lineno} column {e.colno}" if hasattr(e, 'lineno') else ''
        raise ApiError(400, f"the request body is not valid JSON ({getattr(e, 'msg', e)}{where}); send a JSON "
                            f"object", code='invalid_json')
    if not isinstance(body, dict):
        raise ApiError(400, f"the request body must be a JSON object, not a {type(body).__name__}",
                       code='invalid_json')
    return body


def sse(obj):
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def create_app(engine, model_id, limits, defaults, queue=8, api_key='', cors='', page='', created=0):
    """The FastAPI app: the OpenAI-compatible endpoints over engine, /health and the chat page at /."""
    from fastapi import FastAPI, Request as HttpRequest
    from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException

    app = FastAPI(title='nanoGPT', docs_url=None, redoc_url=None, openapi_url=None)
    if cors:
        from fastapi.middleware.cors import CORSMiddleware
        app.add_middleware(CORSMiddleware, allow_origins=[o.strip() for o in cors.split(',')],
                           allow_methods=['GET', 'POST'], allow_headers=['Authorization', 'Content-Type'])

    @app.exception_handler(ApiError)
    async def refused(http, e):
        return JSONResponse(e.body(), e.status, headers={'Retry-After': '1'} if e.status == 429 else None)

    @app.exception_handler(HTTPException)
    async def http_error(http, e):
        where = f"{http.method} {http.url.path}"
        api = ("POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health and the chat page "
               "at GET /")
        message = {404: f"there is no {http.url.path} here; this server has {api}",
                   405: f"{where} is not allowed; this server has {api}"}.get(e.status_code, str(e.detail))
        return JSONResponse(ApiError(e.status_code, message).body(), e.status_code)

    def authorize(http):
        if not api_key:
            return
        scheme, _, key = http.headers.get('authorization', '').partition(' ')
        if scheme.lower() != 'bearer' or not hmac.compare_digest(key.strip().encode(), api_key.encode()):
            raise ApiError(401, "this server needs an API key: send the header 'Authorization: Bearer KEY' with the "
                                "key it was started with (NANOGPT_API_KEY)" if not key else
                                "the API key is wrong; send the key the server was started with",
                           code='invalid_api_key')

    @app.get('/', response_class=HTMLResponse)
    async def chat_page():
        return HTMLResponse(page)

    @app.get('/health')
    async def health():
        return {'status': 'ok', 'model': model_id, 'chat': engine.chat_problem is None, 'running': engine.running,
                'waiting': max(0, engine.admitted - engine.running), 'queue': queue, **engine.counts}

    @app.get('/v1/models')
    async def models(http: HttpRequest):
        authorize(http)
        return {'object': 'list', 'data': [{'id': model_id, 'object': 'model', 'created': created,
                                            'owned_by': 'nanogpt', 'context_length': engine.block,
                                            'chat': engine.chat_problem is None,
                                            'chat_refusal': engine.chat_problem}]}

    async def start(http, kind):
        authorize(http)
        body = await read_body(http, limits.max_body_bytes)
        if kind == 'chat' and engine.chat_problem:
            raise ApiError(400, engine.chat_problem, 'messages', code='not_a_chat_model')
        args = check_body(body, kind, limits, defaults, model_id)
        if kind == 'chat':
            ids, dropped = engine.chat_ids(check_messages(body.get('messages'), limits))
        else:
            prompt = body.get('prompt')
            if isinstance(prompt, list) and len(prompt) == 1:
                prompt = prompt[0]
            if not isinstance(prompt, str) or not prompt:
                raise ApiError(400, f"'prompt' must be a non-empty string, not {json.dumps(prompt)[:60]}", 'prompt')
            if len(prompt) > limits.max_message_chars:
                raise ApiError(400, f"'prompt' is {len(prompt):,} characters, more than this server's limit of "
                                    f"{limits.max_message_chars:,} (max_message_chars); shorten it", 'prompt')
            ids, dropped = engine.text_ids(prompt), 0
            if args['max_tokens'] is None:
                args['max_tokens'] = min(limits.max_tokens, limits.max_tokens_limit)
        job = engine.admit(Request(kind, ids, dropped=dropped, **args), asyncio.get_running_loop(), queue)
        head = dict(id=f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex[:24]}",
                    object='chat.completion' if kind == 'chat' else 'text_completion', created=int(time.time()),
                    model=model_id, system_fingerprint=None)
        return job, head

    def usage(prompt, completion):
        return {'prompt_tokens': prompt, 'completion_tokens': completion, 'total_tokens': prompt + completion}

    def choice(kind, text, finish, stream):
        if kind == 'text':
            return {'index': 0, 'text': text, 'logprobs': None, 'finish_reason': finish}
        if stream:
            return {'index': 0, 'delta': {'content': text} if text is not None else {}, 'logprobs': None,
                    'finish_reason': finish}
        return {'index': 0, 'message': {'role': 'assistant', 'content': text, 'refusal': None}, 'logprobs': None,
                'finish_reason': finish}

    async def stream(job, head, kind):
        """The answer as server-sent events in OpenAI's chunk format, then `data: [DONE]`. Leaving this
        generator early (the client went away) cancels the job, which stops its generation."""
        head = dict(head, object='chat.completion.chunk' if kind == 'chat' else 'text_completion')
        try:
            if kind == 'chat':
                first = choice(kind, '', None, True)
                first['delta']['role'] = 'assistant'
                yield sse(dict(head, choices=[first]))
            while True:
                item = await job.events.get()
                if item[0] == 'text':
                    yield sse(dict(head, choices=[choice(kind, item[1], None, True)]))
                elif item[0] == 'end':
                    yield sse(dict(head, choices=[choice(kind, None if kind == 'chat' else '', item[1], True)]))
                    if job.request.usage:
                        yield sse(dict(head, choices=[], usage=usage(item[2], item[3])))
                    break
                else:
                    yield sse(ApiError(500, item[1], kind='server_error').body())
                    break
            yield 'data: [DONE]\n\n'
        finally:
            job.cancelled.set()

    async def answer(http, job, head, kind):
        """The whole answer as one JSON object; a client that disconnects meanwhile cancels the job."""
        async def watch():
            while (await http.receive())['type'] != 'http.disconnect':
                pass
            job.cancelled.set()
        watcher = asyncio.create_task(watch())
        pieces = []
        try:
            while True:
                item = await job.events.get()
                if item[0] == 'text':
                    pieces.append(item[1])
                elif item[0] == 'end':
                    return dict(head, choices=[choice(kind, ''.join(pieces), item[1], False)],
                                usage=usage(item[2], item[3]))
                elif item[0] == 'gone':
                    return None
                else:
                    raise ApiError(500, item[1], kind='server_error')
        finally:
            watcher.cancel()

    async def respond(http, kind):
        job, head = await start(http, kind)
        if job.request.stream:
            return StreamingResponse(stream(job, head, kind), media_type='text/event-stream',
                                     headers={'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no'})
        return await answer(http, job, head, kind)

    @app.post('/v1/chat/completions')
    async def chat_completions(http: HttpRequest):
        return await respond(http, 'chat')

    @app.post('/v1/completions')
    async def completions(http: HttpRequest):
        return await respond(http, 'text')

    return app
