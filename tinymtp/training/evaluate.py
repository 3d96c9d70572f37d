"""How good is each head? Validation loss and top-1 accuracy, head by head.

Evaluation uses fixed, evenly spaced windows of the validation text (no randomness), so two
evaluations of the same model always agree and two models are compared on the same text.
Accuracy here means "head k's top guess equals the real character k steps ahead". (The other
meaning, "equals what head 1 would have generated", is what predicts the speculative speed-up;
it lives with the decoders.)

Explained in notebooks/04_training.ipynb.
"""

from __future__ import annotations

import torch

from ..core.errors import TinyMTPError
from ..core.loss import head_losses
from ..data.corpora import Corpus


def evaluation_windows(data: torch.Tensor, n_windows: int, context_length: int, n_heads: int):
    """Up to n_windows evenly spaced windows of length T + n -> inputs (N, T) and targets (N, T, n)."""
    T, n = context_length, n_heads
    last_start = len(data) - T - n
    if last_start < 0:
        raise TinyMTPError(f"validation text of {len(data)} characters is shorter than one window ({T + n})")
    count = min(n_windows, last_start + 1)
    starts = torch.linspace(0, last_start, count).long().tolist()
    windows = torch.stack([data[s : s + T + n] for s in starts])  # (N, T+n)
    targets = torch.stack([windows[:, k : k + T] for k in range(1, n + 1)], dim=-1)  # (N, T, n)
    return windows[:, :T], targets


@torch.no_grad()
def evaluate(model, val_data: torch.Tensor, n_windows: int = 256, batch_size: int = 32) -> dict:
    """Per-head validation loss and top-1 accuracy; head 1's loss is also `next_token_val_loss`."""
    was_training = model.training
    model.eval()
    cfg = model.config
    x_all, y_all = evaluation_windows(val_data, n_windows, cfg.context_length, cfg.n_heads)
    loss_sums = torch.zeros(cfg.n_heads, dtype=torch.float64)
    correct = torch.zeros(cfg.n_heads, dtype=torch.float64)
    total = 0
    for i in range(0, len(x_all), batch_size):
        x, y = x_all[i : i + batch_size], y_all[i : i + batch_size]  # (b, T), (b, T, n)
        logits = model(x, ahead=y).logits  # (b, T, n, V); causal heads read the real tokens ahead
        count = y[..., 0].numel()
        loss_sums += torch.tensor([float(v) for v in head_losses(logits, y)], dtype=torch.float64) * count
        correct += (logits.argmax(-1) == y).double().sum(dim=(0, 1)).cpu()  # (n,)
        total += count
    model.train(was_training)
    heads = [
        {"head": k + 1, "val_loss": round(float(loss_sums[k] / total), 4),
         "val_accuracy": round(float(correct[k] / total), 4)}
        for k in range(cfg.n_heads)
    ]
    return {"next_token_val_loss": heads[0]["val_loss"], "heads": heads}


def evaluate_on_corpus(model, tokenizer, corpus: Corpus, n_windows: int = 256) -> dict:
    """Evaluate a loaded model on another corpus's validation text, with the model's own vocabulary."""
    unknown = tokenizer.unknown_characters(corpus.val_text)
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:10])
        raise TinyMTPError(f"corpus '{corpus.name}' has characters outside the checkpoint's vocabulary: {shown}")
    data = corpus.tokens("val", tokenizer).to(next(model.parameters()).device)
    return evaluate(model, data, n_windows)
