"""serve.py, the OpenAI-compatible server: the real `openai` client against a server on a loopback port (its
streamed answer at temperature 0 equals chat.py --prompt's, for an English and a Chinese model), the request
fields, whole characters in the stream, bad requests, the queue's 429, client disconnects, the API key, and
the chat page in a real headless Chromium."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest

from harness import ROOT, SHARED, run
from test_chat import lines, prepare, train_tokenizer, write_jsonl

openai = pytest.importorskip('openai')

EN = os.path.join(SHARED, 'chat', 'chatterbot_en.jsonl')
ZH = os.path.join(SHARED, 'chat', 'chatterbot_zh.jsonl')
TRAIN = ['--device=cpu', '--compile=False', '--dtype=float32', '--eval_iters=1', '--log_interval=100',
         '--gradient_accumulation_steps=1', '--block_size=64', '--dropout=0.0',
         '--learning_rate=3e-3', '--warmup_iters=5', '--n_layer=1', '--n_head=2']
KEY = 'test-key-1234'


def train_chat_model(tmp, name, source, n, tokenizer=None, iters=40, width=32, batch=16):
    """A tiny chat model trained from scratch on the first n conversations of source: (out_dir, dataset)."""
    src = write_jsonl(tmp / f'{name}.jsonl', lines(source, n))
    dataset = f'test_serve_{name}_{os.getpid()}'
    args = [src, f'--out_dir={os.path.join(ROOT, "data", dataset)}', '--block_size=64', '--val_fraction=0.1',
            '--overwrite']
    assert prepare(args + ([f'--tokenizer={tokenizer}'] if tokenizer else []))[0] == 0
    out = str(tmp / f'out-{name}')
    run(['train.py', f'--dataset={dataset}', f'--out_dir={out}', f'--max_iters={iters}', f'--lr_decay_iters={iters}',
         f'--eval_interval={iters}', f'--n_embd={width}'] + TRAIN + [f'--batch_size={batch}'])
    return out, dataset


class Server:
    """python serve.py on a free loopback port, its output in a file; stopped with SIGTERM."""

    def __init__(self, out_dir, log, *args, env=None):
        self.url = None
        self.log_path = log
        self.p = subprocess.Popen([sys.executable, 'serve.py', f'--out_dir={out_dir}', '--port=0',
                                   '--device=cpu', *args], cwd=ROOT, stdout=open(log, 'w'), stderr=subprocess.STDOUT,
                                  env=dict(os.environ, **(env or {})), start_new_session=True)

    def wait(self):
        """Once it listens: --port=0 takes a free port, which its `serving ... at http://...` line names."""
        deadline = time.time() + 90
        while self.url is None:
            found = re.search(r'^serving .* and (http://127\.0\.0\.1:\d+)/v1', self.log(), re.M)
            if found:
                self.url = found.group(1)
                break
            assert self.p.poll() is None and time.time() < deadline, f"serve.py did not start:\n{self.log()}"
            time.sleep(0.1)
        assert httpx.get(self.url + '/health', timeout=10).status_code == 200
        return self

    def log(self):
        with open(self.log_path, encoding='utf-8') as f:
            return f.read()

    def health(self):
        return httpx.get(self.url + '/health').json()

    def client(self, key=None):
        return openai.OpenAI(base_url=self.url + '/v1', api_key=key or 'unused', max_retries=0, timeout=60)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    """{'en': (out_dir, dataset), 'zh': ..., 'gpt2': ...}: en and zh on a byte-level BPE of 400 ids trained on
    their conversations (most Chinese characters take two or three tokens, so a stream that cut them would show
    U+FFFD); gpt2 on GPT-2 BPE and its padded vocabulary (chat tokens at 50257..50260), barely trained: its
    50k-row output layer makes each step slow, and its answer, a run of words until the context is full, is
    enough to compare."""
    tmp = tmp_path_factory.mktemp('serve')
    made = {}
    for name, source, n in (('en', EN, 300), ('zh', ZH, 467)):
        texts = [m['content'] for r in lines(source, n) for m in r['messages']]
        made[name] = train_chat_model(tmp, name, source, n, train_tokenizer(tmp / f'{name}.json', texts),
                                      iters=150, width=64)
    made['gpt2'] = train_chat_model(tmp, 'gpt2', EN, 100, iters=3, batch=4)
    yield made
    for _, dataset in made.values():
        shutil.rmtree(os.path.join(ROOT, 'data', dataset), ignore_errors=True)


@pytest.fixture(scope='module')
def servers(models, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('logs')
    made = {name: Server(out, tmp / f'{name}.log') for name, (out, _) in models.items()}  # both start at once
    yield {name: s.wait() for name, s in made.items()}
    for s in made.values():
        s.stop()


@pytest.fixture(scope='module')
def char_server(shakespeare_char, tmp_path_factory):
    """A character-level model (not a chat model) behind an API key, with a queue of 1."""
    tmp = tmp_path_factory.mktemp('char')
    out = str(tmp / 'out-char')
    from harness import TINY
    run(['train.py'] + TINY + [f'--out_dir={out}', '--max_iters=1'])
    s = Server(out, tmp / 'char.log', '--queue=1', '--max_tokens_limit=10000000', env={'NANOGPT_API_KEY': KEY})
    yield out, s.wait()
    s.stop()


def chat_py(out_dir, prompt, *args):
    return run(['chat.py', f'--out_dir={out_dir}', f'--prompt={prompt}', '--device=cpu', *args]).stdout


def streamed(client, prompt, **kw):
    """(the streamed pieces, finish_reason) of the openai client's chat completion, stream=True."""
    pieces, finish = [], None
    for chunk in client.chat.completions.create(model=client.model_id, stream=True,
                                                messages=[{'role': 'user', 'content': prompt}], **kw):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    return pieces, finish


