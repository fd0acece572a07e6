"""
The GPT-2 language model, in one file.
References: OpenAI's GPT-2 (TensorFlow) and Hugging Face transformers' GPT2LMHeadModel, whose
parameter names and layout this follows so that their weights load directly.
"""

import math
import os
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's cannot drop only the bias)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


def rotate(x, cos, sin):
    """Rotary position embedding: each pair (x[i], x[i + hs/2]) of a head's dimensions, seen as the complex
    number x[i] + j*x[i + hs/2], is multiplied by exp(j * position * theta_i). cos and sin are (T, hs/2)."""
    x1, x2 = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


def attention(q, k, v, dropout_p, is_causal, mask=None):
    """Scaled dot-product attention: flash / memory-efficient kernels where the device has them. mask (bool,
    broadcast to the scores; True = may attend) is for a KV cache's decode step."""
    if q.device.type == 'cpu' and torch.is_autocast_enabled('cpu'):
        # PyTorch's CPU attention is much slower in bf16 than in fp32 (docs/speed.md), and autocast would cast
        # fp32 inputs back down: run it in fp32 outside autocast; the matmuls around it stay in bf16
        with torch.autocast('cpu', enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask,
                                                  dropout_p=dropout_p, is_causal=is_causal)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal)


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.qk_norm = config.qk_norm

    def forward(self, x, cache=None, layer=0, rope=None):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        # (B, T, C) -> (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.qk_norm:  # unit-RMS queries and keys: attention logits stay bounded, a higher lr is safe
            q, k = F.rms_norm(q, (q.size(-1),)), F.rms_norm(k, (k.size(-1),))
        if rope is not None:  # rotated before caching: a cached key keeps its own position
            q, k = rotate(q, *rope), rotate(k, *rope)
        mask = None
        if cache is not None:  # generation: attend over every position cached so far
            k, v, mask = cache.update(layer, k, v)
        # Several queries (training, or a prefill from position 0) see the keys up to their own position; a
        # decode step's single query sees the cached positions, which the mask marks in the cache's buffer.
        y = attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=T > 1, mask=mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate='tanh')  # GPT-2's own GELU, so its weights give its logits
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)
        self.relu2 = config.relu2

    def forward(self, x):
        x = self.c_fc(x)
        x = F.relu(x).square() if self.relu2 else self.gelu(x)
        return self.dropout(self.c_proj(x))


class Block(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None, layer=0, rope=None):
        x = x + self.attn(self.ln_1(x), cache, layer, rope)
        x = x + self.mlp(self.ln_2(x))
        return x


class KVCache:
    """Keys and values of every layer for the first `pos` positions of a batch of sequences, so that generation
    computes one new position per step instead of the whole context again.

    The buffers have a fixed shape, (n_layer, B, nh, block_size, hs), and a decode step writes its position
    by index (pos_t, a device tensor) and attends over the whole buffer with a mask of the valid positions:
    every decode step has the same shapes and no Python number in it, so GPT.decode can be compiled once and
    replayed as a CUDA graph (GPT.compile_decode). pos (a Python int) is the same position, for callers."""

    def __init__(self, config):
        self.n_layer, self.block_size = config.n_layer, config.block_size
        self.k = self.v = None  # allocated on first use, in k's dtype and for its batch size
        self.pos = 0
        self.pos_t = None  # pos on the device, shape (1,)

    def update(self, layer, k, v):
        """Store k, v (B, nh, T, hs) at positions pos..pos+T-1; return (keys, values, mask) to attend over.
        T == 1 (decode): the whole buffers and a mask of positions 0..pos; else (prefill from position 0):
        positions 0..T-1 and no mask (causal)."""
        B, nh, T, hs = k.shape
        if self.k is None or self.k.shape[1] != B or self.k.dtype != k.dtype or self.k.device != k.device:
            if self.pos > 0:
                raise ValueError("a cache holding positions cannot change its batch size, dtype or device")
            shape = (self.n_layer, B, nh, self.block_size, hs)
            # zeros, not empty: a masked position's weight is 0, and 0 * NaN garbage would still be NaN
            self.k = torch.zeros(shape, dtype=k.dtype, device=k.device)
            self.v = torch.zeros(shape, dtype=v.dtype, device=v.device)
            self.positions = torch.arange(self.block_size, device=k.device).view(1, 1, 1, -1)  # as the scores
            self.pos_t = torch.full((1,), self.pos, dtype=torch.long, device=k.device)
            if k.device.type == 'cuda':  # updated in place by a CUDA graph: it must keep its address
                for t in (self.k, self.v, self.pos_t, self.positions):
                    torch._dynamo.mark_static_address(t)
        if T == 1:
            self.k[layer].index_copy_(2, self.pos_t, k)
            self.v[layer].index_copy_(2, self.pos_t, v)
            if not torch.compiler.is_compiling():  # eager: only the valid positions, no mask (5-10% faster on CPU)
                return self.k[layer, :, :, :self.pos + 1], self.v[layer, :, :, :self.pos + 1], None
            return self.k[layer], self.v[layer], self.positions <= self.pos_t
        if self.pos > 0:
            raise ValueError("several positions can only be added to an empty cache (a causal mask assumes it)")
        self.k[layer, :, :, :T] = k
        self.v[layer, :, :, :T] = v
        return self.k[layer, :, :, :T], self.v[layer, :, :, :T], None

    def advance(self, n):
        """n more positions are cached (called by GPT.forward after every layer has stored them)."""
        self.pos += n
        self.pos_t.add_(n)

    def reset(self):
        """Forget every position (the window moved): the next forward starts again at position 0."""
        self.pos = 0
        if self.pos_t is not None:
            self.pos_t.zero_()


