"""The sampling knobs that sample.py and chat.py share, checked once (model.sample_logits applies them)."""

from nanogpt.errors import fail


def check_sampling(temperature, top_k, top_p):
    if temperature < 0:
        fail(f"temperature must be 0 (greedy) or above, not {temperature}")
    if top_k is not None and top_k < 1:
        fail(f"top_k must be 1 or more, or None for no limit, not {top_k}")
    if not 0 < top_p <= 1:
        fail(f"top_p must be above 0 and at most 1 (1 keeps every token), not {top_p}")