# --- must-show 1: the streamed answer at temperature 0 is chat.py --prompt's ----------------------------------

@pytest.mark.parametrize('lang,prompt', [('en', 'What is AI?'), ('zh', '你好吗'), ('gpt2', 'What is AI?')])
def test_openai_stream_equals_chat_py(servers, models, lang, prompt):
    out_dir, _ = models[lang]
    client = servers[lang].client()
    client.model_id = client.models.list().data[0].id
    assert client.model_id == os.path.basename(out_dir)
    pieces, finish = streamed(client, prompt, temperature=0)
    answer = ''.join(pieces)
    assert answer.strip() and finish in ('stop', 'length')
    assert chat_py(out_dir, prompt, '--temperature=0') == answer + '\n'
    whole = client.chat.completions.create(model=client.model_id, temperature=0,
                                           messages=[{'role': 'user', 'content': prompt}])
    assert whole.choices[0].message.content == answer and whole.usage.completion_tokens > 0
    # seed: the same draws as chat.py --seed at the same temperature, top_p (and chat.py's top_k 200)
    pieces, _ = streamed(client, prompt, temperature=1.0, top_p=0.9, seed=7)
    assert chat_py(out_dir, prompt, '--temperature=1.0', '--top_p=0.9', '--seed=7') == ''.join(pieces) + '\n'
    # max_tokens: that many tokens, finish_reason length; stop: the text before the stop string, finish stop
    short = client.chat.completions.create(model=client.model_id, temperature=0, max_tokens=2,
                                           messages=[{'role': 'user', 'content': prompt}])
    assert short.usage.completion_tokens == 2 and short.choices[0].finish_reason == 'length'
    assert answer.startswith(short.choices[0].message.content)
    stop = answer.strip()[len(answer.strip()) // 2:][:2]
    pieces, finish = streamed(client, prompt, temperature=0, stop=[stop, 'never-said'])
    assert ''.join(pieces) == answer[:answer.index(stop)] and finish == 'stop'


def test_chinese_stream_holds_whole_characters(servers, models):
    """The Chinese model's tokens split characters (one token alone decodes to U+FFFD); the stream's pieces
    never do: each is whole characters, and together they are the answer's text."""
    from nanogpt.chat import Answerer, prompt_ids
    from nanogpt.serve import load
    out_dir, dataset = models['zh']
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        model, tok, problem = load(out_dir)
    finally:
        os.chdir(cwd)
    assert problem is None
    ids = list(Answerer(model.eval(), tok).answer(prompt_ids(tok, [('user', '你是谁')])))
    naive = ''.join(tok.decode([t]) for t in ids)
    whole = tok.decode(ids)
    assert naive.count('\ufffd') > whole.count('\ufffd')  # a stream of single tokens would break characters
    client = servers['zh'].client()
    client.model_id = client.models.list().data[0].id
    pieces, _ = streamed(client, '你是谁', temperature=0)
    assert ''.join(pieces) == whole
    assert sum(p.count('\ufffd') for p in pieces) == whole.count('\ufffd')
    assert len(pieces) > 1 and any('\u4e00' <= c <= '\u9fff' for c in whole)


# --- must-show 3: bad requests -------------------------------------------------------------------------------

BAD = [  # (body or raw bytes, status, words of the message)
    (b'{"messages": [', 400, "not valid JSON"),
    (b'[1, 2]', 400, "must be a JSON object"),
    (b'\xff\xfe{}', 400, "not UTF-8"),
    ({'messages': [{'role': 'user', 'content': 'x' * 2_000_000}]}, 413, "larger than this server's limit"),
    ({'messages': []}, 400, "'messages' must be a non-empty list"),
    ({'messages': None}, 400, "'messages' must be a non-empty list"),
    ({'messages': [{'role': 'robot', 'content': 'hi'}]}, 400, "messages[0].role is \"robot\""),
    ({'messages': [{'role': 'assistant', 'content': 'hi'}]}, 400, "messages[0].role is assistant but the user's message comes next"),
    ({'messages': [{'role': 'user', 'content': 'a'}, {'role': 'user', 'content': 'b'}]}, 400,
     "messages[1].role is user but the assistant's message comes next"),
    ({'messages': [{'role': 'user', 'content': 'a'}, {'role': 'assistant', 'content': 'b'}]}, 400,
     "must be the user's message to answer"),
    ({'messages': [{'role': 'user', 'content': '  '}]}, 400, "messages[0].content is empty"),
    ({'messages': [{'role': 'user', 'content': 5}]}, 400, "messages[0].content must be a string"),
    ({'messages': [{'role': 'user', 'content': 'x' * 20_001}]}, 400, "20,001 characters, more than"),
    ({'messages': [{'role': 'user', 'content': 'word ' * 100}]}, 400, "tokens: it leaves no room for an answer"),
    ({'messages': [{'role': 'system', 'content': 'word ' * 100}, {'role': 'user', 'content': 'Hi'}]}, 400,
     "tokens) leave no room for an answer"),
    ({'temperature': -1}, 400, "'temperature' must be a number at least 0"),
    ({'temperature': 'hot'}, 400, "'temperature' must be a number"),
    ({'top_p': 0}, 400, "'top_p' must be a number above 0 and at most 1"),
    ({'max_tokens': 0}, 400, "'max_tokens' must be a whole number from 1 to 4096"),
    ({'max_tokens': 10 ** 6}, 400, "'max_tokens' must be a whole number from 1 to 4096"),
    ({'stop': ['a', 'b', 'c', 'd', 'e']}, 400, "'stop' must be a string or a list of at most 4"),
    ({'stop': ''}, 400, "'stop' must be a string"),
    ({'seed': 'x'}, 400, "'seed' must be a whole number"),
    ({'stream': 'yes'}, 400, "'stream' must be true or false"),
    ({'n': 2}, 400, "'n' must be 1"),
    ({'tools': [{'type': 'function'}]}, 400, "'tools' is not supported"),
    ({'temprature': 0}, 400, "unknown field 'temprature'; did you mean 'temperature'?"),
    ({'model': 'gpt-4o'}, 404, "model \"gpt-4o\" is not served here"),
]


@pytest.mark.parametrize('body,status,words', BAD, ids=[f'{s}-{w[:30]}' for _, s, w in BAD])
def test_bad_request(servers, body, status, words):
    if isinstance(body, dict):
        body = dict({'messages': [{'role': 'user', 'content': 'Hi'}]}, **body)
        body = json.dumps(body).encode()
    r = httpx.post(servers['en'].url + '/v1/chat/completions', content=body, timeout=30)
    assert r.status_code == status, r.text
    assert words in r.json()['error']['message'], r.json()


def test_bad_requests_through_the_client_and_paths(servers):
    client = servers['en'].client()
    with pytest.raises(openai.BadRequestError, match="'temperature' must be a number at least 0"):
        client.chat.completions.create(model='out-en', temperature=-0.5, messages=[{'role': 'user', 'content': 'Hi'}])
    url = servers['en'].url
    r = httpx.get(url + '/v1/nothing')
    assert r.status_code == 404 and 'there is no /v1/nothing here' in r.json()['error']['message']
    r = httpx.get(url + '/v1/chat/completions')
    assert r.status_code == 405 and 'GET /v1/chat/completions is not allowed' in r.json()['error']['message']
    assert servers['en'].health()['failed'] == 0


# --- a model that cannot chat; completions as sample.py; the API key; the queue and disconnects --------------

def test_char_model_refuses_chat_and_completes_as_sample_py(char_server):
    out_dir, server = char_server
    client = server.client(KEY)
    with pytest.raises(openai.BadRequestError, match="is not a chat model, so it cannot answer chat completions"):
        client.chat.completions.create(model='out-char', messages=[{'role': 'user', 'content': 'Hi'}])
    text = client.completions.create(model='out-char', prompt='ROMEO:', max_tokens=30, temperature=0).choices[0].text
    sampled = run(['sample.py', f'--out_dir={out_dir}', '--start=ROMEO:', '--max_new_tokens=30', '--temperature=0',
                   '--num_samples=1', '--device=cpu']).stdout
    assert sampled.endswith('ROMEO:' + text + '\n---------------\n')
    with pytest.raises(openai.BadRequestError, match="characters the model's vocabulary lacks"):
        client.completions.create(model='out-char', prompt='你好', max_tokens=3)


def test_api_key(char_server):
    _, server = char_server
    with pytest.raises(openai.AuthenticationError, match='the API key is wrong'):
        server.client('wrong').models.list()
    r = httpx.get(server.url + '/v1/models')
    assert r.status_code == 401 and "Authorization: Bearer KEY" in r.json()['error']['message']
    assert server.client(KEY).models.list().data[0].id == 'out-char'
    assert httpx.get(server.url + '/health').status_code == 200  # probes need no key


def test_queue_refuses_at_once_and_a_disconnect_stops_generation(char_server):
    """queue=1: one request runs, one waits, the next is refused at once (429). A client that goes away stops
    its generation: the server's counter and log say so, and the waiting request is answered next."""
    _, server = char_server
    auth = {'Authorization': f'Bearer {KEY}'}
    endless = {'model': 'out-char', 'prompt': 'ROMEO:', 'max_tokens': 10 ** 7, 'stream': True}
    stopped, busy = server.health()['stopped_disconnected'], server.health()['refused_busy']
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as a, httpx.Client(base_url=server.url,
                                                                                       headers=auth, timeout=60) as b:
        with a.stream('POST', '/v1/completions', json=endless) as running:
            lines_a = running.iter_lines()
            assert next(lines_a).startswith('data: ')  # generating
            with b.stream('POST', '/v1/completions', json=dict(endless, max_tokens=5)) as waiting:
                assert waiting.status_code == 200
                t = time.time()
                refused = httpx.post(server.url + '/v1/completions', headers=auth, json=endless, timeout=10)
                assert refused.status_code == 429 and time.time() - t < 5
                assert 'the server is busy' in refused.json()['error']['message']
                assert refused.headers['retry-after'] == '1'
                h = server.health()
                assert (h['running'], h['waiting'], h['refused_busy']) == (1, 1, busy + 1)
                running.close()  # the client of the endless request goes away
                events = [line for line in waiting.iter_lines() if line]
                assert events[-1] == 'data: [DONE]' and '"finish_reason": "length"' in events[-2]
        deadline = time.time() + 20
        while server.health()['stopped_disconnected'] < stopped + 1 and time.time() < deadline:
            time.sleep(0.1)
        assert server.health()['stopped_disconnected'] == stopped + 1
        assert 'the client disconnected after' in server.log() and 'its generation stopped' in server.log()
        # a client that gives up on a non-streamed answer stops it too
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server.url + '/v1/completions', headers=auth, json=dict(endless, stream=False), timeout=1)
        while server.health()['stopped_disconnected'] < stopped + 2 and time.time() < deadline + 20:
            time.sleep(0.1)
        h = server.health()
        assert h['stopped_disconnected'] == stopped + 2 and h['running'] == 0 and h['waiting'] == 0
        # a client that leaves while it waits: its request is dropped when its turn comes, nothing generated
        with a.stream('POST', '/v1/completions', json=endless) as running:
            lines_a = running.iter_lines()  # kept: a dropped iterator would close the connection
            assert next(lines_a).startswith('data: ')
            with b.stream('POST', '/v1/completions', json=endless) as waiting:
                assert waiting.status_code == 200 and server.health()['waiting'] == 1
        while server.health()['stopped_disconnected'] < stopped + 4 and time.time() < deadline + 40:
            time.sleep(0.1)
        h = server.health()
        assert h['stopped_disconnected'] == stopped + 4 and h['running'] == 0 and h['waiting'] == 0
        assert 'the client left while it waited; nothing generated' in server.log()