class ChunkedLMHeadLoss(torch.autograd.Function):
    """Mean cross-entropy of the logits x @ weight.T against targets (-1: ignored), `chunk` positions at a
    time, so that the B x T x vocab logits and their float32 copy never exist at once: each chunk's
    gradients (softmax minus one-hot) are computed right away, in the forward, and only they are kept."""

    @staticmethod
    def forward(ctx, x, weight, targets, chunk):
        x2, t = x.reshape(-1, x.size(-1)), targets.reshape(-1)
        n = (t != -1).sum().clamp(min=1)
        loss, grad_w, grad_x = 0.0, torch.zeros_like(weight, dtype=torch.float32), []
        for i in range(0, x2.size(0), chunk):
            xc, tc = x2[i:i + chunk], t[i:i + chunk]
            logits = (xc @ weight.t()).float()  # chunk x vocab, float32 like cross_entropy's
            valid = (tc != -1).unsqueeze(1)
            tc = tc.clamp(min=0).unsqueeze(1)
            lse = torch.logsumexp(logits, dim=1, keepdim=True)
            loss = loss + ((lse - logits.gather(1, tc)) * valid).sum()
            g = (torch.exp(logits - lse).scatter_add(1, tc, -torch.ones_like(lse)) * valid / n).to(xc.dtype)
            grad_x.append(g @ weight.to(g.dtype))
            grad_w = grad_w + g.t() @ xc
        ctx.save_for_backward(torch.cat(grad_x).view_as(x).to(x.dtype), grad_w.to(weight.dtype))
        return loss / n

    @staticmethod
    def backward(ctx, grad_loss):
        grad_x, grad_w = ctx.saved_tensors
        return grad_x * grad_loss, grad_w * grad_loss, None, None


GPT2_NAMES = ('gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl')  # OpenAI's sizes on the Hugging Face hub


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304  # GPT-2's 50257, padded up to a multiple of 64 for speed
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in Linears and LayerNorms, as GPT-2; False is a little better and faster
    loss_chunk: int = 0  # training loss in chunks of this many positions (ChunkedLMHeadLoss); 0: all at once
    # Modern options (modded-nanogpt, nanochat), all off: GPT-2, whose weights and nanoGPT's checkpoints load.
    rope: bool = False  # rotary position embeddings on q and k instead of learned positions (no wpe)
    qk_norm: bool = False  # RMS-normalise each head's q and k
    relu2: bool = False  # ReLU(x)^2 in the MLP instead of GELU
    untied_head: bool = False  # lm_head its own matrix, not the token embedding's
    zero_init: bool = False  # residual projections (and an untied lm_head) start at zero
    logit_softcap: float = 0.0  # logits squashed to (-c, c) by c * tanh(logits / c); 0: not


MODERN_KEYS = ('rope', 'qk_norm', 'relu2', 'untied_head', 'zero_init', 'logit_softcap')


