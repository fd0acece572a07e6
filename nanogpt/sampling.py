"""The sampling knobs that sample.py and chat.py share, checked once (model.sample_logits applies them)."""

from nanogpt.errors import fail


def check_sampling(temperature, top_k, top_p):
    if temperature < 0:
        fail(f"temperature must be 0 (greedy) or above, not {temperature}")
    if top_k is not None and top_k < 1:
        fail(f"top_k must be 1 or more, or None for no limit, not {top_k}")
    if not 0 < top_p <= 1:
        fail(f"top_p must be above 0 and at most 1 (1 keeps every token), not {top_p}")


class TextStream:
    """Print generated tokens as they come. A BPE token can hold part of a character (it decodes to
    U+FFFD): such tokens wait for the rest of the character before they are printed."""

    def __init__(self, tok):
        self.tok = tok
        self.pending = []  # tokens not printed yet

    def add(self, token):
        print(self.take(token), end='', flush=True)

    def take(self, token):
        """The text that token completes: '' while it holds part of a character (serve.py streams this)."""
        self.pending.append(token)
        text = self.tok.decode(self.pending)
        if text.endswith('\ufffd'):
            return ''
        self.pending = []
        return text

    def close(self, **print_kwargs):
        """Print what is left (a cut character as U+FFFD) and end the line."""
        print(self.tok.decode(self.pending), **print_kwargs)
        self.pending = []