def test_serve_py_refusals(char_server):
    """serve.py's own bad input (docs/errors.md): one `error:` line and exit 2, before it loads the model; a
    port that is taken is found before the model loads. The two run at once."""
    out_dir, server = char_server
    port = server.url.rsplit(':', 1)[1]
    cases = {f'--port={port}': f"error: cannot listen on 127.0.0.1 port {port} (",
             '--max_tokens=0': "error: --max_tokens=0: it must be 1 or more"}
    procs = {flag: subprocess.Popen([sys.executable, 'serve.py', '--device=cpu', f'--out_dir={out_dir}', flag],
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for flag in cases}
    for flag, words in cases.items():
        out, err = procs[flag].communicate(timeout=120)
        assert procs[flag].returncode == 2 and err.startswith(words) and err.count('\n') == 1, (flag, err)
        assert 'serving' not in out


# --- must-show 4: the page in a real headless browser ------------------------------------------------------

def chromium():
    """A headless Chromium driven by chromedriver, or None when neither is installed."""
    from shutil import which
    browser = which('chromium') or which('chromium-browser') or which('google-chrome')
    driver = which('chromedriver')
    if not (browser and driver):
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--window-size=900,640',
              '--lang=zh-CN'):
        options.add_argument(a)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope='module')
def browser():
    pytest.importorskip('selenium')
    b = chromium()
    if b is None:
        pytest.skip("no chromium and chromedriver on PATH (Debian: apt-get install chromium chromium-driver); "
                    ".ci/run installs them")
    yield b
    b.quit()


