"""The key/value cache: remember past keys and values so each new token costs one position.

Without a cache, generating token t+1 recomputes attention for all t earlier positions. With
one, every attention layer keeps the keys and values it has already computed, and a forward
pass only computes the new positions. Speculative decoding adds one twist: a verifying forward
writes keys and values for drafted tokens that may then be rejected, so the cache must be
truncated back to the accepted length (`truncate`) before the next round. Rejected positions
left in the cache would silently change every later prediction. Tree decoding (tree.py) feeds
several candidate branches side by side, so it moves the accepted branch's entries into place
(`keep`) instead.

The buffers are allocated once, for the model's full context length, and never grow; the
cache only moves its `length` mark. Every attention layer that runs (the trunk's and, for the
`block` head type, each head's own layer) has a slot, indexed by `layer`.

Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

import torch

from .errors import TinyMTPError


class KVCache:
    """Pre-allocated keys and values for every attention layer, with a shared fill mark."""

    def __init__(self, n_layers: int, attn_heads: int, head_size: int, max_length: int,
                 batch_size: int = 1, dtype: torch.dtype = torch.float32, device="cpu"):
        shape = (n_layers, batch_size, attn_heads, max_length, head_size)  # (L, B, H, S, hs)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.max_length = max_length
        self.length = 0  # positions filled so far (all layers agree once a forward has finished)

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this forward's new keys/values for `layer`; return all keys/values so far.

        k, v: (B, H, T, hs) for the T new positions -> (B, H, length + T, hs).
        """
        start, T = self.length, k.size(2)
        if start + T > self.max_length:
            raise TinyMTPError(f"KV cache overflow: {start} + {T} positions > context length {self.max_length}")
        self.keys[layer, :, :, start : start + T] = k
        self.values[layer, :, :, start : start + T] = v
        return self.keys[layer, :, :, : start + T], self.values[layer, :, :, : start + T]

    def advance(self, T: int) -> None:
        """Called by the model once every layer has appended its T new positions."""
        self.length += T

    def truncate(self, length: int) -> None:
        """Roll back to the first `length` positions (forget rejected drafts)."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot truncate a cache of length {self.length} to {length}")
        self.length = length

    def keep(self, start: int, offsets: list) -> None:
        """Keep the entries at slots start + offsets[i] as slots start + i, in order; forget the rest.

        Tree decoding (tree.py) feeds many candidate nodes at once; afterwards the accepted path's
        nodes move to sit right after the prefix, as if only they had been fed.
        """
        if not offsets or min(offsets) < 0 or start + max(offsets) >= self.length:
            raise ValueError(f"cannot keep offsets {offsets} after slot {start} of a cache of length {self.length}")
        if list(offsets) != list(range(len(offsets))):  # already in place otherwise
            slots = torch.tensor(offsets, device=self.keys.device) + start  # (P,)
            end = start + len(offsets)
            self.keys[:, :, :, start:end] = self.keys.index_select(3, slots)  # a copy, then written: (L, B, H, P, hs)
            self.values[:, :, :, start:end] = self.values.index_select(3, slots)  # (L, B, H, P, hs)
        self.length = start + len(offsets)

    def add_room(self, extra: int) -> None:
        """Make `extra` more slots beyond the context length (tree decoding holds every candidate node
        of one forward for a moment, though position ids stay inside the context)."""
        pad = self.keys.new_zeros(*self.keys.shape[:3], extra, self.keys.size(4))  # (L, B, H, extra, hs)
        self.keys = torch.cat([self.keys, pad], dim=3)  # (L, B, H, S + extra, hs)
        self.values = torch.cat([self.values, pad], dim=3)  # (L, B, H, S + extra, hs)
        self.max_length += extra

    def reset(self) -> None:
        """Forget everything (between two generate calls)."""
        self.length = 0

    def __repr__(self) -> str:
        return f"KVCache(length={self.length}/{self.max_length}, layers={self.keys.size(0)})"
