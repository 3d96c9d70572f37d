"""tinymtp in Hugging Face transformers: the whole MTP model, every head, as an `AutoModelForCausalLM`.

    import tinymtp.files.hf                                    # registers model_type "tinymtp"
    export_hf("checkpoints/mtp-4head", "runs/mtp-hf")   # or: python -m tinymtp export-hf ...
    model = AutoModelForCausalLM.from_pretrained("runs/mtp-hf")
    model(ids, labels=ids).loss                          # the MTP loss over every head: Trainer trains it
    model.generate(ids, custom_generate=self_speculative_decoding)   # heads 2..n draft (hf_generate.py)

The transformers model holds a tinymtp `MTPModel` with all its heads (the same modules, the same
attention code); its config records the head type, the number of heads and the loss weights.
Its `logits` are head 1's (B, T, V), what transformers' `generate` reads, so plain, assisted and
prompt-lookup generation treat it as the next-token model it contains; `logits_per_head`
(B, T, n, V) holds every head computed. Given `labels` (transformers' convention: the inputs,
shifted inside), the loss is tinymtp's: each head's cross-entropy against the labels shifted by k,
combined with the config's weights. Its weights keep tinymtp's names under `model.`
(`model.trunk.blocks.0.attn.qkv.weight`, `model.heads.3.linear.weight`, ...). The KV cache is
transformers' own `Cache` (a `DynamicCache` by default), seen by tinymtp's attention layers through
`CacheView`, so `generate` can crop it after rejected drafts as it does for any model.

The folder holds config.json, model.safetensors, generation_config.json and a character
tokenizer (tokenizer.json: one token per character, tinymtp's vocabulary; an unknown character
is an error, as in tinymtp). No code travels with it: `import tinymtp.files.hf` registers the classes,
never `trust_remote_code`. Exports follow the checkpoints' write rule (safe_write.py). Supported:
transformers >=5.24,<6 (pyproject's `hf` extra); another version is a one-line TinyMTPError on
import (hf_version.py), before anything is written or loaded.

Limits, on purpose: positions are learned up to `context_length`, and transformers has no
sliding window, so prompt + new tokens must fit in the context (`generate` stops there by
default; a longer request is a one-line TinyMTPError). Padded batches are left out. transformers
is optional (`pip install -e .[hf]`); importing this module without it is a one-line
TinyMTPError. Explained in notebooks/10_mtp_at_scale.ipynb; docs/transformers.md.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .. import __version__
from ..core.errors import TinyMTPError
from .hf_version import SUPPORTED_TRANSFORMERS, check_transformers_version  # first: one line if unsupported

try:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        GenerationConfig,
        GenerationMixin,
        PreTrainedConfig,
        PreTrainedModel,
        PreTrainedTokenizerFast,
    )
    from transformers.cache_utils import DynamicCache
    from transformers.modeling_outputs import CausalLMOutputWithPast
    from transformers.utils import logging as transformers_logging
except ImportError as exc:  # a supported version that still lacks a name: say which, in one line
    raise TinyMTPError(f"tinymtp.files.hf cannot use this transformers ({exc}): pip install -e .[hf]") from None

from ..core.model import ModelConfig, MTPModel
from ..data.corpora import shift_targets
from .checkpoint import load_checkpoint
from .hf_generate import generate_and_count, self_speculative_decoding
from .safe_write import check_target, recover_folder, write_folder

MODEL_TYPE = "tinymtp"
EXPORT_FILES = {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                "tokenizer_config.json"}


class TinyMTPConfig(PreTrainedConfig):
    """tinymtp's ModelConfig, in transformers' words (attribute_map gives the usual names)."""

    model_type = MODEL_TYPE
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "attn_heads",
                     "max_position_embeddings": "context_length"}

    vocab_size: int = 96
    context_length: int = 128
    d_model: int = 128
    n_layers: int = 4
    attn_heads: int = 4
    n_heads: int = 1  # prediction heads; exports made before every head was kept have one
    head_type: str = "linear"  # linear | mlp | block | causal | sequential (their head 1 is linear)
    loss_weights: str | list = "equal"  # "equal", "decay", or one weight per head (core/loss.py)
    dropout: float = 0.0
    exported_from: dict | None = None  # the source checkpoint, its corpus and tinymtp version
    use_cache: bool = True
    tie_word_embeddings: bool = False  # tinymtp's unembedding is its own matrix
    bos_token_id: int | None = None  # a character model has no special tokens
    eos_token_id: int | None = None
    pad_token_id: int | None = None

    @property
    def num_hidden_layers(self) -> int:
        """Attention layers the cache holds: the trunk's, plus one per head with its own layer."""
        own_layer = {"block": self.n_heads, "causal": self.n_heads - 1}.get(self.head_type, 0)
        return self.n_layers + own_layer

    def to_tinymtp(self) -> ModelConfig:
        return ModelConfig(vocab_size=self.vocab_size, context_length=self.context_length, d_model=self.d_model,
                           n_layers=self.n_layers, attn_heads=self.attn_heads, n_heads=self.n_heads,
                           head_type=self.head_type, loss_weights=self.loss_weights, dropout=self.dropout)