def test_page_streams_a_chinese_answer_in_chromium(servers, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    client = servers['zh'].client()
    client.model_id = 'out-zh'
    expected = ''.join(streamed(client, '你好吗', temperature=0)[0])
    browser.get(servers['zh'].url + '/')
    WebDriverWait(browser, 20).until(lambda b: 'out-zh' in b.find_element(By.ID, 'model').text)
    browser.execute_script("document.getElementById('temperature').value = '0';"
                           # count the changes to the answer's text: one per streamed piece
                           "window.updates = 0; new MutationObserver((r) => window.updates += r.length).observe("
                           "document.getElementById('log'), {subtree: true, childList: true, characterData: true});")
    box = browser.find_element(By.ID, 'input')
    box.send_keys('你好吗')
    box.send_keys(Keys.ENTER)
    done = WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, '.assistant[data-done]'))[0]
    assert done.get_attribute('data-done') in ('stop', 'length')
    assert browser.find_element(By.CSS_SELECTOR, '.user').text == '你好吗'
    assert done.get_attribute('textContent') == expected
    assert browser.execute_script('return window.updates') >= 3  # two bubbles added, then the pieces
    shot = os.environ.get('SERVE_SCREENSHOT') or str(tmp_path / 'chat-page.png')  # to look at: a PNG
    assert browser.save_screenshot(shot) and os.path.getsize(shot) > 1000


