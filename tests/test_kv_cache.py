"""Generation with the KV cache gives exactly the tokens of the uncached path, and the sampling rules."""
import pytest
import torch

from model import GPT, GPTConfig, KVCache, sample_logits


@pytest.fixture(scope='module')
def model():
    # float64 so that the cached and uncached paths' rounding differences cannot flip a greedy choice
    torch.manual_seed(0)
    m = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=65, bias=True, dropout=0.0))
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(5)  # sharper logits than the init's near-uniform ones: varied text, no near-ties
    return m.double().eval()


@pytest.mark.parametrize('window_shift', [1, 8, 32])
@pytest.mark.parametrize('prompt_len', [1, 7, 32, 45, 100])  # block_size is 32
def test_cached_greedy_equals_uncached(model, prompt_len, window_shift):
    torch.manual_seed(prompt_len)
    idx = torch.randint(65, (3, prompt_len))
    cached = model.generate(idx, 200, temperature=0, window_shift=window_shift)
    uncached = model.generate(idx, 200, temperature=0, use_cache=False, window_shift=window_shift)
    assert cached.shape == (3, prompt_len + 200)
    assert torch.equal(cached, uncached)
    assert len(set(cached[:, prompt_len:].flatten().tolist())) > 10  # real text, not one repeated token


def test_cache_runs_one_position_per_step_until_the_window_is_full(model):
    lengths = []
    hook = model.transformer.wte.register_forward_hook(lambda mod, inp, out: lengths.append(inp[0].size(1)))
    try:
        list(model.generate_tokens(torch.zeros(2, 5, dtype=torch.long), 30, temperature=0, window_shift=1))
        list(model.generate_tokens(torch.zeros(2, 5, dtype=torch.long), 30, temperature=0, use_cache=False,
                                   window_shift=1))
        list(model.generate_tokens(torch.zeros(2, 5, dtype=torch.long), 40, temperature=0))
    finally:
        hook.remove()
    # prompt of 5, then one position per step up to 32; past it the window slides by one and is recomputed
    assert lengths[:30] == [5] + [1] * 27 + [32, 32]
    assert lengths[30:60] == list(range(5, 32)) + [32, 32, 32]
    # by default the window slides block_size // 8 = 4 tokens at a time: 29 are run again, then 3 more fit
    assert lengths[60:] == [5] + [1] * 27 + [29, 1, 1, 1] * 3


def test_window_shift_recomputes_once_per_shift_steps(model):
    lengths = []
    hook = model.transformer.wte.register_forward_hook(lambda mod, inp, out: lengths.append(inp[0].size(1)))
    idx = torch.randint(65, (2, 5))
    try:
        coarse = model.generate(idx, 60, temperature=0, window_shift=8)
        cached_lengths, lengths[:] = lengths[:], []
        model.generate(idx, 60, temperature=0, window_shift=8, use_cache=False)
    finally:
        hook.remove()
    # up to 32 positions as before; then 25 tokens are kept (dropping 8 at once) and 7 more fit
    assert cached_lengths == [5] + [1] * 27 + ([25] + [1] * 7) * 4
    # without the cache the same windows, each run whole
    assert lengths == list(range(5, 33)) + list(range(25, 33)) * 4
    exact = model.generate(idx, 60, temperature=0)
    assert torch.equal(coarse[:, :33], exact[:, :33])  # the same until the window first slides
    with pytest.raises(ValueError, match='window_shift'):
        list(model.generate_tokens(idx, 1, window_shift=33))


def test_sampled_tokens_match_with_same_seed(model):
    idx = torch.randint(65, (4, 40))
    torch.manual_seed(1)
    a = model.generate(idx, 50, temperature=1.0, top_k=20, top_p=0.9)
    torch.manual_seed(1)
    b = model.generate(idx, 50, temperature=1.0, top_k=20, top_p=0.9, use_cache=False)
    assert torch.equal(a, b)
    assert not torch.equal(a[0], a[1])  # the rows of a batch are sampled independently


def test_padded_vocab_ids_never_sampled(model):
    torch.manual_seed(0)
    m = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=16, block_size=16, vocab_size=80, bias=True)).eval()
    with torch.no_grad():
        m.lm_head.weight[65:] = 0
        m.transformer.ln_f.weight.zero_()
        m.transformer.ln_f.bias.copy_(torch.randn(16))
        m.lm_head.weight[70] = 10 * m.transformer.ln_f.bias  # the padded id 70 is by far the most likely
    idx = torch.zeros(8, 1, dtype=torch.long)
    assert (m.generate(idx, 20, temperature=0)[:, 1:] == 70).all()  # without the mask it is chosen
    for temperature in (0, 1.0, 5.0):
        out = m.generate(idx, 20, temperature=temperature, top_k=None, vocab_size=65)
        assert out.max() < 65


def test_sample_logits_rules():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(2000, 1)
    assert sample_logits(logits[:1], temperature=0).item() == 0
    torch.manual_seed(0)
    assert set(sample_logits(logits, top_p=0.75).flatten().tolist()) == {0, 1}  # 0.5 < 0.75 <= 0.8
    assert set(sample_logits(logits, top_p=0.5).flatten().tolist()) == {0}
    assert set(sample_logits(logits, top_k=3).flatten().tolist()) == {0, 1, 2}
    assert set(sample_logits(logits, top_p=1.0).flatten().tolist()) == {0, 1, 2, 3}
    # temperature sharpens: at 0.1 the second token is drawn (0.3/0.5)**10 ~ 0.6% of the time
    share = (sample_logits(logits, temperature=0.1) == 1).float().mean().item()
    assert share < 0.03


def test_cache_refuses_several_positions_after_the_first(model):
    cache = KVCache(model.config)
    model(torch.zeros(1, 4, dtype=torch.long), cache=cache)
    assert cache.pos == 4
    with pytest.raises(ValueError, match='empty cache'):
        model(torch.zeros(1, 2, dtype=torch.long), cache=cache)


def test_decode_step_has_static_shapes_and_compiles_once(model):
    """Every decode step, at any position, after a reset or a new prompt, is the same graph: compiled once
    (fullgraph, no recompilation), and the compiled path gives the uncached greedy tokens."""
    import copy
    graphs = []

    def count(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    m = copy.deepcopy(model).compile_decode(backend=count)
    for prompt_len in (1, 7, 45):  # 45 > block_size: the window slides and the cache is reset
        idx = torch.randint(65, (2, prompt_len))
        out = m.generate(idx, 60, temperature=0, window_shift=8)
        assert torch.equal(out, model.generate(idx, 60, temperature=0, window_shift=8, use_cache=False))
    assert len(graphs) == 1
    m.generate(torch.randint(65, (3, 5)), 10, temperature=0)  # another batch size: its own cache and graph
    k = m.generation_cache(2).k
    m.generate(idx, 10, temperature=0)  # back to 2 rows: the first cache (same buffers) and graph again
    assert len(graphs) == 2 and m.generation_cache(2).k is k
    cache = KVCache(model.config)
    model(torch.zeros(2, 3, dtype=torch.long), cache=cache)
    k = cache.k
    model(torch.zeros(2, 1, dtype=torch.long), cache=cache)
    assert cache.k is k and cache.k.shape == (2, 2, 2, 32, 16) and cache.pos == 4 and cache.pos_t.tolist() == [4]
    cache.reset()
    assert cache.pos == 0 and cache.pos_t.tolist() == [0]