class CacheView:
    """transformers' Cache, seen through the three calls tinymtp's layers make on a KVCache.

    `length` is fixed when the forward starts (every layer's keys then agree); `append` is
    transformers' `update`, which returns all keys and values so far; `advance` only moves
    this view's mark, since transformers' cache counts its own length."""

    def __init__(self, cache):
        self.cache = cache
        self.length = cache.get_seq_length()

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cache.update(k, v, layer)  # (B, H, T, hs) -> (B, H, length + T, hs) each

    def advance(self, T: int) -> None:
        self.length += T


@dataclass
class MTPCausalLMOutput(CausalLMOutputWithPast):
    """transformers' causal-LM output (`logits`: head 1, (B, T, V)) plus every computed head."""

    logits_per_head: torch.Tensor | None = None  # (B, T, heads, V): head k's guesses for x[t+k]
    head_losses: tuple | None = None  # with labels: one scalar per head, head 1 first


class TinyMTPForCausalLM(PreTrainedModel, GenerationMixin):
    """A tinymtp MTP model: input_ids (B, T) -> head 1's logits (B, T, V) and every head's."""

    config_class = TinyMTPConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    accepts_loss_kwargs = False  # the loss is a per-batch mean: Trainer scales it for accumulation itself

    def __init__(self, config: TinyMTPConfig):
        super().__init__(config)
        self.model = MTPModel(config.to_tinymtp())
        self.post_init()

    def _init_weights(self, module):
        pass  # MTPModel initialises itself; from_pretrained then loads every weight

    def get_input_embeddings(self):
        return self.model.trunk.token_embedding

    def get_output_embeddings(self):
        return self.model.unembedding

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, use_cache=None,
                labels=None, logits_to_keep=0, past_key_values=None, heads=None, **kwargs) -> MTPCausalLMOutput:
        """`heads` computes heads 1..heads (default 1: what `generate` reads); with `labels`, every
        head and the MTP loss. Positions come from the cache's length, as in tinymtp; with padding
        refused they equal the `position_ids` transformers passes. `past_key_values` is the cache's
        older name."""
        if input_ids is None:
            raise TinyMTPError("tinymtp's transformers model reads input_ids (token ids), not inputs_embeds")
        if attention_mask is not None and not bool(attention_mask.all()):
            raise TinyMTPError("tinymtp's transformers model takes unpadded inputs only (the attention mask has "
                               "zeros): give prompts of one length, or one prompt at a time")
        n = self.config.n_heads if labels is not None else (heads or 1)
        if not 1 <= n <= self.config.n_heads:
            raise TinyMTPError(f"heads must be 1..{self.config.n_heads} (the model's heads), got {heads}")
        cache = past_key_values if cache is None else cache
        if (self.config.use_cache if use_cache is None else use_cache) and cache is None:
            cache = DynamicCache(config=self.config)
        start = cache.get_seq_length() if cache is not None else 0
        end = start + input_ids.size(1)
        if end > self.config.context_length:
            raise TinyMTPError(f"tinymtp's transformers model reads at most {self.config.context_length} positions "
                               f"(learned position embeddings, no sliding window), asked for {end}: keep the "
                               "prompt plus max_new_tokens within the context")
        view = CacheView(cache) if cache is not None else None
        targets = None if labels is None else shift_targets(labels, n)  # head k: labels shifted by k, (B, T, n)
        out = self.model(input_ids, targets=targets, cache=view, heads=n)  # logits (B, T, n, V)
        per_head = out.logits[:, -logits_to_keep:] if logits_to_keep else out.logits  # (B, keep, n, V)
        return MTPCausalLMOutput(loss=out.loss, logits=per_head[:, :, 0], cache=cache, logits_per_head=per_head,
                                 head_losses=None if out.head_losses is None else tuple(out.head_losses))


