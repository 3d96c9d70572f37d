"""A model with its KV cache, sliding over a text longer than the context length.

The model has learned position embeddings for 0 .. context_length - 1, so it can never see
more than `context_length` tokens at once. To keep generating past that, the cache holds a
*window* of the text, and the window restarts by a rule that depends on token positions only:

    C = context_length, keep = C // 2, stride = C - keep
    window_start(i) = stride * max(0, (i - keep) // stride)

In words: the prediction made at position i sees tokens window_start(i) .. i. Positions
0 .. C - 1 use the first window (start 0). When position C is fed, the window restarts with
the last `keep` tokens (start C - keep), which are read again ("re-prefilled") together with
the new tokens in one forward pass; that window then fills up to C tokens, and so on.

Because the rule depends on positions only, every decoding mode sees exactly the same context
at every position: greedy decoding, which feeds one token per forward, and speculative
decoding, which feeds a block of drafts per forward, pick the same tokens. A speculative block
must therefore never cross a window's end: `last_position(i)` says how far a block that starts
at position i may go, and the decoders shorten their blocks to fit. Tree decoding (tree.py)
cuts its tree's depth the same way, and its cache has room for one whole tree beyond the
context length, since every candidate node is cached until the accepted path is kept.

The window is the simplest exact scheme; its cost is one longer forward every `stride` tokens.
Left out on purpose: rotary or relative positions, which would let the cache shift instead.
Explained in notebooks/06_self_speculative_decoding.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.kvcache import KVCache
from .tree import feed_mask, tree_positions


def window_start(position: int, context_length: int) -> int:
    """The first position the prediction at `position` may see (see the module docstring)."""
    keep = context_length // 2
    stride = context_length - keep
    return stride * max(0, (position - keep) // stride)


@dataclass
class Forward:
    """One forward of the window's model: what the decoders and drafters read from it.

    logits (T, heads, V): the NEW positions only (re-read tokens of a restarted window left out);
    hidden (R + T, heads, C) and trunk (R + T, C): every fed row, re-read ones first, in the cache's
    order from slot `slot`; `reread` = R. Causal drafters read `hidden`, sequential ones `trunk`."""

    logits: torch.Tensor
    hidden: torch.Tensor
    trunk: torch.Tensor
    slot: int
    reread: int

    def along(self, path: list) -> Forward:
        """A tree forward's rows for the accepted `path` (node indices, root first), in the text's order:
        what a plain forward of the path's tokens would have given (after `keep_path`)."""
        rows = torch.tensor(path, device=self.logits.device)  # (P,)
        keep = torch.cat([torch.arange(self.reread, device=rows.device), rows + self.reread])  # (R + P,)
        return Forward(self.logits.index_select(0, rows), self.hidden.index_select(0, keep),
                       self.trunk.index_select(0, keep), self.slot, self.reread)


class SlidingWindow:
    """One model, its KV cache, and the absolute position of the cache's first slot.

    `heads` is fixed for the whole run (1 for plain decoding; the drafting heads otherwise),
    so a `block` head's own attention cache is either always filled or never used.
    """

    def __init__(self, model, heads: int | None = None, extra: int = 0):
        self.model = model
        self.heads = heads
        self.context_length = model.config.context_length
        self.cache: KVCache = model.new_cache()
        if extra:  # tree decoding: room for a whole tree of candidates after a full window
            self.cache.add_room(extra)
        self.start = 0  # absolute position of the cache's slot 0
        self.device = next(model.parameters()).device

    @property
    def end(self) -> int:
        """Absolute position just after the last cached token."""
        return self.start + self.cache.length

    def last_position(self, position: int) -> int:
        """The last position that shares `position`'s window: a block may run up to here."""
        return window_start(position, self.context_length) + self.context_length - 1

    def truncate(self, end: int) -> None:
        """Roll the cache back so it holds positions start .. end - 1 (forget rejected drafts)."""
        if end < self.start:  # even the window's first tokens went: start over from `end`
            self.cache.reset()
            self.start = end
        self.cache.truncate(end - self.start)

    def _window_for(self, position: int) -> int:
        """Make the cache hold `position`'s window (restart it there if the window moved on)."""
        start = window_start(position, self.context_length)
        if start != self.start:
            self.cache.reset()
            self.start = start
        return start

    def feed(self, tokens: list[int], upto: int) -> Forward:
        """Feed tokens[self.end : upto] in one forward (a Forward: logits (T, n, V) for positions
        max(end, window start) .. upto - 1, and `reread`, how many earlier tokens were fed again
        because the window restarted, 0 when it did not). All new positions must share one window:
        the caller keeps its blocks inside `last_position`.
        """
        wanted = self.end
        self._window_for(upto - 1)
        first = self.end  # == start after a restart
        ids = torch.tensor([tokens[first:upto]], dtype=torch.long, device=self.device)  # (1, T)
        out = self.model(ids, cache=self.cache, heads=self.heads)
        reread = max(0, wanted - first)
        return Forward(out.logits[0, reread:], out.hidden[0], out.trunk[0], first - self.start, reread)

    def feed_tree(self, tokens: list, nodes: list, shape) -> Forward:
        """Feed a candidate tree (tree.py) rooted at the last of `tokens` in one forward.

        nodes: the tree's tokens, root first (the root is the last committed token, not fed yet).
        Returns a Forward like `feed` (logits (N, n, V) at the N nodes); the deepest node must stay
        inside the root's window (`last_position`). The cache then holds every node; `keep_path`
        keeps the accepted ones (and `Forward.along` their rows).
        """
        root = len(tokens) - 1
        start = self._window_for(root)
        first = self.end  # == start after a restart
        reread = root - first  # committed tokens fed again before the root
        ids = torch.tensor([tokens[first:root] + nodes], dtype=torch.long, device=self.device)  # (1, R + N)
        positions = tree_positions(shape, root - start)  # (N,)
        if reread:
            positions = torch.cat([torch.arange(first - start, root - start), positions])  # (R + N,)
        positions = positions.to(self.device)
        mask = feed_mask(shape, reread).to(self.device)  # (R + N, R + N)
        out = self.model(ids, cache=self.cache, heads=self.heads, positions=positions, mask=mask)
        return Forward(out.logits[0, reread:], out.hidden[0], out.trunk[0], first - start, reread)  # (N, n, V) ...

    def keep_path(self, root: int, path: list) -> None:
        """After `feed_tree`: keep the accepted path's nodes (root first) right after the prefix."""
        self.cache.keep(root - self.start, path)

    def note(self, reread: int, prefill: bool = False) -> str | None:
        """The trace's note for a forward that restarted the window (None when it did not)."""
        if reread:
            return f"context window restarted at position {self.start}: re-read the last {reread} tokens"
        if prefill and self.start > 0:
            return f"prompt longer than the context: read from position {self.start}"
        return None
