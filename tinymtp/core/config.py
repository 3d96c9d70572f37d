"""What a model is made of, as plain data: `ModelConfig`, the size `PRESETS` and the `HEAD_TYPES`.

Kept apart from model.py and heads.py, and free of torch, so that the command line can offer
these choices in `python -m tinymtp train --help` without waiting for torch to import. The
modules that build the model (model.py, heads.py) read them from here.
Explained in notebooks/02_trunk.ipynb (sizes) and notebooks/03_heads_and_loss.ipynb (head types).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .errors import TinyMTPError

HEAD_TYPES = ("linear", "mlp", "block", "causal", "sequential")  # heads.make_head builds each; a test checks

PRESETS = {
    # name: (context_length, d_model, n_layers, attn_heads)
    "micro": dict(context_length=32, d_model=32, n_layers=1, attn_heads=2),  # tests
    "draft": dict(context_length=128, d_model=64, n_layers=1, attn_heads=2),  # separate draft model
    "tiny": dict(context_length=128, d_model=128, n_layers=4, attn_heads=4),  # the default
    "small": dict(context_length=256, d_model=192, n_layers=6, attn_heads=6),
}


@dataclass
class ModelConfig:
    vocab_size: int = 96
    context_length: int = 128
    d_model: int = 128
    n_layers: int = 4
    attn_heads: int = 4  # attention heads per layer
    n_heads: int = 4  # prediction heads: head k predicts the token k steps ahead
    head_type: str = "linear"  # linear | mlp | block | causal | sequential
    loss_weights: str | list = field(default="equal")  # "equal", "decay", or one weight per head
    dropout: float = 0.0

    def __post_init__(self):
        if self.head_type not in HEAD_TYPES:
            raise TinyMTPError(f"unknown head type '{self.head_type}' (choose from {', '.join(HEAD_TYPES)})")
        for name in ("vocab_size", "context_length", "d_model", "n_layers", "attn_heads", "n_heads"):
            if int(getattr(self, name)) < 1:
                raise TinyMTPError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.head_type == "sequential" and self.n_heads < 2:
            raise TinyMTPError("the sequential head type needs at least 2 heads (head 1 predicts the next token, "
                               "heads 2..n read the drafts before them); for one head use linear, mlp or block")
        if self.d_model % self.attn_heads:
            raise TinyMTPError(f"d_model {self.d_model} is not divisible by attn_heads {self.attn_heads}")

    @classmethod
    def from_preset(cls, preset: str = "tiny", **overrides) -> ModelConfig:
        if preset not in PRESETS:
            raise TinyMTPError(f"unknown size preset '{preset}' (choose from {', '.join(PRESETS)})")
        return cls(**{**PRESETS[preset], **overrides})

    def to_dict(self) -> dict:
        return asdict(self)
