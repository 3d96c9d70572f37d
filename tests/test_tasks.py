"""The synthetic tasks: generators make what they promise, scorers score hand-made models right."""

from types import SimpleNamespace

import pytest
import torch

from tinymtp.core.errors import TinyMTPError
from tinymtp.core.model import ModelConfig, MTPModel
from tinymtp.data.tokenizer import CharTokenizer
from tinymtp.decoding.decode import decode_ids
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.experiments.tasks import (
    AdditionTask,
    InductionTask,
    addition_corpus,
    addition_line,
    corpus_from_lines,
    greedy_answers,
    heldout_lines,
    induction_corpus,
    score_addition,
    score_induction,
)


class FakeModel:
    """A 'model' whose head 1 puts all its weight on next_char(text so far), position by position."""

    training = False
    config = SimpleNamespace(context_length=10**6)

    def __init__(self, tokenizer, next_char):
        self.tokenizer, self.next_char = tokenizer, next_char

    def parameters(self):
        return iter([torch.zeros(1)])

    def eval(self):
        return self

    def __call__(self, ids, heads=None):
        B, T = ids.shape
        logits = torch.zeros(B, T, 1, self.tokenizer.vocab_size)  # (B, T, 1, V)
        for b in range(B):
            text = self.tokenizer.decode(ids[b])
            for t in range(T):
                logits[b, t, 0, self.tokenizer.char_to_id[self.next_char(text[: t + 1])]] = 1.0
        return SimpleNamespace(logits=logits)


def copier(prefix: str) -> str:
    """Perfect induction: inside the second copy, the next letter of the first copy."""
    line = prefix.split("\n")[-1]
    if "|" not in line:
        return "a"
    first, second = line.split("|")
    return first[len(second)] if len(second) < len(first) else "\n"


def adder(prefix: str) -> str:
    """Perfect addition: after '=', the next digit of the zero-padded sum."""
    line = prefix.split("\n")[-1]
    if "=" not in line:
        return "0"
    question, answer = line.split("=")
    a, b = question.split("+")
    full = f"{int(a) + int(b):0{len(a) + 1}d}"
    return full[len(answer)] if len(answer) < len(full) else "\n"


# ---- induction ----------------------------------------------------------------------------------

def test_induction_lines_are_a_string_of_distinct_letters_twice():
    task = InductionTask(alphabet_size=10, min_length=3, max_length=7, train_lines=300, heldout_lines=40)
    corpus = induction_corpus(task, seed=4)
    lines = corpus.text.rstrip("\n").split("\n")
    assert len(lines) == 340
    for line in lines:
        first, second = line.split("|")
        assert first == second and 3 <= len(first) <= 7
        assert len(set(first)) == len(first) and set(first) <= set("abcdefghij")
    assert heldout_lines(corpus) == lines[300:]  # the validation part is exactly the held-out lines
    assert corpus.train_text == "".join(line + "\n" for line in lines[:300])
    assert induction_corpus(task, seed=4).text == corpus.text
    assert induction_corpus(task, seed=5).text != corpus.text


def test_induction_scorer_gives_a_perfect_copier_full_marks():
    tok = CharTokenizer("\n" + "abcd" + "|")
    lines = ["abc|abc", "bca|bca", "cd|cd", "dacb|dacb"]
    result = score_induction(FakeModel(tok, copier), tok, lines)
    assert result["second_copy_accuracy"] == 1.0
    assert result["scored_characters"] == 3 + 3 + 2 + 4
    assert result["chance"] == 0.25


def test_induction_scorer_counts_a_constant_guess_correctly():
    tok = CharTokenizer("\n" + "abcd" + "|")
    lines = ["abc|abc", "bca|bca", "cd|cd"]  # 'a' is 2 of the 8 characters in each copy
    result = score_induction(FakeModel(tok, lambda prefix: "a"), tok, lines)
    assert result["second_copy_accuracy"] == 0.25
    assert result["first_copy_accuracy"] == 0.25


def test_induction_scorer_rejects_lines_that_are_not_copies():
    tok = CharTokenizer("\n" + "abc" + "|")
    with pytest.raises(TinyMTPError, match="induction line"):
        score_induction(FakeModel(tok, copier), tok, ["abc|acb"])
    with pytest.raises(TinyMTPError):
        InductionTask(alphabet_size=4, max_length=6)


# ---- addition ------------------------------------------------------------------------------------

def test_addition_lines_put_the_most_significant_digit_first_and_pad_the_answer():
    assert addition_line(123, 989, 3) == "123+989=1112"
    assert addition_line(123, 456, 3) == "123+456=0579"
    assert addition_line(5, 7, 1) == "5+7=12"


def test_addition_corpus_holds_out_problems_never_seen_in_training():
    task = AdditionTask(digits=2, train_problems=1500, heldout_problems=100)
    corpus = addition_corpus(task, seed=2)
    train = corpus.train_text.rstrip("\n").split("\n")
    held = heldout_lines(corpus)
    assert len(train) == 1500 and len(held) == 100
    assert not set(train) & set(held)
    assert len(set(train)) == len(train)
    for line in train + held:
        a, rest = line.split("+")
        b, c = rest.split("=")
        assert len(a) == len(b) == 2 and len(c) == 3 and int(a) + int(b) == int(c)
    assert addition_corpus(task, seed=2).text == corpus.text


def test_addition_scorer_on_a_perfect_adder_and_on_a_constant_answer():
    tok = CharTokenizer("\n+0123456789=")
    lines = ["100+100=0200", "999+999=1998", "500+500=1000"]
    perfect = score_addition(FakeModel(tok, adder), tok, lines)
    assert perfect["exact_match"] == 1.0 and perfect["digit_accuracy"] == [1.0, 1.0, 1.0, 1.0]
    zeros = score_addition(FakeModel(tok, lambda prefix: "0"), tok, lines)  # answers "00000"[:...]
    assert zeros["exact_match"] == 0.0
    assert zeros["digit_accuracy"] == [round(1 / 3, 4), round(1 / 3, 4), round(2 / 3, 4), round(2 / 3, 4)]
    assert perfect["examples"][1] == {"problem": "999+999=", "answer": "1998", "decoded": "1998"}


def test_batched_greedy_answers_equal_the_library_greedy_decoder():
    tok = CharTokenizer("\n+0123456789=")
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=tok.vocab_size, context_length=32, d_model=16, n_layers=1, attn_heads=2, n_heads=2)
    model = MTPModel(cfg).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    prompts = ["\n12+34=", "\n99+99=", "\n50+07="]
    batched = greedy_answers(model, tok, prompts, max_new_tokens=6, stop="\x00")
    for prompt, answer in zip(prompts, batched):
        one = decode_ids(model, tok.encode(prompt), DecodeSettings("greedy", 6)).tokens
        assert answer == tok.decode(one)


def test_corpus_from_lines_splits_exactly_between_the_parts():
    for train_count in (1, 7, 99):
        train = [f"line{i}" for i in range(train_count)]
        corpus = corpus_from_lines("x", train, ["held1", "held22"])
        assert corpus.val_text == "held1\nheld22\n"
