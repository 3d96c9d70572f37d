"""tinymtp in Hugging Face transformers: the trunk and head 1 as an `AutoModelForCausalLM`.

    import tinymtp.files.hf                                    # registers model_type "tinymtp"
    export_hf("checkpoints/mtp-4head", "runs/mtp-hf")   # or: python -m tinymtp export-hf ...
    model = AutoModelForCausalLM.from_pretrained("runs/mtp-hf")
    model.generate(ids, assistant_model=draft)           # what notebooks 06-08 built by hand

The transformers model holds a tinymtp `MTPModel` with ONE head, so it computes exactly what
head 1 of the trained model computes (the same modules, the same attention code); heads 2..n
are dropped at export, the "heads discarded after training" use of an MTP model. Its weights
keep tinymtp's names under `model.` (`model.trunk.blocks.0.attn.qkv.weight`, ...). The KV cache
is transformers' own `Cache` (a `DynamicCache` by default), seen by tinymtp's attention layers
through `CacheView`, so `generate` can crop it after rejected drafts as it does for any model.

The folder holds config.json, model.safetensors, generation_config.json and a character
tokenizer (tokenizer.json: one token per character, tinymtp's vocabulary; an unknown character
is an error, as in tinymtp). No code travels with it: `import tinymtp.files.hf` registers the classes,
never `trust_remote_code`. Exports follow the checkpoints' write rule (safe_write.py).

Limits, on purpose: positions are learned up to `context_length`, and transformers has no
sliding window, so prompt + new tokens must fit in the context (`generate` stops there by
default; a longer request is a one-line TinyMTPError). Padded batches and training through
transformers are left out. transformers is optional (`pip install -e .[hf]`); importing this
module without it is a one-line TinyMTPError. Explained in notebooks/10_mtp_at_scale.ipynb.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from .. import __version__
from ..core.errors import TinyMTPError

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
except ImportError:
    raise TinyMTPError("tinymtp.files.hf needs Hugging Face transformers (>=5.24): pip install -e .[hf]") from None

from ..core.model import ModelConfig, MTPModel
from .checkpoint import load_checkpoint
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
    head_type: str = "linear"  # head 1's type: linear | mlp | block (a causal chain's head 1 is linear)
    dropout: float = 0.0
    exported_from: dict | None = None  # the source checkpoint's heads, corpus and tinymtp version
    use_cache: bool = True
    tie_word_embeddings: bool = False  # tinymtp's unembedding is its own matrix
    bos_token_id: int | None = None  # a character model has no special tokens
    eos_token_id: int | None = None
    pad_token_id: int | None = None

    @property
    def num_hidden_layers(self) -> int:
        """Attention layers the cache holds: the trunk's, plus head 1's own for a `block` head."""
        return self.n_layers + (self.head_type == "block")

    def to_tinymtp(self) -> ModelConfig:
        return ModelConfig(vocab_size=self.vocab_size, context_length=self.context_length, d_model=self.d_model,
                           n_layers=self.n_layers, attn_heads=self.attn_heads, n_heads=1,
                           head_type=self.head_type, dropout=self.dropout)


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


class TinyMTPForCausalLM(PreTrainedModel, GenerationMixin):
    """The trunk and head 1 of a tinymtp model: input_ids (B, T) -> logits (B, T, V)."""

    config_class = TinyMTPConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"

    def __init__(self, config: TinyMTPConfig):
        super().__init__(config)
        self.model = MTPModel(config.to_tinymtp())  # one head: head 1, the next-token head
        self.post_init()

    def _init_weights(self, module):
        pass  # MTPModel initialises itself; from_pretrained then loads every weight

    def get_input_embeddings(self):
        return self.model.trunk.token_embedding

    def get_output_embeddings(self):
        return self.model.unembedding

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, use_cache=None,
                labels=None, logits_to_keep=0, past_key_values=None, **kwargs) -> CausalLMOutputWithPast:
        """Positions come from the cache's length, as in tinymtp; with padding refused they equal
        the `position_ids` transformers passes. `past_key_values` is the cache's older name."""
        if input_ids is None:
            raise TinyMTPError("tinymtp's transformers model reads input_ids (token ids), not inputs_embeds")
        if attention_mask is not None and not bool(attention_mask.all()):
            raise TinyMTPError("tinymtp's transformers model takes unpadded inputs only (the attention mask has "
                               "zeros): give prompts of one length, or one prompt at a time")
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
        logits = self.model(input_ids, cache=view, heads=1).logits[:, :, 0]  # head 1: (B, T, 1, V) -> (B, T, V)
        loss = None
        if labels is not None:  # transformers' convention: labels are the inputs, shifted here
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
                                   ignore_index=-100)
        if logits_to_keep:
            logits = logits[:, -logits_to_keep:]  # (B, keep, V)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=cache)


