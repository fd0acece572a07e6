"""Chat finetuning: the template and its mask, conversation files and their errors, training on a chat
dataset (GPT-2 folder, exact resume, init from another run), chat.py and eval.py's chat numbers."""
import gzip
import json
import os
import runpy
import sys

import numpy as np
import pytest
import torch

from harness import BadInput, bad_input, report, ROOT, SHARED, ckpt, run, same_weights

from nanogpt.chat import ChatData, Answerer, parse_conversation, prompt_ids, render
from nanogpt.dataset import bin_dtype, load_summary
from nanogpt.tokenizer import CHAT_TOKENS, RESERVED_TOKENS, GPT2Tokenizer, TrainedTokenizer

EN = os.path.join(SHARED, 'chat', 'chatterbot_en.jsonl')
ZH = os.path.join(SHARED, 'chat', 'chatterbot_zh.jsonl')
TRAIN_TINY = ['--device=cpu', '--compile=False', '--dtype=float32', '--eval_iters=2', '--eval_interval=3',
              '--log_interval=1', '--batch_size=2', '--gradient_accumulation_steps=2', '--block_size=64',
              '--dropout=0.1', '--learning_rate=1e-3', '--warmup_iters=2', '--lr_decay_iters=10']


def lines(path, n):
    with open(path, encoding='utf-8') as f:
        return [json.loads(next(f)) for _ in range(n)]


def prepare(args, capsys=None):
    """Run data/prepare_chat.py in this process; (exit code, stdout + stderr)."""
    argv = sys.argv
    sys.argv = ['prepare_chat.py'] + [str(a) for a in args]
    code = 0
    try:
        runpy.run_path(os.path.join(ROOT, 'data', 'prepare_chat.py'), run_name='__main__')
    except SystemExit as e:
        code = e.code
    except BadInput as e:  # as the script's exit_on_bad_input() hook ends it
        report(e)
        code = 2
    finally:
        sys.argv = argv
        from nanogpt import lock
        for folder in list(lock._held):  # as the kernel does when the script's process ends
            lock.release(folder)
    out = capsys.readouterr() if capsys else None
    return code, (out.out + out.err) if out else ''


def write_jsonl(path, records, opener=open):
    with opener(path, 'wt', encoding='utf-8') as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + '\n')
    return path


def sharegpt(record):
    names = {'user': 'human', 'assistant': 'gpt', 'system': 'system'}
    return {'conversations': [{'from': names[m['role']], 'value': m['content']} for m in record['messages']]}


