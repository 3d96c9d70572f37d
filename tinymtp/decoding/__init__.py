"""Decoding: continue a prompt greedily, by sampling, or speculatively (draft, verify, keep).

    settings.py     DecodeSettings (mode, length, temperature, draft_len, ...), checked once; DecodeHooks
    decode.py       generate() / decode_ids(): the modes, plain greedy and sampling
    speculative.py  the one speculative loop and the greedy and exact-sampling checks
    drafters.py     who drafts: the model's heads, a separate draft model, prompt lookup
    causal_drafts.py  causal (DeepSeek-V3) heads drafting one after the other
    tree.py, tree_decode.py   Medusa-style candidate trees: shape and mask, and their loop
    window.py       the sliding context window over the KV cache (core/kvcache.py)
    sampling.py     temperature, top-k, the acceptance rule and the residual
    trace.py        the round-by-round record every mode returns

Explained in notebooks/06_self_speculative_decoding.ipynb, 07_speculative_sampling.ipynb and
09_trees_and_causal_heads.ipynb.
"""

from .decode import DecodeResult, decode_ids, generate
from .settings import MODES, DecodeHooks, DecodeSettings

__all__ = ["MODES", "DecodeHooks", "DecodeResult", "DecodeSettings", "decode_ids", "generate"]