AutoConfig.register(MODEL_TYPE, TinyMTPConfig)
AutoModelForCausalLM.register(TinyMTPConfig, TinyMTPForCausalLM)


def from_tinymtp(model: MTPModel, exported_from: dict | None = None) -> TinyMTPForCausalLM:
    """The transformers model of `model`'s trunk and head 1 (heads 2..n dropped), in memory,
    with `model`'s dtype and device."""
    cfg = model.config
    head_type = "linear" if cfg.head_type == "causal" else cfg.head_type  # a causal chain starts linear
    config = TinyMTPConfig(vocab_size=cfg.vocab_size, context_length=cfg.context_length, d_model=cfg.d_model,
                           n_layers=cfg.n_layers, attn_heads=cfg.attn_heads, head_type=head_type,
                           dropout=cfg.dropout, exported_from=exported_from)
    parameter = next(model.parameters())
    hf_model = TinyMTPForCausalLM(config).to(dtype=parameter.dtype, device=parameter.device)
    kept = {name: t for name, t in model.state_dict().items() if not name.startswith("heads.") or
            name.startswith("heads.0.")}  # head 1 only
    hf_model.model.load_state_dict(kept)  # strict: every weight of trunk + head 1 is there
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
    """Write the transformers folder of `checkpoint`'s trunk and head 1 at `out`; returns its path.

    An existing export at `out` is replaced only with overwrite=True; any other existing folder
    is refused; the folder is written beside `out` and renamed into place (safe_write.py)."""
    recover_folder(out)
    check_target(out, "a transformers export", holds_export, overwrite, folder=True)
    ckpt = load_checkpoint(checkpoint)
    cfg = ckpt.model.config
    source = {"checkpoint": os.path.basename(os.path.abspath(checkpoint)), "n_heads": cfg.n_heads,
              "head_type": cfg.head_type, "corpus": ckpt.metadata.get("corpus"), "tinymtp_version": __version__}
    hf_model = from_tinymtp(ckpt.model, exported_from=source)
    tokenizer = char_tokenizer(ckpt.tokenizer.vocab, cfg.context_length)

    def fill(folder: str) -> None:
        with no_progress_bars():
            hf_model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)

    return write_folder(out, fill, overwrite)


def generate_and_count(model, input_ids: torch.Tensor, **generate_kwargs) -> dict:
    """transformers' `generate` for one prompt (1, P), counting the main model's forwards (a forward
    hook): the new tokens, the forwards (the prefill included, as in tinymtp's summary) and tokens
    per forward. A draft model's own forwards are not counted, as in tinymtp's figure."""
    forwards = []
    hook = model.register_forward_hook(lambda *args: forwards.append(1))
    try:
        out = model.generate(input_ids, **generate_kwargs)  # (1, P + new)
    finally:
        hook.remove()
    tokens = out[0, input_ids.size(1):].tolist()
    return {"tokens": tokens, "forwards": len(forwards), "tokens_per_forward": len(tokens) / max(1, len(forwards))}


def load_hf(path: str, **kwargs) -> TinyMTPForCausalLM:
    """AutoModelForCausalLM.from_pretrained of a local export only (never the hub)."""
    if not holds_export(path):
        raise TinyMTPError(f"not a tinymtp transformers export (python -m tinymtp export-hf writes one): {path}")
    with no_progress_bars():
        return AutoModelForCausalLM.from_pretrained(path, local_files_only=True, **kwargs).eval()
