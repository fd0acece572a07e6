"""
Where a script computes and in what precision: the checks of --device and --dtype, TF32, the autocast
context every script uses, and the peak flop/s that train.py's MFU divides by.
"""

import re
import time
from contextlib import nullcontext

import torch

from nanogpt.errors import fail, warn

DTYPES = ('float32', 'bfloat16', 'float16')


def default_dtype():
    """The dtype knob's default: bfloat16 where the GPU has it, else float16 (with a GradScaler when
    training); float32 without a GPU."""
    if not torch.cuda.is_available():
        return 'float32'
    return 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'


def setup(device, dtype, tf32=True):
    """Check device and dtype, allow TF32 matmuls on GPUs (unless tf32=False) and return
    (device_type, autocast context). Exits 2 with the fix for a device torch cannot use here."""
    m = re.fullmatch(r'(cpu|cuda|mps)(:\d+)?', device)
    if not m:
        fail(f"device={device!r} is not a device: use cpu, cuda, cuda:N (a GPU's index) or mps")
    device_type = m.group(1)
    if device_type == 'cuda' and not torch.cuda.is_available():
        fail(f"device={device!r} but torch sees no CUDA GPU; run on the CPU with --device=cpu --compile=False")
    if device_type == 'cuda' and m.group(2) and int(m.group(2)[1:]) >= torch.cuda.device_count():
        fail(f"device={device!r} but torch sees {torch.cuda.device_count()} GPU(s); use cuda:0 .. "
             f"cuda:{torch.cuda.device_count() - 1}")
    if device_type == 'mps' and not torch.backends.mps.is_available():
        fail(f"device={device!r} but this machine has no Apple GPU (MPS); use --device=cpu or cuda")
    if dtype not in DTYPES:
        fail(f"dtype must be float32, bfloat16 or float16, not {dtype!r}")
    if device_type == 'cpu' and dtype == 'float16':
        warn("dtype=float16 on a CPU computes in float32 (CPUs have no fast float16); "
             "pass --dtype=bfloat16 or --dtype=float32 to say what you get")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return device_type, autocast_context(device_type, dtype)


def compute_dtype(device_type, dtype):
    """The dtype the matmuls actually run in: float16 on a CPU runs in float32."""
    return 'float32' if device_type == 'cpu' and dtype == 'float16' else dtype


def autocast_context(device_type, dtype):
    """Mixed precision as every script here uses it: autocast on GPUs; on a CPU only for bfloat16 (fast where
    the CPU computes bf16 natively, see docs/speed.md); float32 never."""
    if dtype == 'float32' or (device_type == 'cpu' and dtype != 'bfloat16'):
        return nullcontext()
    return torch.amp.autocast(device_type=device_type, dtype=getattr(torch, dtype))


# Dense bf16/fp16 tensor-core peaks in flop/s (no sparsity), by a substring of the CUDA device name.
# More specific names come first ("H100 PCIe" before "H100").
GPU_PEAK_FLOPS = [
    ('H200', 989e12), ('H100 PCIe', 756e12), ('H100 NVL', 835e12), ('H100', 989e12), ('H800', 989e12),
    ('B200', 2250e12), ('A100', 312e12), ('A800', 312e12), ('A10G', 70e12), ('A10', 125e12),
    ('A6000', 155e12), ('L40S', 362e12), ('L40', 181e12), ('L4', 121e12), ('V100', 125e12),
    ('T4', 65e12), ('4090', 165e12), ('4080', 97e12), ('3090', 71e12), ('3080', 60e12),
]
_cpu_peak = {}


def peak_flops(device_type, dtype=torch.float32):
    """The peak flop/s that MFU is measured against: a table for known GPUs (bf16), the A100's 312 TFLOPS
    for an unknown GPU as the reference assumes, and on a CPU the best rate of a 512x512 matmul measured
    here in the dtype the model computes in (bf16 under bf16 autocast, else fp32), cached."""
    if device_type == 'cuda':
        name = torch.cuda.get_device_name()
        for key, flops in GPU_PEAK_FLOPS:
            if key in name:
                return flops
        return 312e12
    dtype = torch.bfloat16 if dtype == torch.bfloat16 else torch.float32
    if dtype not in _cpu_peak:
        n = 512
        g = torch.Generator().manual_seed(0)  # its own numbers: measuring never moves the stream dropout uses
        a, b = torch.randn(n, n, generator=g).to(dtype), torch.randn(n, n, generator=g).to(dtype)
        for _ in range(3):
            a @ b
        best = float('inf')
        for _ in range(5):  # the best of several: other processes may take the CPU for a while
            t0 = time.perf_counter()
            for _ in range(4):
                a @ b
            best = min(best, (time.perf_counter() - t0) / 4)
        _cpu_peak[dtype] = 2 * n ** 3 / best
    return _cpu_peak[dtype]