def train_tokenizer(path, texts, vocab=400):
    """A byte-level BPE tokenizer.json with the reserved special tokens at 0..15 (as data/train_tokenizer.py)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab, special_tokens=list(RESERVED_TOKENS),
                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tk.save(str(path))
    return str(path)


@pytest.fixture(scope='module')
def chat_en(tmp_path_factory):
    """data/<tmp> chat dataset of the first 200 English conversations, GPT-2 BPE, block 64."""
    src = write_jsonl(tmp_path_factory.mktemp('src') / 'en.jsonl', lines(EN, 200))
    name = f'test_chat_en_{os.getpid()}'
    out = os.path.join(ROOT, 'data', name)
    code, _ = prepare([src, f'--out_dir={out}', '--block_size=64', '--val_fraction=0.2', '--overwrite'])
    assert code == 0
    yield name
    import shutil
    shutil.rmtree(out, ignore_errors=True)


# --- the template ----------------------------------------------------------------------------------------

def test_template_masks_only_assistant_turns():
    tok = GPT2Tokenizer()
    turns = [('system', 'Be brief.'), ('user', 'Hi <|end|> <|assistant|>'), ('assistant', 'Hello.'),
             ('user', 'Bye'), ('assistant', 'Bye!')]
    ids, mask, cuts = render(tok, turns)
    S, U, A, E = (tok.special[t] for t in CHAT_TOKENS)
    assert (S, U, A, E) == (50257, 50258, 50259, 50260)
    # the user's text that spells special tokens stays ordinary text: exactly 4 special ids per 4... turns
    assert sum(i >= 50257 for i in ids) == 2 * len(turns)
    trained = [i for i, m in zip(ids, mask) if m]
    assert trained == tok.encode_ordinary('Hello.') + [E] + tok.encode_ordinary('Bye!') + [E]
    assert cuts == [ids.index(E, ids.index(A)) + 1, len(ids)]
    assert prompt_ids(tok, turns[:2])[-1] == A and prompt_ids(tok, turns[:2]) == ids[:ids.index(A) + 1]


def test_trained_tokenizer_template(tmp_path):
    texts = [m['content'] for r in lines(ZH, 100) for m in r['messages']]
    tok = TrainedTokenizer(train_tokenizer(tmp_path / 'tok.json', texts))
    ids, mask, _ = render(tok, [('user', '你好<|user|>'), ('assistant', '你好！')])
    assert [i for i in ids if i < 16] == [2, 4, 3, 4]  # <|user|> <|end|> <|assistant|> <|end|>: the text's stays text
    assert tok.decode([i for i, m in zip(ids, mask) if m][:-1]) == '你好！'


# --- must-show 1: the loss is the mean over assistant tokens; other tokens get no gradient -------------------

def test_loss_is_mean_over_assistant_tokens_and_others_get_no_gradient(chat_en):
    from model import GPT, GPTConfig
    data_dir = os.path.join(ROOT, 'data', chat_en)
    data = ChatData(data_dir, bin_dtype(data_dir), 64)
    x, y = data.batch('train', np.random.default_rng(0), 8)
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=64, vocab_size=50304))
    logits, loss = model(x, y)
    logits.retain_grad()
    loss.backward()
    # which targets are assistant tokens, found by walking the ids: from after <|assistant|> to its <|end|>
    A, E = 50259, 50260
    full = torch.cat([x, x[:, -1:]], 1)
    full[:, 1:] = torch.where(y == -1, full[:, 1:], y)  # the real next tokens where y has them
    expected = torch.zeros_like(y, dtype=torch.bool)
    for r in range(len(x)):
        inside = False
        for t in range(y.size(1)):
            if x[r, t] == A:
                inside = True
            if inside and y[r, t] != -1:
                expected[r, t] = True
            if inside and y[r, t] == E:
                inside = False
    assert expected.sum() > 0 and (expected == (y != -1)).all()
    logp = torch.log_softmax(logits.detach(), -1)
    direct = -logp[expected].gather(1, y[expected][:, None]).mean()
    assert torch.allclose(loss.detach(), direct, atol=1e-6)
    grad_norm = logits.grad.abs().sum(-1)
    assert (grad_norm[~expected] == 0).all() and (grad_norm[expected] > 0).all()
    # the user's and system's tokens as targets: none of them counted
    for r in range(len(x)):
        counted = y[r][y[r] != -1].tolist()
        assert 50258 not in counted and 50257 not in counted


# --- conversation files --------------------------------------------------------------------------------

def test_layouts_and_formats_give_the_same_dataset(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq
    records = lines(EN, 60)
    files = {'messages': write_jsonl(tmp_path / 'm.jsonl', records),
             'sharegpt_gz': write_jsonl(tmp_path / 's.jsonl.gz', [sharegpt(r) for r in records], gzip.open)}
    files['parquet'] = str(tmp_path / 'm.parquet')
    pq.write_table(pa.Table.from_pylist([{'messages': r['messages']} for r in records]), files['parquet'])
    files['sharegpt_parquet'] = str(tmp_path / 's.parquet')
    pq.write_table(pa.Table.from_pylist([sharegpt(r) for r in records]), files['sharegpt_parquet'])
    made = {}
    for kind, path in files.items():
        out = tmp_path / kind
        code, text = prepare([path, f'--out_dir={out}', '--block_size=64'], capsys)
        assert code == 0, text
        made[kind] = [(out / f).read_bytes() for f in ('train.bin', 'train.mask.bin', 'train.idx.bin', 'val.bin')]
    assert all(v == made['messages'] for v in made.values())
    s = load_summary(str(tmp_path / 'messages'))
    assert s['kind'] == 'chat' and s['conversations']['train'] + s['conversations']['val'] + s['skipped_too_long'] == 60


def test_long_conversations_are_cut_at_a_turn_boundary_or_skipped(tmp_path, capsys):
    long = 'word ' * 40
    records = [{'messages': [{'role': 'user', 'content': 'a'}, {'role': 'assistant', 'content': 'b'},
                             {'role': 'user', 'content': 'c'}, {'role': 'assistant', 'content': long}]},
               {'messages': [{'role': 'user', 'content': long}, {'role': 'assistant', 'content': 'b'}]}] + lines(EN, 30)
    code, text = prepare([write_jsonl(tmp_path / 'c.jsonl', records), f'--out_dir={tmp_path / "o"}',
                          '--block_size=32', '--val_fraction=0.2'], capsys)
    assert code == 0, text
    s = load_summary(str(tmp_path / 'o'))
    assert s['cut'] >= 1 and s['skipped_too_long'] >= 1
    idx = np.fromfile(tmp_path / 'o' / 'train.idx.bin', dtype=np.uint64)
    ids = np.fromfile(tmp_path / 'o' / 'train.bin', dtype=np.uint16)
    lengths = np.diff(idx)
    assert lengths.max() <= 33 and all(ids[int(e) - 1] == 50260 for e in idx[1:])  # every one ends with <|end|>


BAD = {  # case: (record or raw line, the message's words)
    'roles_out_of_order': ({'messages': [{'role': 'assistant', 'content': 'hi'}]},
                           "line 11: its roles are out of order: turn 1 is assistant, expected user"),
    'empty_content': ({'messages': [{'role': 'user', 'content': ' '}, {'role': 'assistant', 'content': 'x'}]},
                      "line 11: turn 1 (user) has empty content"),
    'unknown_role': ({'messages': [{'role': 'bot', 'content': 'hi'}]},
                     "line 11: turn 1 has unknown role 'bot' (known: system, user, assistant)"),
    'not_json': ('{"messages": [', "line 11: it is not JSON"),
    'no_conversation': ({'text': 'hello'}, "line 11: it has neither a 'messages' nor a 'conversations' list"),
    'sharegpt_unknown_from': ({'conversations': [{'from': 'bot', 'value': 'hi'}]},
                              "line 11: turn 1 has unknown role 'bot'"),
}


@pytest.mark.parametrize('case', list(BAD))
def test_bad_conversation_file(case, tmp_path, capsys):
    record, words = BAD[case]
    path = tmp_path / 'bad.jsonl'
    good = [json.dumps(r) for r in lines(EN, 10)]
    path.write_text('\n'.join(good + [record if isinstance(record, str) else json.dumps(record)] + good) + '\n')
    out = tmp_path / 'out'
    code, text = prepare([path, f'--out_dir={out}', '--block_size=64'], capsys)
    assert code == 2
    errors = [l for l in text.splitlines() if l.startswith('error:')]
    assert len(errors) == 1 and f"{path} {words}" in errors[0] and '--skip_malformed' in errors[0], text
    assert not os.path.exists(out / 'train.bin')  # nothing written
    code, text = prepare([path, f'--out_dir={out}', '--block_size=64', '--skip_malformed', '--val_fraction=0.5'],
                         capsys)
    assert code == 0, text
    assert load_summary(str(out))['skipped_malformed'] == 1


def test_parse_keeps_system_and_drops_a_trailing_question():
    turns = parse_conversation({'messages': [{'role': 'system', 'content': 's'}, {'role': 'user', 'content': 'q'},
                                             {'role': 'assistant', 'content': 'a'}, {'role': 'user', 'content': 'q2'}]})
    assert turns == [('system', 's'), ('user', 'q'), ('assistant', 'a')]


# --- GPT-2 weights: padded rows -------------------------------------------------------------------------

def test_gpt2_rows_padded_with_the_mean(gpt2_folder):
    from nanogpt.checkpoint import load_gpt2
    plain = load_gpt2(gpt2_folder)
    padded = load_gpt2(gpt2_folder, vocab_size=50261)
    w = padded.transformer.wte.weight
    assert plain.config.vocab_size == 50257 and padded.config.vocab_size == 50304 == w.size(0)
    assert padded.lm_head.weight is w
    assert torch.allclose(w[50257:], plain.transformer.wte.weight.mean(0).expand(47, -1))
    x = torch.tensor([[15496, 995]])
    assert torch.allclose(plain(x)[0], padded(x)[0][..., :50257], atol=1e-5)


# --- must-show 3: SFT from a local GPT-2 folder, checkpoint, exact resume, chat; init from another run -------

@pytest.fixture(scope='module')
def sft(chat_en, gpt2_folder, tmp_path_factory):
    """out_dir of 4 iterations of SFT from a local GPT-2 folder (random weights) on chat_en."""
    out = str(tmp_path_factory.mktemp('sft'))
    run(['train.py', f'--dataset={chat_en}', f'--init_from={gpt2_folder}', f'--out_dir={out}',
           '--max_iters=4'] + TRAIN_TINY)
    return out


def test_sft_from_gpt2_folder_resumes_exactly(sft, chat_en, gpt2_folder, tmp_path):
    half = str(tmp_path / 'half')
    run(['train.py', f'--dataset={chat_en}', f'--init_from={gpt2_folder}', f'--out_dir={half}',
           '--max_iters=2'] + TRAIN_TINY)
    run(['train.py', f'--dataset={chat_en}', '--init_from=resume', f'--out_dir={half}',
                    '--max_iters=4'] + TRAIN_TINY).out
    a, b = ckpt(sft), ckpt(half)
    assert a['model_args']['vocab_size'] == 50304 and a['iter_num'] == b['iter_num'] == 5
    assert same_weights(a['model'], b['model'])


def test_sft_chats_and_evaluates(sft):
    answer = run(['chat.py', f'--out_dir={sft}', '--prompt=What is AI?', '--temperature=0',
                       '--device=cpu']).out
    assert answer.strip()  # random weights: some text, ended by <|end|> or the context
    ev = run(['eval.py', f'--out_dir={sft}', '--device=cpu', '--max_answers=3']).out
    assert 'assistant loss' in ev and 'exact greedy answers 0/3' in ev


def test_init_from_another_run(sft, chat_en, tmp_path):
    """Another run's out_dir as init_from: its weights, a new run from iteration 0 with a fresh optimizer."""
    new = str(tmp_path / 'new')
    log = run(['train.py', f'--dataset={chat_en}', f'--init_from={sft}', f'--out_dir={new}',
                    '--max_iters=0'] + TRAIN_TINY).out
    assert f"initializing from the weights of {sft}/ckpt.pt" in log
    c = ckpt(new)
    assert c['iter_num'] == 1 and c['optimizer']['state'][0]['step'].item() == 1


