# The project and its requirements on Python, for CPU or GPU training (k8s/ runs this image).
#
#   docker build -t nanogpt:cpu .                                                     # CPU torch (small)
#   docker build -t nanogpt:cuda --build-arg TORCH_INDEX_URL=https://pypi.org/simple .   # CUDA torch
#   docker run --rm nanogpt:cpu                          # prints train.py's settings (python train.py --help)
#
# PyPI's Linux torch wheel is the CUDA build and brings CUDA's libraries with it, so the GPU image needs no
# CUDA base: the node's NVIDIA driver and container toolkit are enough. BASE may still be any Debian or Ubuntu
# image (e.g. an nvidia/cuda runtime image your cluster requires); one without Python gets it from apt.
# PIP_INDEX_URL / PIP_EXTRA_INDEX_URL: a PyPI mirror, for builders that cannot reach PyPI; PIP_CONSTRAINT: a
# file or URL of pinned versions (e.g. `pip freeze` of an environment whose tests passed), for a reproducible image.
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_CONSTRAINT

# a virtual environment: Debian's and Ubuntu's own Python refuse system-wide pip installs
RUN if ! python3 -c 'import ensurepip' 2>/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /workspace/nanogpt
# torch first, from TORCH_INDEX_URL, at the version requirements.txt pins; then the rest (torch already satisfied)
COPY requirements.txt .
RUN pip install "$(grep -o '^torch==[0-9.]*' requirements.txt)" --index-url "$TORCH_INDEX_URL" \
    && pip install -r requirements.txt
COPY . .
# the project itself, editable: nanogpt/ and model.py importable from data/ and tools/ scripts
RUN pip install --no-deps -e .

CMD ["python", "train.py", "--help"]
