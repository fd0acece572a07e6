"""
Load test of serve.py on loopback: many concurrent streaming requests against a small queue. Every request
must be answered completely (its stream ends with a finish_reason and `data: [DONE]`) or refused at once
with 429, except every --leave-th, whose client disconnects after its first text; none may hang, and the
server must end with nothing running or waiting. Prints the counts, the times, the server's own counters and its memory (RSS)
before and after, and exits 1 if any request ended otherwise.

$ python tools/bench_serve.py --out_dir=out-chat                       # 50 requests, queue 8
$ python tools/bench_serve.py --out_dir=out-chat --requests=200 --queue=16 --rounds=3
It starts `python serve.py --out_dir=OUT --port=0 --queue=Q --device=cpu` itself (a chat model gets chat
completions, any other model completions), and stops it at the end.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawTextHelpFormatter)
parser.add_argument('--out_dir', required=True, help="the model to serve (a folder holding ckpt.pt)")
parser.add_argument('--requests', type=int, default=50, help="concurrent streaming requests per round")
parser.add_argument('--queue', type=int, default=8, help="serve.py --queue")
parser.add_argument('--rounds', type=int, default=2, help="rounds of --requests each (memory after each)")
parser.add_argument('--max_tokens', type=int, default=32, help="tokens per answer")
parser.add_argument('--prompt', default='你好', help="the question (or the text to continue)")
parser.add_argument('--leave', type=int, default=5, help="every LEAVE-th request disconnects after its first text (0: none)")
parser.add_argument('--timeout', type=float, default=300, help="seconds a round may take before it counts as a hang")
parser.add_argument('--device', default='cpu')
args = parser.parse_args()


def rss_mb(pid):
    with open(f'/proc/{pid}/status') as f:
        return int(re.search(r'^VmRSS:\s+(\d+) kB', f.read(), re.M).group(1)) / 1024


async def one(client, url, body, leave):
    """'complete', '429', 'left' (leave: it disconnected after its first text) or what else happened, and the
    seconds until the first byte of the answer."""
    t = time.time()
    try:
        async with client.stream('POST', url, json=body) as r:
            if r.status_code == 429:
                await r.aread()
                return '429', time.time() - t
            if r.status_code != 200:
                return f'status {r.status_code}: {(await r.aread())[:200]!r}', time.time() - t
            first, finish, done = None, None, False
            async for line in r.aiter_lines():
                if not line:
                    continue
                first = first or time.time() - t
                if line == 'data: [DONE]':
                    done = True
                    continue
                event = json.loads(line[len('data: '):])
                if 'error' in event:
                    return f"error event: {event['error']['message']}", first
                for c in event['choices']:
                    finish = c.get('finish_reason') or finish
                    if leave and (c.get('text') or c.get('delta', {}).get('content')):
                        return 'left', first  # closes the connection: the server should stop generating
            return ('complete' if done and finish in ('stop', 'length') else f'cut (finish {finish}, done {done})',
                    first)
    except httpx.HTTPError as e:
        return f'{type(e).__name__}: {e}', time.time() - t


async def round_of(base, chat):
    url = base + ('/v1/chat/completions' if chat else '/v1/completions')
    body = dict(stream=True, max_tokens=args.max_tokens, temperature=0.8, seed=1,
                **({'messages': [{'role': 'user', 'content': args.prompt}]} if chat else {'prompt': args.prompt}))
    limits = httpx.Limits(max_connections=args.requests + 10)
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as client:
        tasks = [asyncio.create_task(one(client, url, body, args.leave and i % args.leave == args.leave - 1))
                 for i in range(args.requests)]
        finished, hung = await asyncio.wait(tasks, timeout=args.timeout)
        for t in hung:
            t.cancel()
        return [t.result() for t in finished], len(hung)


log = tempfile.NamedTemporaryFile('w+', suffix='.log', prefix='bench_serve_', delete=False)
server = subprocess.Popen([sys.executable, 'serve.py', f'--out_dir={args.out_dir}', '--port=0',
                           f'--queue={args.queue}', f'--device={args.device}'], cwd=ROOT, stdout=log,
                          stderr=subprocess.STDOUT, start_new_session=True)
try:
    deadline = time.time() + 300
    while not (found := re.search(r'^serving .* and (http://[^/\s]+)/v1', open(log.name).read(), re.M)):
        if server.poll() is not None or time.time() > deadline:
            sys.exit(f"serve.py did not start:\n{open(log.name).read()}")
        time.sleep(0.2)
    base = found.group(1)
    health = httpx.get(base + '/health', timeout=30).json()
    chat = health['chat']
    print(f"serve.py --out_dir={args.out_dir} --queue={args.queue} --device={args.device}: "
          f"{'chat completions' if chat else 'completions'}, {args.requests} concurrent streaming requests per round, "
          f"max_tokens {args.max_tokens}; log {log.name}")
    print(f"load average {open('/proc/loadavg').read().split()[0]} (cpu: {os.cpu_count()} cores)")
    print(f"server RSS after start-up: {rss_mb(server.pid):.1f} MB")
    bad = 0
    for n in range(1, args.rounds + 1):
        t = time.time()
        results, hung = asyncio.run(round_of(base, chat))
        wall = time.time() - t
        kinds = {}
        for kind, _ in results:
            kinds[kind] = kinds.get(kind, 0) + 1
        refused = [s for kind, s in results if kind == '429']
        complete = [s for kind, s in results if kind == 'complete']
        left = kinds.get('left', 0)
        others = {k: v for k, v in kinds.items() if k not in ('complete', '429', 'left')}
        bad += sum(others.values()) + hung
        print(f"round {n}: {len(complete)} answered completely, {len(refused)} refused with 429, {left} left after "
              f"their first text, {sum(others.values())} otherwise, {hung} hung; {wall:.1f} s")
        if refused:
            print(f"  429s came after {max(refused) * 1000:.0f} ms at most (median "
                  f"{sorted(refused)[len(refused) // 2] * 1000:.0f} ms)")
        for k, v in others.items():
            print(f"  {v} x {k}")
        settle = time.time() + 60  # a client that left may still be the one running for a moment
        while (h := httpx.get(base + '/health', timeout=30).json())['running'] + h['waiting'] and time.time() < settle:
            time.sleep(0.1)
        bad += h['running'] + h['waiting']
        print(f"  server: answered {h['answered']}, refused_busy {h['refused_busy']}, stopped_disconnected "
              f"{h['stopped_disconnected']}, failed {h['failed']}, running {h['running']}, waiting {h['waiting']}; "
              f"RSS {rss_mb(server.pid):.1f} MB")
    print("every request answered completely, refused with 429 or left by its client; none hung" if not bad else
          f"{bad} request(s) neither answered completely, refused with 429 nor left, or still on the server")
finally:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
sys.exit(1 if bad else 0)
