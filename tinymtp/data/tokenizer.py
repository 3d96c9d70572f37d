"""Characters as tokens.

tinymtp reads text one character at a time: the vocabulary is the sorted set of characters in
the training corpus, and token i is the i-th character of that string. This keeps every token
visible to a learner (the app can draw a token as the character it is) and makes the extra
heads' job concrete: head 3 guesses the character three places ahead.

Left out on purpose: byte-pair encoding, special tokens, unknown-token fallbacks. A character
the model never saw is an error that names it (see `UnknownCharactersError`), because silently
mapping it to something else would make the model's guesses look wrong for no visible reason.

Explained in notebooks/01_corpus_and_tokenizer.ipynb.
"""

from __future__ import annotations

from ..core.errors import TinyMTPError, UnknownCharactersError


class CharTokenizer:
    """Maps characters to integer ids and back; the vocabulary travels inside every checkpoint."""

    def __init__(self, vocab: str):
        if not vocab:
            raise TinyMTPError("the vocabulary is empty")
        if len(set(vocab)) != len(vocab):
            raise TinyMTPError("the vocabulary repeats a character")
        self.vocab = vocab
        self.char_to_id = {ch: i for i, ch in enumerate(vocab)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """Build the vocabulary from every distinct character in `text`, sorted."""
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def unknown_characters(self, text: str) -> list[str]:
        """The distinct characters of `text` outside the vocabulary, in order of appearance."""
        return list(dict.fromkeys(ch for ch in text if ch not in self.char_to_id))

    def encode(self, text: str) -> list[int]:
        unknown = self.unknown_characters(text)
        if unknown:
            raise UnknownCharactersError(unknown)
        return [self.char_to_id[ch] for ch in text]

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in ids)

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and other.vocab == self.vocab

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def encode_prompt(tokenizer: CharTokenizer, text: str, max_length: int | None = None) -> list[int]:
    """A prompt's token ids; an empty, too long or unknown-character prompt is a TinyMTPError."""
    if not text:
        raise TinyMTPError("the prompt is empty: give at least one character to continue")
    tokens = tokenizer.encode(text)  # UnknownCharactersError names the characters
    if max_length is not None and len(tokens) > max_length:
        raise TinyMTPError(f"the prompt has {len(tokens)} characters; this model reads at most {max_length} here")
    return tokens
