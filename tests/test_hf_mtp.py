"""MTP inside transformers: every head's loss (so transformers' Trainer trains an MTP model) and
self-speculative decoding with the heads inside `generate` (a `custom_generate` callable).

The references are tinymtp's own: the MTP loss of core/loss.py, a plain AdamW loop on the same
batch, tinymtp's greedy decoding (token for token) and its speculative mode (forward for forward,
on the held-out prompts bench decode uses). Exactness checks run in float64.
"""

from __future__ import annotations

import copy
import os
import re

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: never reach the hub

import pytest
import torch
from conftest import CHECKPOINTS, ROOT, assert_one_line_error, random_model, run_cli
from transformers import Trainer, TrainingArguments

from tinymtp.analysis.speedup import heldout_prompts
from tinymtp.core.errors import TinyMTPError
from tinymtp.data.corpora import shift_targets
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.decoding import generate
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.files.checkpoint import load_checkpoint, save_checkpoint
from tinymtp.files.hf import (
    SUPPORTED_TRANSFORMERS,
    check_transformers_version,
    export_hf,
    from_tinymtp,
    generate_and_count,
    load_hf,
    self_speculative_decoding,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny forwards: see conftest.one_thread


# --- the MTP loss -------------------------------------------------------------------------

@pytest.mark.parametrize("head_type,weights", [("linear", "equal"), ("mlp", "decay"), ("block", [1.0, 0.5, 0.25]),
                                               ("causal", "equal")])
def test_the_loss_with_labels_is_tinymtps_mtp_loss_over_every_head(head_type, weights):
    model = random_model(vocab_size=9, n_heads=3, head_type=head_type, context_length=16, seed=1)
    model.config.loss_weights = weights
    hf = from_tinymtp(model)
    assert hf.config.n_heads == 3 and hf.config.head_type == head_type and hf.config.loss_weights == weights
    ids = torch.randint(0, 9, (3, 16), generator=torch.Generator().manual_seed(1))  # (B, T)
    with torch.no_grad():
        ours = model(ids, targets=shift_targets(ids, 3))
        theirs = hf(ids, labels=ids)
    assert torch.allclose(theirs.loss, ours.loss, atol=1e-12, rtol=0)
    assert all(torch.allclose(a, b, atol=1e-12, rtol=0) for a, b in zip(theirs.head_losses, ours.head_losses))
    assert torch.allclose(theirs.logits_per_head, ours.logits, atol=1e-12, rtol=0)  # (B, T, 3, V)
    assert not torch.allclose(theirs.loss, ours.head_losses[0])  # not head 1's loss alone


@pytest.mark.parametrize("head_type,weights", [("causal", [1.0, 0.3, 0.1]), ("block", "decay")])
def test_the_exported_folder_keeps_every_head_and_the_loss(tmp_path, head_type, weights):
    """Through the files: save a checkpoint, export it, load it with from_pretrained."""
    model = random_model(vocab_size=6, n_heads=3, head_type=head_type, context_length=16, seed=5)
    model.config.loss_weights = weights
    save_checkpoint(str(tmp_path / "ckpt"), model, CharTokenizer("abcdef"), {"corpus": "stories"})
    export_hf(str(tmp_path / "ckpt"), str(tmp_path / "hf"))
    loaded = load_hf(str(tmp_path / "hf")).double()
    assert (loaded.config.n_heads, loaded.config.head_type, loaded.config.loss_weights) == (3, head_type, weights)
    ids = torch.randint(0, 6, (2, 16), generator=torch.Generator().manual_seed(5))  # (B, T)
    with torch.no_grad():
        expected = model(ids, targets=shift_targets(ids, 3))
        theirs = loaded(ids, labels=ids)
    assert torch.allclose(theirs.loss, expected.loss, atol=1e-6, rtol=0)  # float32 on disk, as checkpoints are
    assert torch.allclose(theirs.logits_per_head, expected.logits, atol=1e-5, rtol=0)


def test_transformers_trainer_trains_what_a_tinymtp_loop_trains(tmp_path):
    """A few Trainer steps on one batch: each step's loss is tinymtp's MTP loss of the weights at that
    step, and the weights end where a plain AdamW loop on tinymtp's loss takes them."""
    model = random_model(vocab_size=9, n_heads=3, head_type="mlp", context_length=16, seed=2, std=0.2)
    ids = torch.randint(0, 9, (4, 16), generator=torch.Generator().manual_seed(2))  # (B, T): one batch, every step
    hf = from_tinymtp(copy.deepcopy(model)).train()
    trainer_losses = []
    hf.register_forward_hook(lambda module, args, output: trainer_losses.append(output.loss.detach().clone()))
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=4, learning_rate=1e-2,
                             lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, optim="adamw_torch",
                             max_grad_norm=1.0, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                             seed=0, disable_tqdm=True)
    Trainer(model=hf, args=args, train_dataset=[{"input_ids": row, "labels": row} for row in ids]).train()

    reference = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(reference.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    tinymtp_losses = []
    for _ in range(4):
        loss = reference(ids, targets=shift_targets(ids, 3)).loss  # every head, equal weights
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
        optimizer.step()
        tinymtp_losses.append(loss.detach())
    assert len(trainer_losses) == 4
    assert torch.allclose(torch.stack(trainer_losses), torch.stack(tinymtp_losses), atol=1e-10, rtol=0)
    assert tinymtp_losses[-1] < tinymtp_losses[0] - 0.05  # it really trained
    trained = hf.model.state_dict()
    assert all(torch.allclose(trained[name], w, atol=1e-9, rtol=0) for name, w in reference.state_dict().items())


# --- self-speculative decoding inside generate ------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    ckpt = load_checkpoint(str(CHECKPOINTS / "mtp-4head"))
    model = ckpt.model.double()
    return {"model": model, "hf": from_tinymtp(model), "tokenizer": ckpt.tokenizer}


def self_speculative(hf, ids, new_tokens, **kwargs) -> dict:
    return generate_and_count(hf, ids, custom_generate=self_speculative_decoding, do_sample=False,
                              max_new_tokens=new_tokens, **kwargs)


@pytest.mark.parametrize("draft_len", [3, 1])
def test_self_speculative_generate_is_tinymtps_greedy_with_its_forwards_on_heldout_prompts(shipped, draft_len):
    tokenizer = shipped["tokenizer"]
    prompts = heldout_prompts(tokenizer)  # bench decode's: 12 pieces of the validation text
    assert len(prompts) == 12
    committed = forwards = 0
    for prompt in prompts:
        ids = torch.tensor([tokenizer.encode(prompt)])  # (1, 48)
        new_tokens = shipped["hf"].config.context_length - ids.size(1)  # the whole context: 80
        theirs = self_speculative(shipped["hf"], ids, new_tokens, draft_len=draft_len)
        greedy = generate(shipped["model"], tokenizer, prompt, DecodeSettings("greedy", new_tokens))
        ours = generate(shipped["model"], tokenizer, prompt, DecodeSettings("speculative", new_tokens,
                                                                            draft_len=draft_len))
        assert theirs["tokens"] == greedy.tokens == ours.tokens
        assert theirs["forwards"] == ours.trace.forwards, prompt
        committed, forwards = committed + len(theirs["tokens"]), forwards + theirs["forwards"]
    assert committed / forwards > 1.5  # drafts were kept: the comparison is not vacuous


@pytest.mark.parametrize("head_type,seed", [("linear", 4), ("mlp", 4), ("block", 5)])
def test_every_parallel_head_type_drafts_inside_generate(head_type, seed):
    """Random models whose drafts are sometimes kept and sometimes not (seeds chosen so the text
    does not collapse into one repeated token); block heads' own cache layers included."""
    model = random_model(vocab_size=5, n_heads=4, head_type=head_type, context_length=40, seed=seed)
    hf = from_tinymtp(model)
    for prompt in ([0, 1, 2], [4, 4, 1, 0, 3, 2, 2]):
        expected = decode_ids(model, prompt, DecodeSettings("greedy", 40 - len(prompt)))
        theirs = self_speculative(hf, torch.tensor([prompt]), 40 - len(prompt))
        ours = decode_ids(model, prompt, DecodeSettings("speculative", 40 - len(prompt)))
        assert theirs["tokens"] == expected.tokens and theirs["forwards"] == ours.trace.forwards
        assert 1.2 < theirs["tokens_per_forward"] < 3.5  # some drafts kept, some rejected
        assert len(set(theirs["tokens"])) >= 3


def test_plain_generate_still_reads_head_1_only(shipped):
    ids = torch.tensor([shipped["tokenizer"].encode("    def __init__(self, ")])
    plain = generate_and_count(shipped["hf"], ids, do_sample=False, max_new_tokens=30)
    assert plain["forwards"] == 30  # one token per forward: heads 2..4 are not used by plain generate
    assert plain["tokens"] == self_speculative(shipped["hf"], ids, 30)["tokens"]


@pytest.mark.parametrize("kwargs,words", [
    ({"do_sample": True}, "greedy"),
    ({"draft_len": 4}, "draft_len must be a whole number from 0 to 3"),
    ({"draft_len": -1}, "draft_len"),
    ({"use_cache": False}, "needs the KV cache"),
])
def test_self_speculative_refusals_are_one_line(shipped, kwargs, words):
    ids = torch.tensor([shipped["tokenizer"].encode("import os\n")])
    settings = {"do_sample": False, "max_new_tokens": 5, **kwargs}
    with pytest.raises(TinyMTPError, match=re.escape(words)) as caught:
        shipped["hf"].generate(ids, custom_generate=self_speculative_decoding, **settings)
    assert "\n" not in str(caught.value)


def test_causal_heads_and_batches_are_refused_in_one_line():
    causal = from_tinymtp(random_model(vocab_size=5, n_heads=3, head_type="causal", context_length=16))
    with pytest.raises(TinyMTPError, match="causal heads"):
        causal.generate(torch.tensor([[1, 2]]), custom_generate=self_speculative_decoding, max_new_tokens=3)
    linear = from_tinymtp(random_model(vocab_size=5, n_heads=3, context_length=16))
    with pytest.raises(TinyMTPError, match="one prompt at a time"):
        linear.generate(torch.tensor([[1, 2], [3, 4]]), custom_generate=self_speculative_decoding, max_new_tokens=3)


# --- the supported transformers versions ----------------------------------------------------------

@pytest.mark.parametrize("version", ["4.57.1", "5.23.0", "6.0.0", "not-a-version"])
def test_a_transformers_version_outside_the_range_is_one_line(version):
    with pytest.raises(TinyMTPError, match=r"needs transformers >=5\.24,<6") as caught:
        check_transformers_version(version)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("version", ["5.24.0", "5.25.0", "5.99.1"])
def test_versions_inside_the_range_pass(version):
    check_transformers_version(version)


def test_the_range_is_the_one_pyproject_installs():
    low, high = SUPPORTED_TRANSFORMERS
    pin = f'"transformers>={low},<{high}"'
    assert pin in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert pin.strip('"') in (ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()


def test_an_old_transformers_is_refused_before_anything_is_written(tmp_path):
    fake = tmp_path / "old" / "transformers"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '4.46.0'\n")  # an installed transformers 4.x, say
    env = {"PYTHONPATH": os.pathsep.join([str(fake.parent), str(ROOT)])}
    proc = run_cli("export-hf", "--checkpoint", CHECKPOINTS / "mtp-4head", "--out", tmp_path / "out", env=env)
    assert_one_line_error(proc, "needs transformers >=5.24,<6", "this is transformers 4.46.0")
    assert not (tmp_path / "out").exists() and sorted(os.listdir(tmp_path)) == ["old"]
