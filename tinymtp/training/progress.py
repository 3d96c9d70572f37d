"""tqdm progress bars that are also the `on_step` callbacks of train() and distill():
`train(..., on_step=TrainProgressBar(cfg))`, `distill(..., on_step=DistillProgressBar(cfg))`."""

from __future__ import annotations

from tqdm.auto import tqdm


class StepProgressBar:
    """Shows steps (or seconds, when running for minutes) and each trained head's loss."""

    first_head = 1  # the head whose loss comes first in `info.head_losses`

    def __init__(self, config):
        self.by_time = config.steps is None
        self.total = round(config.minutes * 60) if self.by_time else config.steps
        self.bar = None  # drawn on the first step, so the run's one-line errors come before any bar

    def postfix(self, info) -> str:
        return " ".join(f"h{k}={v:.3f}" for k, v in enumerate(info.head_losses, start=self.first_head))

    def __call__(self, info) -> bool:
        if self.bar is None:
            self.bar = tqdm(total=self.total, unit="s" if self.by_time else "step", dynamic_ncols=True)
        self.bar.set_postfix_str(self.postfix(info), refresh=False)
        position = min(int(info.seconds), self.bar.total) if self.by_time else info.step
        self.bar.update(position - self.bar.n)
        return False

    def close(self):
        if self.bar is not None:
            self.bar.close()


class TrainProgressBar(StepProgressBar):
    """Every head's loss, and head 1's latest validation loss."""

    def __init__(self, train_config):
        super().__init__(train_config)
        self.val = ""

    def postfix(self, info) -> str:
        if info.eval is not None:
            self.val = f" | val h1 {info.eval['next_token_val_loss']:.3f}"
        return super().postfix(info) + self.val


class DistillProgressBar(StepProgressBar):
    """Heads 2..n's distillation losses, and head 1's loss to the text when the trunk trains too."""

    first_head = 2

    def postfix(self, info) -> str:
        head1 = getattr(info, "head1_loss", None)
        return super().postfix(info) + ("" if head1 is None else f" | h1 on the text {head1:.3f}")