AutoConfig.register(MODEL_TYPE, TinyMTPConfig)
AutoModelForCausalLM.register(TinyMTPConfig, TinyMTPForCausalLM)


def from_tinymtp(model: MTPModel, exported_from: dict | None = None) -> TinyMTPForCausalLM:
    """The transformers model of `model`, every head kept, in memory, with `model`'s dtype and device."""
    cfg = model.config
    config = TinyMTPConfig(vocab_size=cfg.vocab_size, context_length=cfg.context_length, d_model=cfg.d_model,
                           n_layers=cfg.n_layers, attn_heads=cfg.attn_heads, n_heads=cfg.n_heads,
                           head_type=cfg.head_type, loss_weights=cfg.loss_weights, dropout=cfg.dropout,
                           exported_from=exported_from)
    parameter = next(model.parameters())
    hf_model = TinyMTPForCausalLM(config).to(dtype=parameter.dtype, device=parameter.device)
    hf_model.model.load_state_dict(model.state_dict())  # strict: every weight, every head
    hf_model.generation_config = GenerationConfig(do_sample=False)
    return hf_model.eval()


def char_tokenizer(vocab: str, context_length: int) -> PreTrainedTokenizerFast:
    """tinymtp's CharTokenizer in transformers' format: token i is the i-th character of `vocab`.

    Every character is a piece of its own (the Split rule), each piece is looked up whole
    (WordLevel, no unknown token: an unseen character is an error), and decoding joins the
    characters without spaces (Fuse)."""
    backend = Tokenizer(models.WordLevel({ch: i for i, ch in enumerate(vocab)}, unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, clean_up_tokenization_spaces=False,
                                   model_max_length=context_length)


@contextmanager
def no_progress_bars():
    """transformers draws a progress bar for saving and loading even one small file: noise here."""
    shown = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            transformers_logging.enable_progress_bar()


def holds_export(path: str) -> bool:
    """Does `path` hold a transformers export written by tinymtp, and nothing else?"""
    try:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return False
    ours = isinstance(config, dict) and config.get("model_type") == MODEL_TYPE and "exported_from" in config
    return ours and set(os.listdir(path)) <= EXPORT_FILES


def export_hf(checkpoint: str, out: str, overwrite: bool = False) -> str:
    """Write the transformers folder of `checkpoint`, every head kept, at `out`; returns its path.

    An existing export at `out` is replaced only with overwrite=True; any other existing folder
    is refused; the folder is written beside `out` and renamed into place (safe_write.py)."""
    recover_folder(out)
    check_target(out, "a transformers export", holds_export, overwrite, folder=True)
    ckpt = load_checkpoint(checkpoint)
    source = {"checkpoint": os.path.basename(os.path.abspath(checkpoint)), "corpus": ckpt.metadata.get("corpus"),
              "corpus_sha256": ckpt.metadata.get("corpus_sha256"), "tinymtp_version": __version__}
    hf_model = from_tinymtp(ckpt.model, exported_from=source)
    tokenizer = char_tokenizer(ckpt.tokenizer.vocab, ckpt.model.config.context_length)

    def fill(folder: str) -> None:
        with no_progress_bars():
            hf_model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)

    return write_folder(out, fill, overwrite)


def load_hf(path: str, **kwargs) -> TinyMTPForCausalLM:
    """AutoModelForCausalLM.from_pretrained of a local export only (never the hub)."""
    if not holds_export(path):
        raise TinyMTPError(f"not a tinymtp transformers export (python -m tinymtp export-hf writes one): {path}")
    with no_progress_bars():
        return AutoModelForCausalLM.from_pretrained(path, local_files_only=True, **kwargs).eval()


__all__ = ["MODEL_TYPE", "EXPORT_FILES", "SUPPORTED_TRANSFORMERS", "TinyMTPConfig", "TinyMTPForCausalLM",
           "MTPCausalLMOutput", "CacheView", "check_transformers_version", "from_tinymtp", "char_tokenizer",
           "export_hf", "load_hf", "holds_export", "no_progress_bars", "generate_and_count",
           "self_speculative_decoding"]  # the last two live in hf_generate.py, the version check in hf_version.py
