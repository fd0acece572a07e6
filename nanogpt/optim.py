"""The optimizers train.py builds: AdamW for everything (the reference's), or Muon for the hidden matrices with
AdamW for the rest (optimizer='muon', the modern recipe of modded-nanogpt and nanochat).

Muon (https://kellerjordan.github.io/posts/muon/) replaces each 2-D update of the transformer's blocks by the
nearest semi-orthogonal matrix (a Newton-Schulz iteration), so that every direction of a weight matrix learns
at the same rate. Embeddings, the output layer and the gains are not such matrices: AdamW keeps those.
torch.optim.Muon runs its iteration in bfloat16, which GPUs compute fast but most CPUs only emulate (several
times slower than float32 there); MuonFloat32 is the same update with the iteration in float32."""

import math

import torch

from nanogpt.errors import fail

OPTIMIZERS = ('adamw', 'muon')


def newton_schulz(g, steps=5, eps=1e-7, coefficients=(3.4445, -4.7750, 2.0315)):
    """The quintic Newton-Schulz iteration torch.optim.Muon uses, in g's dtype, on a matrix or a stack of
    matrices of one shape: about U V^T of each one's SVD (singular values pushed into roughly 0.5..1.5,
    which trains as well as exactly 1)."""
    a, b, c = coefficients
    tall = g.size(-2) > g.size(-1)
    x = g.mT if tall else g  # the smaller Gram matrix
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)  # spectral norm <= 1: the iteration's range
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.mT if tall else x


class MuonFloat32(torch.optim.Muon):
    """torch.optim.Muon with its Newton-Schulz iteration in float32: the same state (one momentum_buffer per
    matrix), hyperparameters and learning-rate adjustment, so checkpoints of either load into the other. The
    matrices of one shape (each layer's) are orthogonalised together, as one batch: on a CPU the many small
    matmuls of a small model cost more in overhead than in arithmetic."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, bufs = [], [], []
            self._init_group(group, params, grads, bufs)
            if not params:
                continue
            lr, momentum, wd = group['lr'], group['momentum'], group['weight_decay']
            torch._foreach_lerp_(bufs, grads, 1 - momentum)
            updates = torch._foreach_lerp(grads, bufs, momentum) if group['nesterov'] else bufs
            by_shape = {}
            for i, p in enumerate(params):
                by_shape.setdefault(p.shape, []).append(i)
            if wd:
                torch._foreach_mul_(params, 1 - lr * wd)
            for (rows, cols), idx in by_shape.items():
                stack = torch.stack([updates[i].float() for i in idx])
                ortho = newton_schulz(stack, group['ns_steps'], group['eps'], group['ns_coefficients'])
                # torch's 'original' adjustment: a tall matrix's update is as large per element as a wide one's
                scale = -lr * math.sqrt(max(1, rows / cols))
                torch._foreach_add_([params[i] for i in idx], [o.to(params[i].dtype) for i, o in zip(idx, ortho)],
                                    alpha=scale)
        return loss


class MuonAdamW:
    """Muon for the 2-D weights of the blocks, AdamW for the rest, as one optimizer: train.py sets each
    param_group's lr (a Muon group carries lr_scale = muon_lr / learning_rate), GradScaler unscales and
    steps it, and its state_dict holds both (tensors and plain values: a checkpoint loads weights_only)."""

    def __init__(self, muon, adamw):
        self.muon, self.adamw = muon, adamw
        self.defaults = {}  # not fused: train.py's skip of a non-finite step is decided on the host

    @property
    def param_groups(self):  # looked up each time: load_state_dict replaces the groups
        return self.muon.param_groups + self.adamw.param_groups

    def step(self, closure=None):
        self.muon.step()
        self.adamw.step()

    def zero_grad(self, set_to_none=True):
        self.muon.zero_grad(set_to_none)
        self.adamw.zero_grad(set_to_none)

    def state_dict(self):
        return {'muon': self.muon.state_dict(), 'adamw': self.adamw.state_dict()}

    def load_state_dict(self, state):
        if set(state) != {'muon', 'adamw'}:
            fail("the checkpoint's optimizer state is AdamW's, not Muon's; resume it with --optimizer=adamw")
        self.muon.load_state_dict(state['muon'])
        self.adamw.load_state_dict(state['adamw'])


def build_optimizer(model, optimizer, learning_rate, weight_decay, betas, device_type, dtype='float32',
                    muon_lr=0.02, muon_momentum=0.95):
    """AdamW over every parameter as the reference has it (optimizer='adamw'), or MuonAdamW. Muon's
    Newton-Schulz iteration runs in bfloat16 where the run computes in it (torch.optim.Muon: a GPU, or a CPU
    with native bf16, which the CPU recipes pick), else in float32 (MuonFloat32)."""
    if optimizer == 'adamw':
        return model.configure_optimizers(weight_decay, learning_rate, betas, device_type)
    if optimizer != 'muon':
        fail(f"optimizer={optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    hidden = [p for n, p in model.named_parameters() if p.dim() == 2 and n.startswith('transformer.h.')]
    ids = {id(p) for p in hidden}
    rest = [p for p in model.parameters() if id(p) not in ids]
    bf16 = dtype == 'bfloat16'
    muon_class = torch.optim.Muon if bf16 else MuonFloat32
    # Muon: no weight decay (its updates have a fixed size; decay at its lr would shrink the matrices)
    muon = muon_class([dict(params=hidden, lr_scale=muon_lr / learning_rate)], lr=muon_lr,
                      momentum=muon_momentum, weight_decay=0.0)
    groups = [dict(params=[p for p in rest if p.dim() >= 2], weight_decay=weight_decay),
              dict(params=[p for p in rest if p.dim() < 2], weight_decay=0.0)]
    adamw = torch.optim.AdamW(groups, lr=learning_rate, betas=betas, fused=device_type in ('cuda', 'cpu'))
    print(f"Muon ({'bfloat16' if bf16 else 'float32'} Newton-Schulz) for {len(hidden)} matrices, "
          f"{sum(p.numel() for p in hidden):,} parameters; AdamW for {len(rest)} tensors, "
          f"{sum(p.numel() for p in rest):,} parameters")
    return MuonAdamW(muon, adamw)
