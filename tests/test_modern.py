"""The modern options (rotary positions, QK-norm, ReLU^2, untied and zero-initialised head, logit softcap)
and the Muon optimizer: exact against direct computations, the cache, resume, DDP; the default stays GPT-2."""
import math
import hashlib
import json
import os

import pytest
import torch

from harness import ROOT, TINY, TORCHRUN, ckpt, run, same_weights, train_args
from model import GPT, MODERN_KEYS, GPTConfig, rotate
from nanogpt.optim import POLAR_EXPRESS, MuonFloat32, orthogonalize

MODERN = dict(rope=True, qk_norm=True, relu2=True, untied_head=True, zero_init=True, logit_softcap=15.0)
MODERN_ARGS = ['--rope=True', '--qk_norm=True', '--relu2=True', '--untied_head=True', '--zero_init=True',
               '--logit_softcap=15.0']


def test_default_model_is_unchanged():
    """GPT-2's model as it was before the options: same parameter names, same random init (a hash of every
    weight), same logits and loss, from tests/fixtures/default_model.json, which model.py wrote then."""
    with open(os.path.join(ROOT, 'tests', 'fixtures', 'default_model.json')) as f:
        fixture = json.load(f)
    torch.manual_seed(fixture['seed'])
    model = GPT(GPTConfig(**fixture['config'])).eval()
    state = model.state_dict()
    assert sorted(state) == fixture['keys']
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].contiguous().numpy().tobytes())
    assert h.hexdigest() == fixture['state_sha256']
    idx = torch.tensor(fixture['idx'])
    with torch.no_grad():
        logits, loss = model(idx, idx)
    assert torch.equal(logits[0, :, :8], torch.tensor(fixture['logits'])) and loss.item() == fixture['loss']


def test_rope_rotates_each_pair_by_its_position_angle():
    """rotate() on known vectors equals the complex product (x_i + j x_{i+hs/2}) * exp(j * pos * 10000^(-2i/hs))
    with the model's own tables, and keeps every vector's length."""
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=32, vocab_size=8, rope=True))
    hs = 8
    x = torch.randn(1, 2, 5, hs, dtype=torch.float64)
    pos = torch.tensor([0, 1, 7, 20, 31])
    got = rotate(x, model.rope_cos[pos].double(), model.rope_sin[pos].double())
    theta = 10000.0 ** (-torch.arange(0, hs, 2, dtype=torch.float64) / hs)
    z = torch.complex(x[..., :hs // 2], x[..., hs // 2:]) * torch.exp(1j * pos[:, None].double() * theta)
    want = torch.cat((z.real, z.imag), dim=-1)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)  # the tables are float32
    assert torch.equal(got[:, :, 0], x[:, :, 0])  # position 0: no rotation
    torch.testing.assert_close(got.norm(dim=-1), x.norm(dim=-1))
    # relative: q at m and k at n score by m - n alone
    q, k = torch.randn(hs, dtype=torch.float64), torch.randn(hs, dtype=torch.float64)
    cos, sin = model.rope_cos.double(), model.rope_sin.double()
    score = lambda m, n: (rotate(q, cos[m], sin[m]) * rotate(k, cos[n], sin[n])).sum()
    torch.testing.assert_close(score(9, 4), score(25, 20))


@pytest.fixture(scope='module')
def modern_model():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=65, **MODERN)).eval()
    with torch.no_grad():  # zero_init starts at the identity: give it weights that make every option count
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def test_modern_options_change_the_model(modern_model):
    names = dict(modern_model.named_parameters())
    assert 'transformer.wpe.weight' not in names and 'lm_head.weight' in names  # rope; untied
    assert modern_model.lm_head.weight is not modern_model.transformer.wte.weight
    logits, _ = modern_model(torch.randint(65, (2, 10)))
    assert logits.abs().max() < 15.0  # softcapped
    fresh = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=65, **MODERN))
    assert all(not p.any() for n, p in fresh.named_parameters() if n.endswith('c_proj.weight') or n == 'lm_head.weight')


@pytest.mark.parametrize('window_shift', [1, 8])
def test_cached_generation_equals_uncached_past_the_prompt(modern_model, window_shift):
    """Greedy tokens with the KV cache (rotary positions continue past the prompt, and restart when the window
    slides) equal those of the whole window recomputed at every step, and so does the compiled decode step."""
    import copy
    idx = torch.randint(65, (2, 7))
    want = modern_model.generate(idx, 50, temperature=0, window_shift=window_shift, use_cache=False)
    assert torch.equal(modern_model.generate(idx, 50, temperature=0, window_shift=window_shift), want)
    graphs = []

    def count(gm, example_inputs):
        graphs.append(gm)
        return gm.forward
    compiled = copy.deepcopy(modern_model).compile_decode(backend=count)
    assert torch.equal(compiled.generate(idx, 50, temperature=0, window_shift=window_shift), want)
    assert len(graphs) == 1  # the position is a tensor: one graph for every step


