"""Heads: what does each head predict, at every position of a prompt?

The predictions are computed once per (model, prompt, top-k) and kept in the session, so moving
the position slider (a fragment: only its section reruns) runs no forward pass.
"""

import models
import streamlit as st
import ui

from tinymtp import viz
from tinymtp.analysis.predictions import head_predictions, max_prompt_length
from tinymtp.core.errors import TinyMTPError

MAX_SHOWN = 64  # columns in the grid; longer prompts would make the cells unreadable
PRESENTED = 24  # columns of the grid in presentation mode (a projector): the prompt's last characters
KEPT = 8  # predictions kept per session: a few prompts to go back to, never a growing pile

st.title("What does each head predict?")
entry = models.current_model()
model, tokenizer = entry.model, entry.tokenizer
n = entry.n_heads
limit = min(MAX_SHOWN, max_prompt_length(model))

left, right = ui.explained(
    f"At every position **t** of the prompt, **head k guesses the character k places ahead**, "
    f"x[t+k] (this model has {n} head{'s' if n > 1 else ''}; head 1 is the usual next-character "
    "head). In the grid, columns are your prompt's characters and rows are heads; each cell is "
    "that head's top guess, darker when it is more sure.\n\n"
    "- **● green**: the guess matches the **real text**;\n"
    "- **◆ orange**: it matches what **head 1 would write** itself from there, which is what "
    "speculative decoding checks, so it predicts the speed-up.\n\n"
    "**Try** code with a predictable ending (`self.name = name`, brackets, indentation), then "
    "plain English (outside a code model's training text): how far ahead do the heads stay right?",
    notebook="05_what_the_heads_know.ipynb")
with right:
    ui.diagram("fan-of-heads", "one trunk, n heads, one shared unembedding: head k predicts x[t+k]")
if model.chained:  # causal or sequential heads read the tokens between t and their target
    st.info(f"This model's heads 2..{n} are **{model.config.head_type}** heads: each reads the characters "
            "between t and the one it guesses. Here they read your prompt's own characters (teacher "
            "forcing), so they look better than when drafting, where they read their own earlier drafts.",
            icon=":material/info:")

examples = ui.examples_for(tokenizer, entry)
snippets = ui.corpus_examples(entry, length=48)
choices = {f"Example {i + 1}: {e.splitlines()[0][:40]}{ui.example_note(entry, e)}": e for i, e in enumerate(examples)}
choices.update({f"From the validation text {i + 1}: {s.strip().splitlines()[0][:32]}": s
                for i, s in enumerate(snippets)})
if "heads_prompt" not in st.session_state:
    st.session_state["heads_prompt"] = (examples or snippets or [""])[0][:limit]


def use_example():
    chosen = st.session_state.get("heads_example")
    if chosen in choices:
        st.session_state["heads_prompt"] = choices[chosen][:limit]


with left:
    if choices:
        st.selectbox("Pick a prompt", list(choices), key="heads_example", on_change=use_example, index=None,
                     placeholder="Choose an example, or type your own below")
    text = st.text_area(f"Prompt (at most {limit} characters)", key="heads_prompt", height=110,
                        max_chars=limit, help="Characters the model never saw in training are refused.")
    top_k = st.slider("Guesses per head in the bars below (top-k)", 2, 10, 5, key="heads_top_k")



def predictions(text: str, top_k: int):
    """head_predictions for the picked model, from this session's store when it has them.
    Keyed by the model object's identity as well as its label: a retrained model may reuse a
    label, and the session holds the model, so the identity stays valid while it is stored."""
    store = st.session_state.setdefault("heads_predictions", {})
    key = (entry.label, id(model), text, top_k)
    if key not in store:
        store[key] = head_predictions(model, tokenizer, text, top_k=top_k)
        while len(store) > KEPT:
            store.pop(next(iter(store)))  # the oldest first
    return store[key]


try:
    pred = predictions(text, top_k)
except TinyMTPError as exc:
    ui.show_error(exc)
    st.stop()

shown = PRESENTED if ui.presenting() and pred.length > PRESENTED else None  # large text needs wide cells
ui.plot(viz.head_grid(pred, title=f"Each head's top guess (model: {entry.label})"
                      + (f", the prompt's last {shown} characters" if shown else ""), last=shown), key="heads_grid")
if ui.example_note(entry, text):
    st.caption(f":material/translate: This example is{ui.example_note(entry, text)}: the heads guess text unlike "
               "anything they were trained on, so expect them to be right less often.")



@st.fragment
def one_position(pred) -> None:
    """The slider and its bars: moving the slider reruns this section only."""
    st.subheader("All guesses at one position")
    cols = ui.side_by_side([3, 2], gap="large")
    with cols[0]:
        default_t = min(pred.length - 1, max(0, pred.length // 2))
        t = st.select_slider(
            "Position t (the character just read)", options=list(range(pred.length)), value=default_t,
            key="heads_position",
            format_func=lambda i: f"t={i} · {viz.show_char(pred.chars[i])}")
    with cols[1]:
        st.caption("Each panel is one head's top guesses after reading up to position t. "
                   "✓ marks the real next characters, ◆ what head 1 would generate.")
    ui.plot(viz.topk_bars(pred, t), key="heads_topk")


one_position(pred)

st.subheader("How often is each head right on this prompt?")
rows = pred.accuracy()
a, b = ui.side_by_side([3, 2], gap="large")
with a:
    ui.plot(viz.head_accuracy(rows), key="heads_accuracy", share=ui.LEFT_SHARE)
with b:
    ui.explain(
        "**Matches the real text**: the usual accuracy. Head k's guess at t is compared with "
        "x[t+k]; the last k positions have nothing to compare with.\n\n"
        "**Matches what head 1 would generate**: head 1 is always 100% here by definition. "
        "For heads 2 and up, it says how often head k's guess is the token greedy decoding "
        "writes k steps later: the number behind the speed-up. It is not yet the decoder's "
        "acceptance: a draft is kept only when every nearer draft of its round was kept too, so "
        "head k's share of rounds is lower (the Speculative page measures both rates).\n\n"
        "Usually both fall as k grows: guessing further ahead is harder.",
        title="Two meanings of accuracy")
    table = [{"head": r["head"],
              "matches real text": "–" if r["text_accuracy"] is None else f"{r['text_accuracy']:.0%} of {r['text_count']}",
              "matches head 1's generation": f"{r['greedy_accuracy']:.0%} of {r['greedy_count']}"} for r in rows]
    st.dataframe(table, hide_index=True)
