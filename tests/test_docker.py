"""The Dockerfile and .dockerignore, read as a builder reads them (no container engine runs where the tests
run): one FROM with a CPU default base, torch from its index at requirements.txt's pin, then requirements.txt,
the project copied to the manifests' working folder, train.py as the command; nothing the image needs left
out and no data or checkpoint let in. Also: the README's setup is what CI installs."""
import os
import re
import subprocess

import pytest

from harness import ROOT


def instructions(path='Dockerfile'):
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments dropped."""
    text = open(os.path.join(ROOT, path)).read()
    text = re.sub(r'\\\n', ' ', '\n'.join(line for line in text.splitlines() if not line.lstrip().startswith('#')))
    return [tuple(line.strip().split(None, 1)) for line in text.splitlines() if line.strip()]


def args_of(steps):
    return dict((a.split('=', 1) + [None])[:2] for op, a in steps if op == 'ARG')


def readme():
    return open(os.path.join(ROOT, 'README.md')).read()


def test_dockerfile_base_torch_requirements_and_command():
    steps = instructions()
    ops = [op for op, _ in steps]
    assert ops.count('FROM') == 1 and dict(steps)['FROM'] == '${BASE}'
    base = args_of(steps[:ops.index('FROM')])['BASE']  # an ARG before FROM: the base image is a build argument
    assert re.fullmatch(r'python:3\.\d+-slim', base), base
    args = args_of(steps)
    cpu_index = 'https://download.pytorch.org/whl/cpu'
    assert args['TORCH_INDEX_URL'] == cpu_index and cpu_index in readme()

    runs = [a for op, a in steps if op == 'RUN']
    (install,) = [r for r in runs if 'requirements.txt' in r]
    # torch first, at the version requirements.txt pins, from TORCH_INDEX_URL; then requirements.txt
    pattern = re.search(r"grep -o '(.+?)' requirements\.txt", install).group(1)
    pin = re.search(pattern, open(os.path.join(ROOT, 'requirements.txt')).read(), re.M)  # grep's regex, Python's alike
    assert pin and pin.group(0) == 'torch==2.13.0'
    assert f'pip install {pin.group(0)} --index-url {cpu_index}' in readme()
    assert install.index('--index-url "$TORCH_INDEX_URL"') < install.index('pip install -r requirements.txt')
    assert any('python3 -m venv /opt/venv' in r for r in runs) and 'PATH=/opt/venv/bin:$PATH' in dict(steps)['ENV']

    copies = [(i, a) for i, (op, a) in enumerate(steps) if op == 'COPY']
    req_copy = next(i for i, a in copies if a.split() == ['requirements.txt', '.'])
    all_copy = next(i for i, a in copies if a.split() == ['.', '.'])
    install_at = next(i for i, (op, a) in enumerate(steps) if op == 'RUN' and a == install)
    assert req_copy < install_at < all_copy  # code changes rebuild only the last layer
    workdir = [a for op, a in steps[:all_copy] if op == 'WORKDIR'][-1]
    assert workdir == '/workspace/nanogpt'

    cmd = eval(dict(steps)['CMD'])  # exec form: a JSON list
    assert cmd[:2] == ['python', 'train.py'] and os.path.exists(os.path.join(ROOT, cmd[1]))


def ignored_by(patterns):
    """A predicate for paths, as .dockerignore's patterns exclude them (a folder's match excludes its files)."""
    def regex(p):  # '**' is any number of folders, '*' and '?' stay within one path component
        parts, out = p.strip('/').split('/'), ''
        for i, part in enumerate(parts):
            if part == '**':
                out += '(?:[^/]+/)*' + ('[^/]+' if i == len(parts) - 1 else '')
            else:
                out += re.escape(part).replace(r'\*', '[^/]*').replace(r'\?', '[^/]')
                out += '/' if i < len(parts) - 1 else ''
        return re.compile(out)
    rx = [regex(p) for p in patterns]

    def ignored(path):
        parts = path.split('/')
        prefixes = ['/'.join(parts[:i]) for i in range(1, len(parts) + 1)]
        return any(r.fullmatch(pre) for r in rx for pre in prefixes)
    return ignored


def test_dockerignore_keeps_the_code_and_drops_data():
    lines = [line.strip() for line in open(os.path.join(ROOT, '.dockerignore'))]
    patterns = [line for line in lines if line and not line.startswith('#')]
    assert not any(p.startswith('!') for p in patterns)
    ignored = ignored_by(patterns)
    try:
        tracked = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip('not a git checkout')
    kept = [f for f in tracked.split() if not ignored(f)]
    assert sorted(kept) == sorted(tracked.split()), set(tracked.split()) - set(kept)
    for f in ['data/shakespeare_char/train.bin', 'data/tang_poems/meta.pkl', 'data/mine/summary.json',
              'out-shakespeare-char/ckpt.pt', 'ckpt.pt', 'out/log.jsonl', '.git/HEAD', 'wandb/run-1/files',
              'data/tang_poems/raw/poet.tang.0.json', 'data/mine/.prepare/state.json', 'nanogpt/__pycache__/x.pyc',
              'data/shakespeare_char/input.txt']:
        assert ignored(f), f


def test_readme_setup_is_what_ci_installs():
    """The README's one command installs torch's CPU build then requirements.txt and the project (editable); .ci/run does the same and
    runs the README's test command."""
    text = readme()
    one = next(line for line in text.splitlines()
               if line.startswith('pip install torch==') and '&& python train.py' in line)
    installs = [s.strip() for s in one.split('&&') if s.strip().startswith('pip install')]
    assert installs == ['pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu',
                        'pip install -r requirements.txt -e .']
    ci = [line.strip() for line in open(os.path.join(ROOT, '.ci', 'run')) if line.strip() and not line.startswith('#')]
    assert [line.replace(' -q', '') for line in ci if line.startswith('pip install')] == installs
    assert ci[-1] == 'python -m pytest -q tests' and '```sh\npython -m pytest -q tests\n```' in text
    # the offline export comes before the command that needs it
    assert text.index('export NANOGPT_LOCAL_DATA=') < text.index(one)