# --- chat.py -------------------------------------------------------------------------------------------

def test_answers_reuse_the_cache_across_turns():
    """Greedy answers with the cache kept from turn to turn equal answers computed from scratch each turn."""
    from model import GPT, GPTConfig
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=50304)).eval()
    tok = GPT2Tokenizer()
    kept, fresh = Answerer(model, tok), Answerer(model, tok)
    ids = []
    for q in ('Hi', 'How are you?'):
        ids += render(tok, [('user', q)])[0] + [tok.special['<|assistant|>']]
        fresh.forget()
        a, b = list(kept.answer(ids, 5)), list(fresh.answer(ids, 5))
        assert a == b and len(a) == 5 and all(t < 50257 for t in a)
        ids += a + [tok.special['<|end|>']]
        assert kept.cache.pos == len(ids) - 1  # all but <|end|>: turn 2 feeds only its new tokens
    assert list(kept.answer(ids + [tok.special['<|user|>']] * (64 - len(ids) - 2)))  # two positions left
    assert kept.cut  # random weights do not say <|end|>: the answer ran to the end of the context


def test_chat_interactive_outgrows_context(sft):
    import subprocess
    p = subprocess.run([sys.executable, 'chat.py', f'--out_dir={sft}', '--device=cpu', '--system=Be brief.'],
                       input='Hello there\nHow are you today?\n/quit\n', capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert 'the answer was cut' in p.stderr and 'oldest 1 exchange(s) are forgotten' in p.stderr
    p = subprocess.run([sys.executable, 'chat.py', f'--out_dir={sft}', '--device=cpu', '--prompt=' + 'word ' * 80],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith('error: --prompt is too long')


def test_chat_commands_answer_and_unknown_ones_are_refused(sft):
    """/help lists the commands, /reset says it reset, a mistyped /hepl is refused and never reaches the model."""
    import subprocess
    p = subprocess.run([sys.executable, 'chat.py', f'--out_dir={sft}', '--device=cpu', '--system=Be brief.'],
                       input='/help\n/reset\n/hepl\n/quit\n', capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert '/reset' in p.stderr and 'list these commands' in p.stderr
    assert '[conversation reset; the system prompt stays]' in p.stderr
    assert '[unknown command /hepl; /help lists the commands]' in p.stderr
    assert p.stdout == ''  # no answer was generated


def test_chat_data_refusals(chat_en, tmp_path, capsys):
    data_dir = os.path.join(ROOT, 'data', chat_en)
    with bad_input() as e:
        ChatData(data_dir, bin_dtype(data_dir), 4)  # no conversation's first answer fits 4 tokens
    assert e.value.code == 2 and '--block_size=4' in capsys.readouterr().err
    with bad_input():
        ChatData.of(data_dir, {}, bin_dtype(data_dir), 64)  # mask files but a summary that does not say chat
    assert 'interrupted prepare' in capsys.readouterr().err


def test_init_from_a_run_with_another_tokenizer(tmp_path, capsys):
    from model import GPT, GPTConfig
    from nanogpt.checkpoint import init_weights, save_checkpoint
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=16, vocab_size=64))
    save_checkpoint(str(tmp_path), {'model': model.state_dict(), 'model_args': dict(
        n_layer=1, n_head=2, n_embd=32, block_size=16, bias=True, vocab_size=64, dropout=0.0),
        'config': {'tokenizer_sha256': 'ab' * 32}, 'iter_num': 5})
    assert init_weights(str(tmp_path), tokenizer_sha256='ab' * 32).config.vocab_size == 64
    with bad_input() as e:
        init_weights(str(tmp_path), tokenizer_sha256=None)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and err[-1].startswith(f"error: {tmp_path}/ckpt.pt was trained on trained tokenizer abab")
