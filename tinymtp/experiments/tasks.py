"""Synthetic tasks for the experiments: each is a seeded text corpus plus a scorer.

Two tasks where the future might matter more than in ordinary text:

- **induction** (in-context copying). Each line is a random string of L distinct letters, a
  separator and the same string again: `qhcxnb|qhcxnb`. The second copy can only be predicted
  by looking back: find the current letter in the first copy and copy the letter after it (what
  an "induction head" does). Without that lookup, head 1 can do no better than guess among the
  letters, so the score, head 1's teacher-forced top-1 accuracy on the second copy, is near
  chance (about 1/A for an alphabet of A letters) until induction forms. The first copy is
  random, so its accuracy is reported too, as the control. Gloeckle et al. (2024, section 4)
  report that small models form induction only, or much better, with multi-token prediction.
- **addition**, written most-significant digit first: `123+989=1112`, and `123+456=0579` (every
  answer has one digit more than the numbers, zero-padded, so answer digit i always means the
  same place). The first answer digit is the final carry: it depends on every later digit, so a
  model has to "look ahead" to write it. The score is the exact-match accuracy of greedy-decoded
  answers on held-out problems, and the accuracy of each answer digit, counted from the left.

Every corpus is its training lines followed by its held-out lines, split exactly at the
boundary, so the validation loss that `train()` reports is measured on the held-out lines,
which the scorers use too and which never appear in the training part.

Scorers take any `model` that maps ids (B, T) and `heads=1` to an object with `.logits`
(B, T, 1, V), as MTPModel does, so the tests can score hand-made fake models. Used by tinymtp/experiments/.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

import torch

from ..core.errors import TinyMTPError
from ..data.corpora import Corpus
from ..decoding.batched import continue_rows

SEPARATOR = "|"


def corpus_from_lines(name: str, train_lines: list, val_lines: list) -> Corpus:
    """One line per item, the validation split starting exactly at the first held-out line."""
    train_text = "".join(line + "\n" for line in train_lines)
    text = train_text + "".join(line + "\n" for line in val_lines)
    boundary = len(train_text)
    corpus = Corpus(name, text, val_fraction=1 - (boundary + 0.5) / len(text))
    assert corpus.train_text == train_text  # the split falls exactly between the two parts
    return corpus


def _head1_logits(model, ids: torch.Tensor) -> torch.Tensor:
    """Head 1's logits for a batch of ids (B, T) -> (B, T, V), without gradients or dropout."""
    training = getattr(model, "training", False)
    if training:
        model.eval()
    with torch.no_grad():
        logits = model(ids, heads=1).logits[:, :, 0]  # (B, T, V): head 1 alone, whatever the other heads are
    if training:
        model.train()
    return logits


# ---- induction ----------------------------------------------------------------------------------

@dataclass
class InductionTask:
    alphabet_size: int = 16  # letters a, b, c, ...; chance accuracy is about 1 / alphabet_size
    min_length: int = 6  # each line copies a string of min_length..max_length distinct letters
    max_length: int = 12
    train_lines: int = 20_000
    heldout_lines: int = 512

    def __post_init__(self):
        if not 2 <= self.alphabet_size <= 26:
            raise TinyMTPError(f"the induction alphabet has 2 to 26 letters, got {self.alphabet_size}")
        if not 1 <= self.min_length <= self.max_length <= self.alphabet_size:
            raise TinyMTPError(f"induction strings need 1 <= min_length <= max_length <= alphabet size, got "
                               f"{self.min_length}..{self.max_length} of {self.alphabet_size} letters")

    @property
    def alphabet(self) -> str:
        return string.ascii_lowercase[: self.alphabet_size]

    @property
    def line_length(self) -> int:
        """The longest line with its newline: the context a model needs to see one whole line."""
        return 2 * self.max_length + 2


def induction_line(task: InductionTask, rng: random.Random) -> str:
    """`s|s` for a random string s of distinct letters (distinct, so the lookup is unambiguous)."""
    s = "".join(rng.sample(task.alphabet, rng.randint(task.min_length, task.max_length)))
    return f"{s}{SEPARATOR}{s}"


def induction_corpus(task: InductionTask, seed: int = 0) -> Corpus:
    """Training lines then held-out lines, all from one seeded generator (the same for the same seed)."""
    rng = random.Random(seed)
    lines = [induction_line(task, rng) for _ in range(task.train_lines + task.heldout_lines)]
    name = f"induction-a{task.alphabet_size}-l{task.min_length}-{task.max_length}"
    return corpus_from_lines(name, lines[: task.train_lines], lines[task.train_lines :])


def heldout_lines(corpus: Corpus) -> list:
    """The held-out lines of a task corpus (its validation part, one item per line)."""
    return [line for line in corpus.val_text.split("\n") if line]


