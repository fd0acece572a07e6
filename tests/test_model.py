"""model.py: the reference's parameter names, optimizer groups, block-size crop, GPT-2 weights from a
local save_pretrained folder, and checkpoints that carry torch.compile's prefix."""

import pytest
import torch

from harness import run
from nanogpt.checkpoint import COMPILE_PREFIX, load_checkpoint
from model import GPT, GPTConfig


def tiny(bias=True, **kw):
    torch.manual_seed(0)
    return GPT(GPTConfig(**dict(n_layer=2, n_head=2, n_embd=64, block_size=32, vocab_size=65, bias=bias, dropout=0.0, **kw)))


def reference_names(n_layer, bias):
    """The parameter names of a nanoGPT checkpoint, in state_dict order."""
    names = ['transformer.wte.weight', 'transformer.wpe.weight']
    for i in range(n_layer):
        for m in ('ln_1', 'attn.c_attn', 'attn.c_proj', 'ln_2', 'mlp.c_fc', 'mlp.c_proj'):
            names.append(f'transformer.h.{i}.{m}.weight')
            if bias:
                names.append(f'transformer.h.{i}.{m}.bias')
    names.append('transformer.ln_f.weight')
    if bias:
        names.append('transformer.ln_f.bias')
    return names + ['lm_head.weight']


@pytest.mark.parametrize('bias', [True, False])
def test_parameter_names_are_the_references(bias):
    model = tiny(bias)
    sd = model.state_dict()
    assert list(sd) == reference_names(2, bias)
    assert sd['lm_head.weight'].data_ptr() == sd['transformer.wte.weight'].data_ptr()  # tied
    # the parameter count leaves out position embeddings and counts the tied matrix once
    n = sum(p.numel() for p in model.parameters())
    assert model.get_num_params() == n - 32 * 64
    assert n == sum(v.numel() for k, v in sd.items() if k != 'lm_head.weight')


def test_optimizer_groups_decay_only_matrices():
    model = tiny(bias=True)
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-3, betas=(0.9, 0.95), device_type='cpu')
    decay, nodecay = opt.param_groups
    assert decay['weight_decay'] == 0.1 and nodecay['weight_decay'] == 0.0
    assert decay['params'] and all(p.dim() >= 2 for p in decay['params'])
    assert nodecay['params'] and all(p.dim() < 2 for p in nodecay['params'])
    ids = [id(p) for g in opt.param_groups for p in g['params']]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # every parameter once (wte = lm_head)
    assert len(decay['params']) == 2 + 4 * 2  # wte, wpe and 4 matrices per layer


def test_crop_block_size_keeps_the_first_positions():
    model = tiny().eval()
    idx = torch.randint(65, (2, 16))
    before, _ = model(idx, idx)
    model.crop_block_size(16)
    assert model.config.block_size == 16 and model.transformer.wpe.weight.shape == (16, 64)
    after, _ = model(idx, idx)
    assert torch.equal(before, after)
    with pytest.raises(ValueError, match='block_size is 16'):
        model(torch.randint(65, (1, 17)))
    # the cropped table is a trainable parameter of the optimizer
    assert any(p is model.transformer.wpe.weight for p in model.parameters())


def test_from_pretrained_local_folder_matches_transformers(gpt2_folder):
    from transformers import GPT2LMHeadModel
    hf = GPT2LMHeadModel.from_pretrained(gpt2_folder).eval()
    model = GPT.from_pretrained(gpt2_folder).eval()
    assert model.config.block_size == 128 and model.config.vocab_size == 50257 and model.config.bias
    torch.manual_seed(1)
    idx = torch.randint(50257, (2, 128))
    with torch.no_grad():
        expected = hf(idx).logits
        logits, _ = model(idx, idx)  # with targets: logits at every position
        last, _ = model(idx)
    assert expected.abs().max() > 1.0  # the check below is not trivially met
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(last[:, 0], expected[:, -1], atol=1e-4, rtol=0)
    assert model.lm_head.weight is model.transformer.wte.weight


def test_from_pretrained_rejects_what_it_cannot_load(tmp_path):
    with pytest.raises(ValueError, match='neither one of gpt2'):
        GPT.from_pretrained(str(tmp_path / 'missing'))
    with pytest.raises(ValueError, match='only dropout'):
        GPT.from_pretrained('gpt2', dict(n_layer=2))


def test_checkpoint_with_compile_prefix_loads(tmp_path, shakespeare_char):
    """A nanoGPT checkpoint saved from a torch.compile'd model names its weights '_orig_mod.*'."""
    model = tiny(bias=False)
    wrapper = torch.compile(model)  # compiles lazily: nothing is compiled unless it is called
    prefixed = wrapper.state_dict()
    assert all(k.startswith(COMPILE_PREFIX) for k in prefixed)
    model_args = dict(n_layer=2, n_head=2, n_embd=64, block_size=32, bias=False, vocab_size=65, dropout=0.0)
    torch.save({'model': prefixed, 'optimizer': model.configure_optimizers(0.1, 1e-3, (0.9, 0.95), 'cpu').state_dict(),
                'model_args': model_args, 'iter_num': 10, 'best_val_loss': 4.0,
                'config': {'dataset': 'shakespeare_char'}}, tmp_path / 'ckpt.pt')
    ckpt = load_checkpoint(str(tmp_path))
    assert list(ckpt['model']) == reference_names(2, False)
    loaded = GPT(GPTConfig(**ckpt['model_args']))
    loaded.load_state_dict(ckpt['model'])  # strict
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    # and sample.py reads it as a user would, decoding with the dataset's characters
    p = run(['sample.py', f'--out_dir={tmp_path}', '--device=cpu', '--num_samples=1', '--max_new_tokens=20',
             "--start=ROMEO:"])
    assert p.stdout.count('---------------') == 1 and 'ROMEO:' in p.stdout


def test_compiled_training_saves_plain_names(tmp_path, shakespeare_char):
    """torch.compile wraps the model in a module whose state_dict names start with '_orig_mod.'; train.py saves
    the plain names. Dynamo's eager backend keeps this quick on CPU: the wrapper and the graph capture are
    real, only inductor's code generation (a minute or more here) is left out."""
    out = tmp_path / 'out'
    p = run(['train.py', '--device=cpu', '--compile=True', '--dataset=shakespeare_char', '--n_layer=2', '--n_head=2',
             '--n_embd=64', '--block_size=32', '--batch_size=4', '--gradient_accumulation_steps=1', '--max_iters=1',
             '--eval_iters=1', f'--out_dir={out}'],
            env={'TORCH_COMPILE_OVERRIDE_BACKENDS': '>=0:eager', 'OMP_NUM_THREADS': '1'})
    assert 'compiling the model' in p.stdout
    raw = torch.load(out / 'ckpt.pt', weights_only=False)  # as saved, without load_checkpoint's clean-up
    assert list(raw['model']) == reference_names(2, False)
    assert raw['config']['compile'] is True
