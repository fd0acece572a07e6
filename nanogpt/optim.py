"""The optimizers train.py builds: AdamW for everything (the reference's), or Muon for the hidden matrices with
AdamW for the rest (optimizer='muon', the modern recipe of modded-nanogpt and nanochat).

Muon (https://kellerjordan.github.io/posts/muon/) replaces each 2-D update of the transformer's blocks by the
nearest semi-orthogonal matrix (an iteration of odd polynomials), so that every direction of a weight matrix learns
at the same rate. Embeddings, the output layer and the gains are not such matrices: AdamW keeps those.
torch.optim.Muon runs its iteration in bfloat16, which GPUs compute fast but most CPUs only emulate (several
times slower than float32 there); MuonFloat32 orthogonalises in float32, in fewer steps."""

import math

import torch

from nanogpt.errors import fail

OPTIMIZERS = ('adamw', 'muon')


TORCH_QUINTIC = ((3.4445, -4.7750, 2.0315),) * 5  # torch.optim.Muon's iteration: one polynomial, five steps
# Polar Express (Amsel et al., 2025, arXiv:2505.16932; nanochat's and modded-nanogpt's five-step schedule with
# a 2% safety factor): each step's polynomial is the best for the range of singular values the last one left,
# so its first steps orthogonalise further than the quintic's
POLAR_EXPRESS = ((8.156554524902461, -22.48329292557795, 15.878769915207462),
                 (4.042929935166739, -2.808917465908714, 0.5000178451051316),
                 (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
                 (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
                 (2.3465413258596377, -1.7097828382687081, 0.42323551169305323))


def orthogonalize(g, coefficients=TORCH_QUINTIC, eps=1e-7, safety=1.0):
    """Push the singular values of a matrix, or of a stack of matrices of one shape, towards 1 (about U V^T of
    each one's SVD) by odd polynomials in g's dtype, one step per (a, b, c): x <- a x + b (x x^T) x +
    c (x x^T)^2 x, after scaling to a norm of 1 / safety, which puts every singular value inside [0, 1]."""
    tall = g.size(-2) > g.size(-1)
    x = g.mT if tall else g  # the smaller Gram matrix
    x = x / (x.norm(dim=(-2, -1), keepdim=True) * safety).clamp(min=eps)
    x = x.reshape(-1, *x.shape[-2:])  # a stack, for baddbmm
    for a, b, c in coefficients:
        gram = x @ x.mT
        # a x + (b gram + c gram^2) x as two fused multiply-adds: a third less time on a CPU than five ops
        x = torch.baddbmm(x, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    x = x.reshape(g.mT.shape if tall else g.shape)
    return x.mT if tall else x


class MuonFloat32(torch.optim.Muon):
    """torch.optim.Muon with its orthogonalisation in float32, by three Polar Express steps instead of five
    quintic ones: on a CPU a small model's Muon step is mostly this arithmetic, and three steps cost 60% of
    five. They leave singular values anywhere in about 0.2..1.9 (torch's five: 0.7..1.2), which trained the CPU
    recipe's model to the same loss (docs/modern.md). The state (one momentum_buffer per matrix) and the
    hyperparameters are torch's, so checkpoints of either load into the other; a run resumed where the other
    dtype is computed goes on with the other orthogonalisation. A group's ns_steps and ns_coefficients are
    not used. The matrices of one shape (each layer's) go through as one batch: on a CPU many small matmuls
    cost more in overhead than in arithmetic."""

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
                ortho = orthogonalize(stack, POLAR_EXPRESS[:3], group['eps'], safety=1.02)
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
    orthogonalisation runs in bfloat16 where the run computes in it (torch.optim.Muon: a GPU, or a CPU
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
    kind = 'torch.optim.Muon, bfloat16' if bf16 else 'float32, Polar Express'
    print(f"Muon ({kind}) for {len(hidden)} matrices, {sum(p.numel() for p in hidden):,} parameters; "
          f"AdamW for the rest:")
    return MuonAdamW(muon, model.configure_optimizers(weight_decay, learning_rate, betas, device_type, rest))
