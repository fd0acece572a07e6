"""A newcomer's small stumbles: help that helps, advice that fits the script it comes from."""
import glob
import os
import re
import subprocess
import sys

import pytest

from harness import ROOT, run
from tokenizer_helpers import trained_tokenizer  # noqa: F401 (a fixture)


def test_runlog_help_is_help_not_a_folder():
    p = subprocess.run([sys.executable, '-m', 'nanogpt.runlog', '--help'], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith('usage: python -m nanogpt.runlog')
    p = subprocess.run([sys.executable, '-m', 'nanogpt.runlog'], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2 and 'usage:' in p.stderr


def test_sample_without_checkpoint_does_not_suggest_init_from(tmp_path):
    for script in ('sample.py', 'eval.py'):
        r = run([script, f'--out_dir={tmp_path}', '--device=cpu'], expect=2)
        assert 'no checkpoint at' in r.out and '--init_from' not in r.out, r.out


def test_train_resume_without_checkpoint_still_suggests_auto(shakespeare_char, tmp_path):
    r = run(['train.py', '--dataset=shakespeare_char', '--device=cpu', f'--out_dir={tmp_path}',
             '--init_from=resume'], expect=2)
    assert 'no checkpoint at' in r.out and '--init_from=auto' in r.out


def test_tokenizer_folder_from_the_readme_is_ignored_by_git():
    p = subprocess.run(['git', 'check-ignore', 'tok/zh32k/tokenizer.json'], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0


def test_a_few_documents_still_get_a_val_split(tmp_path):
    """4 documents at the default --val_fraction (0.01): the hash rule would leave val empty; the lowest-hash
    document goes to val instead, said in one line, and the split is the same on a rerun. A whitespace-only
    file is skipped like an empty one."""
    import json
    src = tmp_path / 'src'
    src.mkdir()
    for i in range(4):
        (src / f'd{i}.txt').write_text(f"document number {i} about things and stuff\n")
    (src / 'blank.txt').write_text('  \n\n')
    outs = []
    for name in ('a', 'b'):
        r = run(['data/prepare_local.py', str(src), f'--out_dir={tmp_path / name}'])
        assert 'val gets the one document whose hash is lowest' in r.out
        outs.append(json.loads((tmp_path / name / 'summary.json').read_text()))
    assert outs[0]['documents'] == 4 and outs[0]['val_tokens'] > 0 and outs[0]['train_tokens'] > 0
    assert outs[0]['val_sha256'] == outs[1]['val_sha256']


def test_startup_notes_for_runs_sized_for_another_machine(shakespeare_char, tmp_path):
    """nanoGPT's 40 accumulation steps on a CPU, a GPT-2-wide head on a tiny model, --fsdp=True without
    torchrun: each said once at start-up; the run itself is unchanged."""
    from nanogpt.advice import run_notes
    r = run(['train.py', '--dataset=shakespeare_char', '--device=cpu', '--compile=False', '--n_layer=1',
             '--n_head=2', '--n_embd=32', '--block_size=32', '--batch_size=2', '--max_iters=0', '--eval_iters=1',
             '--fsdp=True', f'--out_dir={tmp_path}'])
    assert 'note: each iteration is 40 micro-steps of 2 x 32 tokens' in r.out
    assert 'note: --fsdp=True needs torchrun' in r.out
    head = run_notes('cpu', 1, 12, 64, 2, 64, 50304, False, False)
    assert len(head) == 1 and 'output layer is 97% of the model' in head[0]
    assert run_notes('cpu', 1, 12, 64, 4, 128, 65, False, False) == []  # the README's CPU recipe: nothing to say
    assert run_notes('cuda', 40, 12, 1024, 12, 768, 50304, True, True) == [
        "FSDP: on (weights, gradients and optimizer state sharded across the ranks)"]


def test_dataset_hint_says_when_the_suggestion_is_not_prepared(capsys):
    import os
    import pytest
    from harness import bad_input
    from nanogpt.dataset import DATA_ROOT, dataset_dir
    if os.path.exists(os.path.join(DATA_ROOT, 'tinystories', 'train.bin')):
        pytest.skip('tinystories is prepared in this checkout')
    with bad_input() as e:
        dataset_dir('tinystorie')
    assert e.value.code == 2
    assert '--dataset=tinystories (prepare it first: python data/tinystories/prepare.py)?' in capsys.readouterr().err


def test_resume_on_another_tokenization_names_both(shakespeare_char, tmp_path):
    import torch
    from harness import TINY
    run(['train.py', *TINY, f'--out_dir={tmp_path}', '--max_iters=2'])
    ck = torch.load(tmp_path / 'ckpt.pt', weights_only=False)
    ck['config']['tokenizer_sha256'] = 'a' * 64
    torch.save(ck, tmp_path / 'ckpt.pt')
    r = run(['train.py', *TINY, f'--out_dir={tmp_path}', '--init_from=resume', '--max_iters=4'], expect=2)
    assert '(trained, sha256 aaaaaaaaaaaa... vs GPT-2 BPE or characters)' in r.out


def test_a_run_saves_once_at_its_end_and_keep_best_keeps_its_best(shakespeare_char, tmp_path):
    """always_save_checkpoint=True: the evaluation at max_iters does not save (the end does, one step later).
    always_save_checkpoint=False (config/sft_chat.py): the end of training never replaces the best checkpoint
    and says which one is kept."""
    import torch
    from harness import TINY
    saves = lambda r: re.findall(r'saving checkpoint to \S+ at iter (\d+) \((.*)\)', r.out)
    r = run(['train.py', *TINY, f'--out_dir={tmp_path / "a"}', '--max_iters=5'])
    assert saves(r) == [('6', 'end of training')]
    r = run(['train.py', *TINY, f'--out_dir={tmp_path / "b"}', '--max_iters=7', '--always_save_checkpoint=False'])
    assert saves(r) == [('5', 'new best val loss')]
    assert f'end of training: {tmp_path / "b"}/ckpt.pt keeps the one of iter 5 (best val loss' in r.out
    ck = torch.load(tmp_path / 'b' / 'ckpt.pt', weights_only=True)
    assert ck['iter_num'] == 5


def test_chinese_route_chains_and_cpu_twins_fit_a_cpu():
    """The README's Chinese commands write the dataset config/train_chinese_gpt2.py reads; each GPU recipe of the
    README has a CPU twin (one accumulation step, a small model, device cpu) about which start-up has nothing to
    say but the output layer's share; GPT-2 small on a CPU is told where the twins are."""
    from nanogpt.advice import run_notes
    readme = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    prepared = re.findall(r'prepare_local\.py corpus/ --tokenizer=tok/zh32k/tokenizer\.json --out_dir=data/(\w+)', readme)
    assert prepared and {recipe('train_chinese_gpt2')['dataset']} == set(prepared)
    for name, gpu in (('train_chinese_cpu', 'train_chinese_gpt2'), ('train_tinystories_cpu', 'train_tinystories'),
                      ('sft_chat_cpu', 'sft_chat')):
        c = recipe(name)
        assert f'config/{name}.py' in readme and c['device'] == 'cpu' and c['gradient_accumulation_steps'] == 1
        notes = run_notes('cpu', 1, c['batch_size'], c['block_size'], c['n_layer'], c['n_embd'], 2048, False, False)
        assert notes == [], (name, notes)
    big = run_notes('cpu', 40, 12, 1024, 12, 768, 2048, False, False, 'zh')
    assert any('python train.py config/train_chinese_cpu.py --dataset=zh' in n for n in big)


def recipe(name):
    """The globals a config file sets."""
    g = {}
    exec(open(os.path.join(ROOT, 'config', f'{name}.py'), encoding='utf-8').read(), g)
    return g


def test_busy_machine_note_says_omp_num_threads_where_it_acts():
    from nanogpt.advice import busy_cpu_notes
    busy = busy_cpu_notes('cpu', 'train.py', load=5.3, cores=2, threads=2, env={})
    assert busy == ["note: this machine is busy (load average 5.3 on 2 cores) and torch runs 2 threads, which then "
                    "wait on each other at every operation; OMP_NUM_THREADS=1 python train.py ... is often several "
                    "times faster here (docs/speed.md)"]
    assert busy_cpu_notes('cpu', 'train.py', load=0.5, cores=2, threads=2, env={}) == []  # quiet: keep the threads
    assert busy_cpu_notes('cpu', 'train.py', load=5.3, cores=2, threads=2, env={'OMP_NUM_THREADS': '2'}) == []
    assert busy_cpu_notes('cuda', 'train.py', load=5.3, cores=2, threads=2, env={}) == []


def test_k8s_manifests_work_offline_and_have_a_route_for_your_own_files():
    """Every pod of k8s/ reads the files scripts would download from the shared volume (NANOGPT_LOCAL_DATA), the
    test job's init container included; a Job prepares your own corpus from the volume into the volume; a shell
    pod on the same volume is the way to copy files on and off it and to sample or evaluate there."""
    import yaml
    docs = [d for p in sorted(glob.glob(os.path.join(ROOT, 'k8s', '*.yaml'))) for d in yaml.safe_load_all(open(p)) if d]
    pods = {}
    for d in docs:
        spec = {'Pod': lambda: d['spec'], 'Job': lambda: d['spec']['template']['spec'],
                'Deployment': lambda: d['spec']['template']['spec'],
                'PyTorchJob': lambda: d['spec']['pytorchReplicaSpecs']['Worker']['template']['spec']}.get(d['kind'])
        if spec:
            pods[d['metadata']['name']] = spec()
    assert {'nanogpt-shell', 'nanogpt-prepare-local', 'nanogpt-test'} <= set(pods)
    for name, pod in pods.items():
        claims = {v['name'] for v in pod['volumes'] if v.get('persistentVolumeClaim', {}).get('claimName') == 'nanogpt-shared'}
        for c in pod.get('initContainers', []) + pod['containers']:
            env = {e['name']: e.get('value') for e in c.get('env', [])}
            local = env.get('NANOGPT_LOCAL_DATA')
            assert local and any(local.startswith(m['mountPath'] + '/') for m in c['volumeMounts'] if m['name'] in claims), \
                (name, c['name'])
            assert not re.search(r'curl|wget|https?://', ' '.join(map(str, c['command']))), (name, c['name'])
    (prep,) = pods['nanogpt-prepare-local']['containers']
    assert prep['command'][:2] == ['python', 'data/prepare_local.py'] and prep['command'][2].startswith('/shared/')
    assert any(a.startswith('--out_dir=/shared/') for a in prep['command'])
    k8s_doc = open(os.path.join(ROOT, 'docs', 'kubernetes.md'), encoding='utf-8').read()
    for step in ('kubectl cp ../shared/data nanogpt-shell:/shared/local-data', 'k8s/prepare-local.yaml',
                 'kubectl exec nanogpt-shell -- python sample.py', 'kubectl exec nanogpt-shell -- python eval.py',
                 'kubectl cp nanogpt-shell:/shared/'):
        assert step in k8s_doc, step
    assert 'Kubernetes' in open(os.path.join(ROOT, 'docs', 'data.md'), encoding='utf-8').read().split('NANOGPT_LOCAL_DATA', 1)[1][:3000]


def test_streamed_text_never_shows_a_partial_character(trained_tokenizer, capsys):  # noqa: F811
    """chat.py and sample.py stream through TextStream. With a byte-level BPE whose tokens split Chinese
    characters (vocabulary 600: most characters are 2-3 tokens), each printed piece is whole characters, and
    all pieces together are exactly the decode of all the tokens, also when the bytes are not valid UTF-8 (a
    sampled token that does not continue a character): U+FFFD is printed only where the text itself has it."""
    import random
    from nanogpt.sampling import TextStream
    from nanogpt.tokenizer import TrainedTokenizer
    tok = TrainedTokenizer(trained_tokenizer[0])
    texts = ['这本书很好看，推荐给大家！😀 ok', '物流很快，包装也不错。\n第二次买了']
    rng = random.Random(0)
    seqs = [tok.encode_ordinary(t) for t in texts]
    assert max(len(s) / len(t) for s, t in zip(seqs, texts)) > 1.3  # characters really are split
    seqs += [[rng.randrange(16, tok.vocab_size) for _ in range(60)] for _ in range(20)]  # arbitrary bytes
    for ids in seqs:
        capsys.readouterr()
        pieces = []
        stream = TextStream(tok)
        for t in ids:
            stream.add(t)
            pieces.append(capsys.readouterr().out)
        stream.close(end='')
        pieces.append(capsys.readouterr().out)
        assert ''.join(pieces) == tok.decode(ids)
        if '\ufffd' not in tok.decode(ids):
            assert not any('\ufffd' in p for p in pieces)


# those with --num_proc, and one of each other kind (all of data/ share nanogpt/usage.py's HelpFormatter)
PREPARE_SCRIPTS = ['data/prepare_local.py', 'data/openwebtext/prepare.py', 'data/openwebtext-10k/prepare.py',
                   'data/tinystories/prepare.py', 'data/tang_poems/prepare.py', 'data/count_tokens.py']


@pytest.mark.parametrize('script', PREPARE_SCRIPTS)
def test_prepare_help_shows_every_default(script):
    """Every option with a value says what it does and its default (--num_proc: how many processes, and the
    number it would use here)."""
    p = subprocess.run([sys.executable, script, '--help'], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, 'COLUMNS': '1000'})
    assert p.returncode == 0, p.stderr
    entries = re.split(r'\n(?=  -)', p.stdout.split('options:', 1)[1])  # an option and its help's lines
    options = [m.groups() for m in (re.match(r'\s*(--\w+) [A-Z_]+\s*(.*)', e, re.S) for e in entries) if m]
    assert options
    for flag, text in options:
        text = ' '.join(text.split())
        assert text, (script, flag)  # each option says what it does
        if flag != '--out_dir' or 'default' in text:  # a required --out_dir has no default
            assert 'default: ' in text, (script, flag, text)
        assert not text.startswith('(default'), (script, flag)


def test_tokenizer_progress_counts_toward_the_corpus(tmp_path):
    """A finished train_tokenizer.py run shows its bar full (the corpus read), not at a few % of --max_chars."""
    (tmp_path / 'a.txt').write_text('这本书很好看。' * 300 + ' plain words and more words ' * 100, encoding='utf-8')
    r = run(['data/train_tokenizer.py', tmp_path / 'a.txt', '--vocab_size=300', f'--out_dir={tmp_path / "tok"}'],
            env={'COLUMNS': '100'})
    last = r.stderr.replace('\r', '\n').strip().splitlines()
    bar = [line for line in last if line.startswith('reading the corpus:')][-1]
    size = os.path.getsize(tmp_path / 'a.txt')
    assert '100%' in bar and f'{size / 1000:.2f}k/{size / 1000:.2f}k' in bar, bar


def test_docs_point_at_no_notes_users_cannot_see():
    for path in glob.glob(os.path.join(ROOT, 'docs', '*.md')) + [os.path.join(ROOT, 'README.md')]:
        assert not re.search(r'notes of issue \d+', open(path, encoding='utf-8').read()), path