def score_induction(model, tokenizer, lines: list) -> dict:
    """Head 1's teacher-forced top-1 accuracy on the second copy (and, as control, the first).

    Each line `s|s` is fed as "\\n" + line, the way lines start in training. For the second copy,
    the guess for its character i is head 1's output at the position before it; the guess for
    its first character is made at the separator.
    """
    if not lines:
        raise TinyMTPError("no induction lines to score")
    texts = ["\n" + line for line in lines]
    width = max(len(t) for t in texts)
    pad = tokenizer.encode("\n")[0]  # right padding: a causal model never looks at it
    ids = torch.full((len(texts), width), pad, dtype=torch.long)  # (N, T)
    for i, text in enumerate(texts):
        ids[i, : len(text)] = torch.tensor(tokenizer.encode(text))
    guesses = _head1_logits(model, ids).argmax(-1)  # (N, T): guess for the token at t + 1
    first = [0, 0]  # correct, total
    second = [0, 0]
    for i, line in enumerate(lines):
        L = line.index(SEPARATOR)
        if line[L + 1 :] != line[:L]:
            raise TinyMTPError(f"not an induction line (s|s): {line!r}")
        for j in range(1, 2 * L + 2):  # j indexes "\n" + line; skip the separator itself
            if j == L + 1:
                continue
            tally = first if j <= L else second
            tally[0] += int(guesses[i, j - 1] == ids[i, j])
            tally[1] += 1
    alphabet = sorted(set("".join(lines)) - {SEPARATOR})
    return {"second_copy_accuracy": round(second[0] / second[1], 4),
            "first_copy_accuracy": round(first[0] / first[1], 4),
            "chance": round(1 / len(alphabet), 4), "lines": len(lines), "scored_characters": second[1]}


# ---- addition ------------------------------------------------------------------------------------

@dataclass
class AdditionTask:
    digits: int = 3  # both numbers have exactly this many digits: 100..999 for 3
    train_problems: int = 40_000
    heldout_problems: int = 500

    def __post_init__(self):
        if not 1 <= self.digits <= 9:
            raise TinyMTPError(f"addition operands have 1 to 9 digits, got {self.digits}")
        low, high = 10 ** (self.digits - 1), 10 ** self.digits - 1
        if self.train_problems + self.heldout_problems > (high - low + 1) ** 2 // 2:
            raise TinyMTPError(f"too many problems asked for {self.digits}-digit numbers")

    @property
    def line_length(self) -> int:
        return 3 * self.digits + 4  # "a+b=" and up to digits + 1 answer digits, and the newline


def addition_line(a: int, b: int, digits: int) -> str:
    """`a+b=c` with c zero-padded to digits + 1 places, most significant digit first."""
    return f"{a}+{b}={a + b:0{digits + 1}d}"


def addition_corpus(task: AdditionTask, seed: int = 0) -> Corpus:
    """Distinct random problems; the held-out ones (the validation part) never occur in training."""
    rng = random.Random(seed)
    low, high = 10 ** (task.digits - 1), 10 ** task.digits - 1
    seen, problems = set(), []
    while len(problems) < task.heldout_problems + task.train_problems:
        pair = (rng.randint(low, high), rng.randint(low, high))
        if pair not in seen:
            seen.add(pair)
            problems.append(pair)
    heldout, train = problems[: task.heldout_problems], problems[task.heldout_problems :]
    return corpus_from_lines(f"addition-{task.digits}digit", [addition_line(a, b, task.digits) for a, b in train],
                             [addition_line(a, b, task.digits) for a, b in heldout])


def greedy_answers(model, tokenizer, prompts: list, max_new_tokens: int, stop: str = "\n") -> list:
    """Greedy decoding of many equally long prompts at once, cut at `stop` (decoding/batched.py:
    one batched forward per step for every prompt, which makes scoring hundreds of problems cheap;
    it equals `decode.generate(..., mode="greedy")` prompt by prompt, tests/test_tasks.py checks)."""
    if len({len(p) for p in prompts}) != 1:
        raise TinyMTPError("greedy_answers needs prompts of one length")
    device = next(model.parameters()).device
    ids = torch.tensor([tokenizer.encode(p) for p in prompts], dtype=torch.long, device=device)  # (N, P)
    ends = torch.full((len(prompts),), ids.size(1) - 1, device=device)  # (N,): every prompt ends at P - 1
    tokens, _ = continue_rows(model, ids, ends, max_new_tokens)  # (N, max_new_tokens)
    return [tokenizer.decode(row).split(stop)[0] for row in tokens.tolist()]


def score_addition(model, tokenizer, lines: list) -> dict:
    """Exact match of greedy answers to held-out `a+b=c` lines, and accuracy per answer digit.

    Digit i counts from the left (the most significant first, the order they are written): digit
    1 is the final carry, which depends on every later digit. A digit is right when the decoded
    answer has the right character in that place.
    """
    if not lines:
        raise TinyMTPError("no addition problems to score")
    prompts = ["\n" + line.split("=")[0] + "=" for line in lines]
    answers = [line.split("=")[1] for line in lines]
    width = max(len(a) for a in answers)
    decoded = greedy_answers(model, tokenizer, prompts, max_new_tokens=width + 1)
    exact = sum(d == a for d, a in zip(decoded, answers)) / len(lines)
    per_digit = [round(sum(len(d) > i and d[i] == a[i] for d, a in zip(decoded, answers)) / len(lines), 4)
                 for i in range(width)]
    return {"exact_match": round(exact, 4), "digit_accuracy": per_digit, "problems": len(lines),
            "examples": [{"problem": p.strip(), "answer": a, "decoded": d}
                         for p, a, d in list(zip(prompts, answers, decoded))[:5]]}
