"""Hugging Face transformers as an outside reference for tinymtp's model and decoders.

The exported model (tinymtp/files/hf.py) keeps every head; its `logits` must be what head 1 of the
tinymtp model computes, with and without transformers' KV cache; transformers' greedy, assisted (draft model) and prompt-lookup
`generate` must give tinymtp's greedy text token for token; transformers' sampling must follow
the distribution tinymtp's `probabilities` defines (chi-square, as tests/test_speculative_sampling.py).
Exactness checks run in float64 (ties and batched arithmetic can differ in float32). Nothing is
fetched: HF_HUB_OFFLINE is set and every folder is local.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: never reach the hub

import pytest
import torch
import torch.nn.functional as F
from conftest import CHECKPOINTS, ROOT, assert_one_line_error, random_model, run_cli
from safetensors.torch import load_file
from sampling_checks import PROMPT, V, exact_distribution, p_value
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, DynamicCache

from tinymtp.core.errors import TinyMTPError
from tinymtp.data.corpora import shift_targets
from tinymtp.decoding import generate
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.files.checkpoint import load_checkpoint
from tinymtp.files.hf import (
    EXPORT_FILES,
    TinyMTPConfig,
    TinyMTPForCausalLM,
    export_hf,
    from_tinymtp,
    generate_and_count,
    load_hf,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny forwards: see conftest.one_thread

PROMPTS = ["    def __init__(self, ", "import os\nimport sys\n\n\ndef main("]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """mtp-4head and the draft model, exported and read back by transformers (float64)."""
    folder = tmp_path_factory.mktemp("hf")
    main, draft = str(folder / "mtp-4head"), str(folder / "draft")
    export_hf(str(CHECKPOINTS / "mtp-4head"), main)
    export_hf(str(CHECKPOINTS / "draft"), draft)
    models = {name: AutoModelForCausalLM.from_pretrained(path, local_files_only=True).double().eval()
              for name, path in (("main", main), ("draft", draft))}
    return {"main_dir": main, **models}


@pytest.fixture(scope="module")
def tinymtp_models():
    main, draft = load_checkpoint(str(CHECKPOINTS / "mtp-4head")), load_checkpoint(str(CHECKPOINTS / "draft"))
    return {"main": main.model.double(), "draft": draft.model.double(), "tokenizer": main.tokenizer}


# --- the model computes head 1 -------------------------------------------------------------

@pytest.mark.parametrize("head_type", ["linear", "mlp", "block", "causal"])
def test_logits_equal_head_1_with_and_without_the_cache(head_type):
    model = random_model(vocab_size=11, n_heads=3, head_type=head_type, context_length=24, seed=4)
    hf = from_tinymtp(model)
    ids = torch.randint(0, 11, (2, 20), generator=torch.Generator().manual_seed(0))  # (B, T)
    with torch.no_grad():
        expected = model(ids, ahead=shift_targets(ids, 3)[..., 1:]).logits[:, :, 0]  # head 1 of all 3: (B, T, V)
        assert torch.allclose(hf(ids).logits, expected, atol=1e-10, rtol=0)
        cache, pieces = DynamicCache(config=hf.config), []
        for a, b in [(0, 5), (5, 6), (6, 9), (9, 10), (10, 20)]:  # a prefill, single steps, blocks
            pieces.append(hf(ids[:, a:b], cache=cache, use_cache=True).logits)  # (B, b - a, V)
        assert cache.get_seq_length() == 20
    assert torch.allclose(torch.cat(pieces, dim=1), expected, atol=1e-10, rtol=0)
    assert not torch.allclose(expected, model(ids, ahead=shift_targets(ids, 3)[..., 1:]).logits[:, :, 1])


def test_labels_follow_transformers_convention_the_inputs_shifted_inside():
    """For a next-token model (n = 1) the loss is the textbook one: logits at t against token t+1.
    (Every head's loss, n > 1: tests/test_hf_mtp.py.)"""
    hf = from_tinymtp(random_model(vocab_size=9, n_heads=1, seed=1))
    ids = torch.randint(0, 9, (3, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = hf(ids, labels=ids)
    expected = F.cross_entropy(out.logits[:, :-1].reshape(-1, 9), ids[:, 1:].reshape(-1))
    assert torch.allclose(out.loss, expected, atol=1e-12)


def test_past_the_context_and_padding_are_one_line_errors():
    hf = from_tinymtp(random_model(vocab_size=6, n_heads=2, context_length=16))
    ids = torch.zeros(1, 10, dtype=torch.long)
    assert hf.generate(ids, do_sample=False, max_new_tokens=6).shape == (1, 16)  # fills the context exactly
    with pytest.raises(TinyMTPError, match="at most 16 positions"):
        hf.generate(ids, do_sample=False, max_new_tokens=8)  # would feed position 16
    with pytest.raises(TinyMTPError, match="unpadded"):
        hf(torch.zeros(2, 4, dtype=torch.long), attention_mask=torch.tensor([[1, 1, 1, 1], [0, 1, 1, 1]]))


# --- the folder ----------------------------------------------------------------------------

def test_the_export_is_config_weights_and_tokenizer_only(exported):
    folder = exported["main_dir"]
    assert set(os.listdir(folder)) == EXPORT_FILES  # no code travels with the model
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    assert isinstance(config, TinyMTPConfig) and config.model_type == "tinymtp"
    assert (config.n_heads, config.head_type, config.loss_weights) == (4, "linear", "equal")
    assert config.num_hidden_layers == 4 and config.exported_from["checkpoint"] == "mtp-4head"
    assert isinstance(exported["main"], TinyMTPForCausalLM)
    weights = load_file(os.path.join(folder, "model.safetensors"))
    original = load_file(str(CHECKPOINTS / "mtp-4head" / "model.safetensors"))
    assert set(weights) == {f"model.{name}" for name in original}  # every head kept, nothing added
    assert any(name.startswith("heads.3.") for name in original)
    assert all(torch.equal(weights[f"model.{name}"], original[name]) for name in original)


def test_the_character_tokenizer_is_tinymtps(exported, tinymtp_models):
    tokenizer = AutoTokenizer.from_pretrained(exported["main_dir"], local_files_only=True)
    text = "def f(x):\n    return {'a': x}  # ok ."
    ids = tokenizer(text)["input_ids"]
    assert ids == tinymtp_models["tokenizer"].encode(text)
    assert tokenizer.decode(ids) == text
    with pytest.raises(Exception, match="UNK"):  # a character outside the vocabulary is an error, not dropped
        tokenizer("snowman \u2603")


def test_export_follows_the_write_rule(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(TinyMTPError, match="refusing"):
        export_hf(str(CHECKPOINTS / "ntp-1head"), str(theirs))
    assert os.listdir(theirs) == ["notes.txt"] and (theirs / "notes.txt").read_text() == "mine"
    with pytest.raises(TinyMTPError, match="refusing"):  # a tinymtp checkpoint is not an export
        export_hf(str(CHECKPOINTS / "ntp-1head"), str(CHECKPOINTS / "draft"))
    out = tmp_path / "export"
    export_hf(str(CHECKPOINTS / "ntp-1head"), str(out))
    with pytest.raises(TinyMTPError, match="--overwrite"):
        export_hf(str(CHECKPOINTS / "draft"), str(out))
    export_hf(str(CHECKPOINTS / "draft"), str(out), overwrite=True)
    assert json.loads((out / "config.json").read_text())["d_model"] == 64  # the draft's, now
    assert sorted(os.listdir(tmp_path)) == ["export", "theirs"]  # no temporary leftovers
    with pytest.raises(TinyMTPError, match="not a tinymtp transformers export"):
        load_hf(str(theirs))
    assert isinstance(load_hf(str(out)), TinyMTPForCausalLM)


def test_cli_export_hf_then_from_pretrained(tmp_path):
    out = tmp_path / "ntp-hf"
    proc = run_cli("export-hf", "--checkpoint", CHECKPOINTS / "ntp-1head", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wrote {out}" and proc.stderr.strip() == ""  # no progress bars
    model = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    assert model.config.exported_from["checkpoint"] == "ntp-1head"
    proc = run_cli("export-hf", "--checkpoint", tmp_path / "missing", "--out", tmp_path / "other")
    assert_one_line_error(proc, "checkpoint directory not found")
    assert not (tmp_path / "other").exists()


def test_without_transformers_tinymtp_works_and_export_is_a_one_line_error(tmp_path):
    fake = tmp_path / "no_transformers" / "transformers"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('transformers is not installed here')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(fake.parent), str(ROOT)])}
    proc = run_cli("export-hf", "--checkpoint", CHECKPOINTS / "ntp-1head", "--out", tmp_path / "out", env=env)
    assert_one_line_error(proc, "transformers", "pip install -e .[hf]")
    assert not (tmp_path / "out").exists()
    check = ("import sys, tinymtp, tinymtp.core.model, tinymtp.decoding, tinymtp.files.checkpoint, tinymtp.cli.main\n"
             "assert 'transformers' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


# --- generate: greedy, assisted, prompt lookup ---------------------------------------------

def greedy_reference(tinymtp_models, prompt: str, total: int) -> tuple[torch.Tensor, list]:
    """The prompt's ids (1, P) and tinymtp's greedy continuation up to `total` tokens in all."""
    tokenizer = tinymtp_models["tokenizer"]
    ids = torch.tensor([tokenizer.encode(prompt)])  # (1, P)
    result = generate(tinymtp_models["main"], tokenizer, prompt, DecodeSettings("greedy", total - ids.size(1)))
    return ids, result.tokens


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_generate_equals_tinymtps_greedy(exported, tinymtp_models, prompt):
    ids, expected = greedy_reference(tinymtp_models, prompt, total=128)  # the whole context
    run = generate_and_count(exported["main"], ids, do_sample=False, max_new_tokens=len(expected))
    assert run["tokens"] == expected
    assert run["forwards"] == len(expected)  # one token per forward, the prefill included


@pytest.mark.parametrize("prompt", PROMPTS)
def test_assisted_generate_with_the_exported_draft_equals_greedy(exported, tinymtp_models, prompt):
    ids, expected = greedy_reference(tinymtp_models, prompt, total=128)
    run = generate_and_count(exported["main"], ids, do_sample=False, max_new_tokens=len(expected),
                             assistant_model=exported["draft"])
    assert run["tokens"] == expected
    assert run["tokens_per_forward"] > 1.5  # drafts were really kept, so the check is not vacuous
    ours = generate(tinymtp_models["main"], tinymtp_models["tokenizer"], prompt, DecodeSettings("draft-model", len(expected), temperature=0), draft_model=tinymtp_models["draft"])
    assert ours.tokens == expected


@pytest.mark.parametrize("lookup_tokens", [3, 10])
def test_prompt_lookup_generate_equals_greedy(exported, tinymtp_models, lookup_tokens):
    prompt = "import os\nimport sys\nimport re\n\n\ndef main(args):\n    "
    # transformers 5.24 does not cut lookup drafts at max_length (generation/candidate_generator.py):
    # a verifying forward may read up to lookup_tokens positions past it, so leave that room
    ids, expected = greedy_reference(tinymtp_models, prompt, total=128 - lookup_tokens)
    run = generate_and_count(exported["main"], ids, do_sample=False, max_new_tokens=len(expected),
                             prompt_lookup_num_tokens=lookup_tokens)
    assert run["tokens"] == expected
    assert run["tokens_per_forward"] > 1.0  # some lookups were kept


# --- sampling: the same distribution -------------------------------------------------------

RUNS = 4000


@pytest.fixture(scope="module")
def small():
    """A random 4-symbol model (float64), its transformers twin, and a different draft model."""
    model = random_model(vocab_size=V, n_heads=2, seed=11, std=0.5)
    draft = random_model(vocab_size=V, n_heads=1, seed=5, std=0.5)
    return {"model": model, "hf": from_tinymtp(model), "hf_draft": from_tinymtp(draft)}




def transformers_counts(hf, temperature, top_k, runs=RUNS, seed=0) -> Counter:
    """First 3 sampled tokens of `runs` rows sampled side by side (each row an independent draw)."""
    torch.manual_seed(seed)
    out = hf.generate(torch.tensor([PROMPT] * runs), do_sample=True, temperature=temperature,
                      top_k=top_k or 0, max_new_tokens=3)  # tinymtp's no top-k is transformers' top_k=0
    return Counter(tuple(row) for row in out[:, len(PROMPT):].tolist())


@pytest.mark.parametrize("temperature,top_k", [(1.0, None), (0.7, 3)])
def test_transformers_sampling_follows_tinymtps_distribution(small, temperature, top_k):
    dist = exact_distribution(small["model"], temperature, top_k)
    assert p_value(transformers_counts(small["hf"], temperature, top_k), dist) > 0.01


def test_the_chi_square_check_tells_a_wrong_temperature_apart(small):
    counts = transformers_counts(small["hf"], 1.4, None)
    assert p_value(counts, exact_distribution(small["model"], 1.0, None)) < 1e-6


@pytest.mark.slow
def test_assisted_sampling_follows_the_same_distribution(small):
    """transformers' speculative sampling with a draft model (one prompt per call: 1000 seeds)."""
    dist = exact_distribution(small["model"], 1.0, None)
    counts = Counter()
    for seed in range(1000):
        torch.manual_seed(seed)
        out = small["hf"].generate(torch.tensor([PROMPT]), do_sample=True, temperature=1.0, top_k=0,
                                   max_new_tokens=3, assistant_model=small["hf_draft"])
        counts[tuple(out[0, len(PROMPT):].tolist())] += 1
    assert p_value(counts, dist) > 0.01