def test_page_shows_text_as_it_comes_and_stop_ends_the_generation(char_server, browser):
    """A model that is not a chat model has its text continued; an endless one shows its text growing while
    it generates, and the Stop button ends the request, which stops the generation on the server."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    _, server = char_server
    stopped = server.health()['stopped_disconnected']
    browser.get(server.url + '/')
    WebDriverWait(browser, 20).until(lambda b: '401' in b.page_source or 'API key' in b.find_element(By.ID, 'note').text)
    key = browser.find_element(By.ID, 'key')
    browser.execute_script(f"arguments[0].value = '{KEY}'; arguments[0].onchange();"
                           "document.getElementById('max_tokens').value = '100000';", key)  # ends by itself if the test fails
    WebDriverWait(browser, 20).until(lambda b: 'Not a chat model' in b.find_element(By.ID, 'note').text)
    box = browser.find_element(By.ID, 'input')
    box.send_keys('ROMEO:')
    box.send_keys(Keys.ENTER)
    # the length, not the text: a text that keeps growing would cost more to fetch at every poll
    answer = lambda b: b.execute_script("return document.querySelector('.assistant').textContent.length")  # noqa: E731
    WebDriverWait(browser, 60).until(lambda b: answer(b) > 50)
    seen = answer(browser)
    WebDriverWait(browser, 60).until(lambda b: answer(b) > seen + 50)  # still coming, on the page
    assert not browser.find_elements(By.CSS_SELECTOR, '.assistant[data-done]')
    browser.find_element(By.ID, 'stop').click()
    WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, '.assistant[data-done="stopped"]'))
    deadline = time.time() + 20
    while server.health()['stopped_disconnected'] == stopped and time.time() < deadline:
        time.sleep(0.1)
    assert server.health()['stopped_disconnected'] == stopped + 1 and server.health()['running'] == 0


# --- k8s/serve.yaml: what an operator applies ------------------------------------------------------------

def test_k8s_deployment_and_service():
    """The Deployment runs serve.py from the image's folder on an out_dir of the shared volume (mounted read
    only), listens on the pod's address only with a key from a Secret, and is probed on /health at the port
    it serves; the Service selects its pods and forwards to that port."""
    from test_reliability_k8s import all_docs, docs_of, dockerfile_workdir, pytorchjob
    docs = {d['kind']: d for d in docs_of('k8s/serve.yaml')}
    deploy, service = docs['Deployment'], docs['Service']
    assert deploy['apiVersion'] == 'apps/v1' and service['apiVersion'] == 'v1'
    labels = deploy['spec']['template']['metadata']['labels']
    assert deploy['spec']['selector']['matchLabels'].items() <= labels.items()
    assert service['spec']['selector'].items() <= labels.items()
    pod = deploy['spec']['template']['spec']
    (c,) = pod['containers']
    assert c['workingDir'] == dockerfile_workdir()
    (trainer,) = pytorchjob('k8s/pytorchjob.yaml')['spec']['pytorchReplicaSpecs']['Worker']['template']['spec'][
        'containers']
    assert c['image'] == trainer['image'] and c['image'] in open(os.path.join(ROOT, 'docs', 'kubernetes.md')).read()
    assert c['command'][:2] == ['python', 'serve.py']
    args = dict(a[2:].split('=', 1) for a in c['command'][2:])
    knobs = set(re.findall(r'^(\w+) = ', open(os.path.join(ROOT, 'serve.py')).read(), re.M))
    assert set(args) <= knobs, set(args) - knobs
    # reachable from the Service, and then only with the key
    assert args['host'] == '0.0.0.0'
    (key,) = [e for e in c['env'] if e['name'] == 'NANOGPT_API_KEY']
    assert not key['valueFrom']['secretKeyRef'].get('optional', False)
    # the run on the shared volume, read only
    mounts = {m['mountPath']: m for m in c['volumeMounts']}
    (mount,) = [m for p, m in mounts.items() if args['out_dir'].startswith(p + '/')]
    assert mount['readOnly'] is True
    (volume,) = [v for v in pod['volumes'] if v['name'] == mount['name']]
    claims = [d for d in all_docs() if d['kind'] == 'PersistentVolumeClaim']
    assert volume['persistentVolumeClaim']['claimName'] in [d['metadata']['name'] for d in claims]
    # probes and the Service reach the port serve.py listens on
    (port,) = c['ports']
    assert port['containerPort'] == int(args['port'])
    for probe in ('startupProbe', 'readinessProbe', 'livenessProbe'):
        assert c[probe]['httpGet'] == {'path': '/health', 'port': port['name']}
    (sp,) = service['spec']['ports']
    assert sp['targetPort'] in (port['name'], port['containerPort'])
    assert str(c['resources']['limits']['nvidia.com/gpu']) == '1'