def test_orthogonalize_matches_torch_and_muon_float32_moves_as_torchs():
    """orthogonalize with torch's quintic gives torch.optim.Muon's first step (up to bf16's rounding: torch's
    iteration runs in bf16), for a stack as for each matrix alone. MuonFloat32's three Polar Express steps
    orthogonalise more coarsely but move the weights as torch's Muon does, and the state dicts load into each
    other."""
    torch.manual_seed(0)
    g = torch.randn(3, 48, 16)
    o = orthogonalize(g)
    s = torch.linalg.svdvals(o)
    assert s.min() > 0.5 and s.max() < 1.5
    torch.testing.assert_close(o[1], orthogonalize(g[1]), atol=1e-5, rtol=0)
    s = torch.linalg.svdvals(orthogonalize(g, POLAR_EXPRESS[:3], safety=1.02))
    assert s.min() > 0.1 and s.max() < 2.0
    w0 = [torch.randn(48, 16), torch.randn(16, 48)]
    grads = [torch.randn_like(p) for p in w0]
    moved = {}
    for cls in (MuonFloat32, torch.optim.Muon):
        w = [torch.nn.Parameter(p.clone()) for p in w0]
        for p, gr in zip(w, grads):
            p.grad = gr.clone()
        opt = cls(w, lr=0.02, weight_decay=0.0)
        opt.step()  # the first step's update is the orthogonalised gradient (momentum only rescales it)
        moved[cls] = [p.detach() - p0 for p, p0 in zip(w, w0)]
        state = opt.state_dict()
    for gr, d in zip(grads, moved[torch.optim.Muon]):
        step = d / (-0.02 * math.sqrt(max(1, gr.size(0) / gr.size(1))))  # torch's lr adjustment undone
        torch.testing.assert_close(step, orthogonalize(gr), atol=0.02, rtol=0)  # entries about 0.2
    for a, b in zip(moved[MuonFloat32], moved[torch.optim.Muon]):
        assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.9
        assert 0.8 < a.norm() / b.norm() < 1.5
    MuonFloat32([torch.nn.Parameter(p.clone()) for p in w0], lr=0.02).load_state_dict(state)  # torch's state


def test_muon_trains_and_resumes_exactly(shakespeare_char, tmp_path):
    """A modern model with Muon: the loss falls; 10 iterations then a resume to 20 equal 20 in one go, bitwise,
    Muon's momentum buffers included; sample.py and eval.py read its checkpoint."""
    args = MODERN_ARGS + ['--optimizer=muon', '--muon_lr=0.02', '--eval_interval=10']
    straight, halves = str(tmp_path / 'straight'), str(tmp_path / 'halves')
    p = run(train_args(*args, f'--out_dir={straight}', '--max_iters=20'))
    assert 'Muon (float32, Polar Express) for 4 matrices' in p.out
    run(train_args(*args, f'--out_dir={halves}', '--max_iters=10'))
    run(train_args(*args, f'--out_dir={halves}', '--max_iters=20', '--init_from=resume'))
    a, b = ckpt(straight), ckpt(halves)
    assert a['iter_num'] == b['iter_num'] == 21
    assert same_weights(a['model'], b['model'])
    for part in ('muon', 'adamw'):
        sa, sb = a['optimizer'][part]['state'], b['optimizer'][part]['state']
        assert sa.keys() == sb.keys() and all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])
    assert {k: a['model_args'][k] for k in MODERN_KEYS} == MODERN
    assert a['config']['optimizer'] == 'muon'
    e = run(['eval.py', f'--out_dir={straight}', '--device=cpu'])
    assert float(e.out.split('loss ')[-1].split(',')[0]) < 3.6  # ln(65) = 4.17 at the start
    s = run(['sample.py', f'--out_dir={straight}', '--device=cpu', '--num_samples=1', '--max_new_tokens=40'])
    assert s.returncode == 0
    # the other optimizer, or other options, on resume: one line each
    r = run(train_args(*MODERN_ARGS, f'--out_dir={halves}', '--max_iters=30', '--init_from=resume'), expect=2)
    assert 'optimizer=muon; resume it with that optimizer' in r.out
    r = run(train_args(*args, '--rope=False', f'--out_dir={halves}', '--max_iters=30', '--init_from=resume'),
            expect=2)
    assert "the checkpoint's model has rope=True but --rope=False was asked for" in r.out


def test_ddp_with_muon_equals_one_process(shakespeare_char, tmp_path):
    """2 gloo processes (accumulation 2 + 2) train the same weights as one process with accumulation 4:
    every rank runs Muon on the same all-reduced gradients."""
    args = TINY + MODERN_ARGS + ['--optimizer=muon', '--max_iters=5', '--eval_interval=5',
                                 '--gradient_accumulation_steps=4', '--dropout=0.0', '--dist_timeout=60']
    run(TORCHRUN + ['--standalone', '--nproc_per_node=2', 'train.py'] + args + [f'--out_dir={tmp_path / "ddp"}'])
    run(['train.py'] + args + [f'--out_dir={tmp_path / "one"}'])
    ddp, one = ckpt(str(tmp_path / 'ddp'))['model'], ckpt(str(tmp_path / 'one'))['model']
    for k in one:
        torch.testing.assert_close(ddp[k], one[k], atol=1e-5, rtol=0)


def test_refusals(gpt2_folder, shakespeare_char, tmp_path):
    """Muon under FSDP, modern options on GPT-2's weights, a softcap with the chunked loss: one line each."""
    r = run(TORCHRUN + ['--standalone', '--nproc_per_node=2', 'train.py'] + TINY
            + ['--optimizer=muon', '--fsdp=True', '--max_iters=2', '--dist_timeout=60', f'--out_dir={tmp_path / "f"}'],
            expect=None)
    assert r.returncode != 0 and "optimizer='muon' needs whole matrices, which FSDP shards" in r.out
    r = run(train_args('--rope=True', f'--init_from={gpt2_folder}', f'--out_dir={tmp_path / "g"}'), expect=2)
    assert "GPT-2's weights are for GPT-2's architecture; the modern options (rope) need" in r.out
    r = run(train_args('--optimizer=sgd', f'--out_dir={tmp_path / "s"}'), expect=2)
    assert "optimizer='sgd' is not one of adamw, muon" in r.out
    with pytest.raises(ValueError, match='loss_chunk does not apply a logit_softcap'):
        GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, vocab_size=8, loss_chunk=4, logit_softcap=5.0))