class GPT(nn.Module):

    def __init__(self, config):
        super().__init__()
        assert config.vocab_size is not None
        assert config.block_size is not None
        if config.loss_chunk and config.logit_softcap:
            raise ValueError("loss_chunk does not apply a logit_softcap; use one or the other")
        self.config = config
        parts = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))
        if not config.rope:
            parts['wpe'] = nn.Embedding(config.block_size, config.n_embd)
        self.transformer = nn.ModuleDict(dict(
            **parts,
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        if config.rope:  # each head's dimension pairs turn at rates 10000^(-2i/hs), by position (buffers: not saved)
            hs = config.n_embd // config.n_head
            theta = 10000.0 ** (-torch.arange(0, hs, 2, dtype=torch.float32) / hs)
            angles = torch.outer(torch.arange(config.block_size, dtype=torch.float32), theta)
            self.register_buffer('rope_cos', angles.cos(), persistent=False)
            self.register_buffer('rope_sin', angles.sin(), persistent=False)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if not config.untied_head:  # weight tying: the output projection is the token embedding
            self.transformer.wte.weight = self.lm_head.weight

        self.apply(self._init_weights)
        # GPT-2 scales the init of residual projections by 1/sqrt(2 * n_layer)
        for pn, p in self.named_parameters():
            if pn.endswith('c_proj.weight'):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
            # zero_init: each block starts as the identity, and an untied head predicts uniformly
            if config.zero_init and (pn.endswith('c_proj.weight') or pn == 'lm_head.weight'
                                     and config.untied_head):
                torch.nn.init.zeros_(p)

    def get_num_params(self, non_embedding=True):
        """Number of parameters; position embeddings are left out by default, token embeddings stay in
        because they are also the output layer's weights."""
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding and 'wpe' in self.transformer:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None, cache=None):
        """Logits (and the loss, given targets) for idx (b, t). With a KVCache, idx holds the positions that
        follow the cached ones (all of the prompt, or one new token); the cache then grows by t."""
        device = idx.device
        b, t = idx.size()
        start = 0 if cache is None else cache.pos
        if start + t > self.config.block_size:
            raise ValueError(f"cannot forward a sequence of length {start + t}: block_size is {self.config.block_size}")
        if cache is not None and t == 1 and targets is None and cache.pos_t is not None:
            logits = self.decode(idx.contiguous(), cache)  # static shapes and strides: GPT.compile_decode compiles it
            cache.advance(1)
            return logits, None
        pos = torch.arange(start, start + t, dtype=torch.long, device=device)
        x, rope = self.embed(idx, pos)
        x = self.transformer.drop(x)
        for i, block in enumerate(self.transformer.h):
            x = block(x, cache, i, rope)
        x = self.transformer.ln_f(x)
        if cache is not None:
            cache.advance(t)

        if targets is not None and self.config.loss_chunk and torch.is_grad_enabled():
            logits = None  # never materialised
            loss = ChunkedLMHeadLoss.apply(x, self.lm_head.weight, targets, self.config.loss_chunk)
        elif targets is not None:
            logits = self.head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            # at inference only the last position is needed; keep the time dim with [-1]
            logits = self.head(x[:, [-1], :])
            loss = None
        return logits, loss

    def embed(self, idx, pos):
        """The token embeddings of idx at positions pos, plus what attention needs of the positions:
        learned position embeddings are added here; rotary ones are (cos, sin) for each Block."""
        x = self.transformer.wte(idx)
        if self.config.rope:
            return x, (self.rope_cos[pos], self.rope_sin[pos])
        return x + self.transformer.wpe(pos), None

    def head(self, x):
        """The logits of the final hidden states x."""
        logits = self.lm_head(x)
        if self.config.logit_softcap:
            cap = self.config.logit_softcap
            logits = cap * torch.tanh(logits / cap)
        return logits

    def decode(self, idx, cache):
        """Logits (b, 1, vocab) of one new token per row, idx (b, 1), at position cache.pos_t; stores its keys
        and values but leaves advancing the cache to the caller (GPT.forward)."""
        x, rope = self.embed(idx, cache.pos_t)
        for i, block in enumerate(self.transformer.h):
            x = block(x, cache, i, rope)
        return self.head(self.transformer.ln_f(x))

    def compile_decode(self, **compile_args):
        """Compile the decode step once for all: its shapes never change (KVCache), so on a GPU the default
        mode='reduce-overhead' replays it as a CUDA graph, one launch instead of a few hundred small kernels.
        compile_args go to torch.compile instead."""
        self.decode = torch.compile(self.decode, fullgraph=True, **(compile_args or dict(mode='reduce-overhead')))
        return self

    def crop_block_size(self, block_size):
        """Shrink the context, e.g. to finetune GPT-2 (1024) with a smaller block."""
        assert block_size <= self.config.block_size
        self.config.block_size = block_size
        if self.config.rope:
            self.rope_cos, self.rope_sin = self.rope_cos[:block_size], self.rope_sin[:block_size]
        else:
            self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight[:block_size])

    def pad_vocab(self, vocab_size):
        """Grow the vocabulary to vocab_size token rows (e.g. GPT-2's for a chat dataset's special
        tokens). Each new row starts as the mean of the old ones: an embedding like an average token's,
        and (the output layer shares it) a logit near the average, not a random one that the first
        steps would have to undo. The old rows and so the old logits are unchanged."""
        def grown(old):
            return nn.Parameter(torch.cat([old, old.mean(dim=0, keepdim=True).expand(vocab_size - old.size(0), -1)]))
        wte = self.transformer.wte
        tied = self.lm_head.weight is wte.weight
        wte.weight = grown(wte.weight.data)
        self.lm_head.weight = wte.weight if tied else grown(self.lm_head.weight.data)
        wte.num_embeddings = self.lm_head.out_features = self.config.vocab_size = vocab_size

    @classmethod
    def from_pretrained(cls, model_type, override_args=None):
        """GPT-2 weights from Hugging Face: a model name (one of GPT2_NAMES) or a
        local folder written by transformers' save_pretrained. Only dropout may be overridden."""
        override_args = override_args or {}
        if set(override_args) - {'dropout'}:
            raise ValueError(f"only dropout can be overridden when loading GPT-2, not {sorted(override_args)}")
        from transformers import GPT2LMHeadModel
        if model_type not in GPT2_NAMES and not os.path.isdir(model_type):
            raise ValueError(f"init_from={model_type!r} is neither one of {', '.join(GPT2_NAMES)} nor a folder "
                             "written by transformers' save_pretrained")
        print(f"loading weights from pretrained gpt: {model_type}")
        model_hf = GPT2LMHeadModel.from_pretrained(model_type)
        hf = model_hf.config
        config = GPTConfig(n_layer=hf.n_layer, n_head=hf.n_head, n_embd=hf.n_embd, block_size=hf.n_positions,
                           vocab_size=hf.vocab_size, bias=True, dropout=override_args.get('dropout', 0.0))
        model = GPT(config)
        sd = model.state_dict()
        sd_hf = {k: v for k, v in model_hf.state_dict().items()
                 if not k.endswith('.attn.masked_bias') and not k.endswith('.attn.bias')}
        ours = [k for k in sd if not k.endswith('.attn.bias')]
        if len(sd_hf) != len(ours):
            raise ValueError(f"GPT-2 weights have {len(sd_hf)} tensors, the model expects {len(ours)}")
        # OpenAI's checkpoints use Conv1D, whose weights are the transpose of a Linear's
        transposed = ('attn.c_attn.weight', 'attn.c_proj.weight', 'mlp.c_fc.weight', 'mlp.c_proj.weight')
        with torch.no_grad():
            for k in ours:
                w = sd_hf[k]
                if k.endswith(transposed):
                    w = w.t()
                if w.shape != sd[k].shape:
                    raise ValueError(f"shape mismatch for {k}: {tuple(w.shape)} vs {tuple(sd[k].shape)}")
                sd[k].copy_(w)
        return model

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type, params=None):
        # decay matmul weights and embeddings (2-D and up), not biases or LayerNorm gains; params: all by
        # default, or those another optimizer leaves to AdamW (nanogpt/optim.py)
        params = [p for p in (self.parameters() if params is None else params) if p.requires_grad]
        decay_params = [p for p in params if p.dim() >= 2]
        nodecay_params = [p for p in params if p.dim() < 2]
        optim_groups = [
            {'params': decay_params, 'weight_decay': weight_decay},
            {'params': nodecay_params, 'weight_decay': 0.0},
        ]
        print(f"num decayed parameter tensors: {len(decay_params)}, with {sum(p.numel() for p in decay_params):,} parameters")
        print(f"num non-decayed parameter tensors: {len(nodecay_params)}, with {sum(p.numel() for p in nodecay_params):,} parameters")
        use_fused = device_type in ('cuda', 'cpu')  # one kernel for the whole update
        optimizer = torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, fused=use_fused)
        print(f"using fused AdamW: {use_fused}")
        return optimizer

    def flops_per_token(self):
        """Training flops per token (forward and backward), PaLM appendix B: 6N + 12*L*H*Q*T."""
        N = self.get_num_params()
        cfg = self.config
        L, H, Q, T = cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head, cfg.block_size
        return 6 * N + 12 * L * H * Q * T

    def estimate_mfu(self, fwdbwd_per_iter, dt, peak_flops):
        """Model flops utilization: achieved flops over the device's peak (nanogpt/device.py's peak_flops)."""
        flops_per_iter = self.flops_per_token() * self.config.block_size * fwdbwd_per_iter
        return flops_per_iter / dt / peak_flops

    def generation_cache(self, batch_size):
        """generate's KVCache for this batch size, emptied. It is kept with the model, so that its buffers stay
        where they are: a compiled decode step (its CUDA graph reads them by address) is not traced again."""
        caches = self.__dict__.setdefault('_generation_caches', {})
        cache = caches.setdefault((batch_size, self.config.block_size), KVCache(self.config))
        cache.reset()
        return cache

    @torch.no_grad()
    def generate_tokens(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, vocab_size=None,
                        use_cache=True, window_shift=None):
        """Yield max_new_tokens next tokens, a (b, 1) LongTensor each, continuing the prompts idx (b, t);
        call in eval mode. temperature 0 picks the most likely token; top_k and top_p (nucleus) restrict
        sampling to the most likely tokens; vocab_size (the tokenizer's) keeps ids of a padded vocabulary out.

        The model sees a window of at most block_size tokens: the prompt's last ones, then each new token is
        added. When a new token overflows the window, its window_shift oldest tokens are dropped: 1 slides the
        window a token at a time, as the reference does, so that every token sees block_size tokens of context;
        k sees between block_size - k + 1 and block_size. The default, block_size // 8, keeps at least 7/8 of a
        context; what it costs in loss is measured in docs/speed.md. The tokens do not depend on use_cache.

        With use_cache, the window is run once and each step then computes only the new position. A slid
        window moves every token in it to a new (absolute, learned) position, so it is run again: at every step
        with window_shift=1, once every k steps with window_shift=k."""
        block = self.config.block_size
        if window_shift is None:
            window_shift = default_window_shift(block)
        if not 1 <= window_shift <= block:
            raise ValueError(f"window_shift must be between 1 and block_size ({block}), not {window_shift}")
        window = idx[:, -block:]
        cache = self.generation_cache(idx.size(0)) if use_cache else None
        for _ in range(max_new_tokens):
            if use_cache and cache.pos > 0:
                logits, _ = self(window[:, -1:], cache=cache)
            else:
                logits, _ = self(window, cache=cache)
            idx_next = sample_logits(logits[:, -1, :vocab_size], temperature, top_k, top_p)
            window = torch.cat((window, idx_next), dim=1)
            if window.size(1) > block:
                window = window[:, window_shift:]
                if use_cache:
                    cache.reset()  # every position has moved: run the whole window next step
            yield idx_next

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, vocab_size=None,
                 use_cache=True, window_shift=None):
        """idx (b, t) with max_new_tokens generated tokens appended; see generate_tokens."""
        new = self.generate_tokens(idx, max_new_tokens, temperature, top_k, top_p, vocab_size, use_cache, window_shift)
        return torch.cat([idx] + list(new), dim=1)


def default_window_shift(block_size):
    """How many tokens a full window drops at once unless told: each token keeps at least 7/8 of a context."""
    return max(1, block_size // 8)


def sample_logits(logits, temperature=1.0, top_k=None, top_p=None):
    """One token id per row of logits (b, vocab): the most likely at temperature 0, else drawn from the
    softmax at that temperature, restricted to the top_k most likely and to the smallest set of most
    likely tokens whose probabilities reach top_p."""
    if temperature == 0:
        return torch.argmax(logits, dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None:
        v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
        logits[logits < v[:, [-1]]] = -float('inf')
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the more likely ones before it already reach top_p; the most likely one stays
        drop = probs.cumsum(dim=-1) - probs >= top_p
        drop[:, 0] = False
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, -float('inf')))
    probs = F.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1)
