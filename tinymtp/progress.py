"""A tqdm progress bar that is also a training callback (`train(..., on_step=TrainProgressBar(cfg))`)."""

from __future__ import annotations

from tqdm.auto import tqdm


class TrainProgressBar:
    """Shows steps (or seconds, when training for minutes) and every head's loss."""

    def __init__(self, train_config):
        self.by_time = train_config.steps is None
        self.total = round(train_config.minutes * 60) if self.by_time else train_config.steps
        self.bar = None  # drawn on the first step, so train()'s one-line errors come before any bar
        self.val = ""

    def __call__(self, info) -> bool:
        if self.bar is None:
            self.bar = tqdm(total=self.total, unit="s" if self.by_time else "step", dynamic_ncols=True)
        if info.eval is not None:
            self.val = f" | val h1 {info.eval['next_token_val_loss']:.3f}"
        losses = " ".join(f"h{k}={v:.3f}" for k, v in enumerate(info.head_losses, start=1))
        self.bar.set_postfix_str(f"{losses}{self.val}", refresh=False)
        position = min(int(info.seconds), self.bar.total) if self.by_time else info.step
        self.bar.update(position - self.bar.n)
        return False

    def close(self):
        if self.bar is not None:
            self.bar.close()
