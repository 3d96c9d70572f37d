"""Speculative decoding, live: the heads draft, one forward pass checks, round by round.

The page is a stage: the round buttons and the round's figure come first and share one screen
(1024x768 with the sidebar open); the settings and the explanations fold into expanders above
them. Everything that changes per round is one fragment (Step, Back and each tick of Play rerun
it alone) and its figures come from tinymtp.viz.stage.round_view, built in time that does not
grow with the run.
"""

from dataclasses import replace

import models
import streamlit as st
import ui

from tinymtp import viz
from tinymtp.core.errors import TinyMTPError
from tinymtp.decoding.decode import generate
from tinymtp.decoding.settings import DecodeSettings
from tinymtp.viz.replay import replay_html

OWN_HEADS, DRAFT_MODEL, LOOKUP = "the model's own heads", "a separate draft model", "the text itself (lookup)"
SEQUENTIAL = "sequential heads on its trunk ({})"  # a shipped model's sequential heads grown on this model's trunk

st.title("Speculative decoding, live")
entry = models.current_model()
model, tokenizer, n = entry.model, entry.tokenizer, entry.n_heads
shipped = models.shipped_checkpoints()
draft_label = "draft" if "draft" in shipped else None
sibling = models.sequential_drafter_for(entry)  # seq-5head for mtp-4head: the same head 1, drafts that read drafts

settings_column, help_column = st.columns([3, 1])  # one row: the stage below starts higher
with help_column.popover("Explain", icon=":material/help:", width="stretch"):
    ui.explain(
        "Plain decoding runs the whole model once per character. **Self-speculative decoding** uses the "
        "extra heads as a free draft: head 1's choice is sure, heads 2, 3, … guess the characters after it, "
        "and the next forward pass feeds the sure character **and** the drafts at once while head 1 checks "
        "every draft. Drafts are kept up to the first one head 1 disagrees with; there head 1's own choice "
        "replaces it (**corrected**); if all pass, head 1 adds one more (**bonus**).\n\n"
        "**Greedy**: exactly plain greedy's text, in fewer passes. **Sampling**: a draft is kept when a "
        "uniform draw u falls below min(1, p/q), so the text is distributed exactly like plain sampling. "
        "**Tree** (Medusa): several guesses per head in one pass, branches kept apart by the attention mask.",
        notebook="06_self_speculative_decoding.ipynb", title="The idea")
    st.caption(":material/menu_book: Sampling: `notebooks/07_speculative_sampling.ipynb`; trees and causal "
               "heads: `notebooks/09_trees_and_causal_heads.ipynb`. Keys: → steps, ← goes back.")
    ui.diagram("speculative-timeline", "draft, verify in one forward, keep the agreeing prefix, roll back the rest")
    ui.diagram("tree-with-mask", "a candidate tree and the attention mask that keeps its branches apart")

with settings_column.expander("Settings: prompt, drafter, mode, length", icon=":material/tune:"):
    examples = ui.examples_for(tokenizer, entry)
    if "spec_prompt" not in st.session_state:
        st.session_state["spec_prompt"] = examples[0] if examples else ""
    prompt = st.text_area("Prompt", key="spec_prompt", height=90, max_chars=400)
    c1, c2, c3 = st.columns(3)
    sequential = SEQUENTIAL.format(sibling.label) if sibling else None
    drafter_options = ([sequential] if sequential else []) + [OWN_HEADS] + (
        [DRAFT_MODEL] if draft_label and draft_label != entry.label else []) + [LOOKUP]
    drafter = c1.radio("Drafts from", drafter_options, key="spec_drafter",
                       help="sequential heads: another shipped model's heads, grown on this model's own trunk and "
                            "head 1, each reading the drafts before it (the text is this model's; the fastest "
                            "drafter on corpus-like text). lookup (prompt lookup decoding): the characters that "
                            "followed the last earlier copy of the text's last few characters; no model drafts.")
    mode = c2.radio("Mode", ["greedy", "sampling"], horizontal=True, key="spec_mode",
                    help="greedy: always the most likely character. sampling: draw at random from head 1's "
                         "distribution (temperature, top-k).")
    if drafter == LOOKUP and mode == "sampling":  # a draft without probabilities: q puts all its mass on it
        c2.caption("Lookup's drafts have no probabilities: each is kept with probability p(draft).")
    max_new = c3.slider("New characters", 10, 200, 60, step=10, key="spec_max_new")
    c4, c5, c6 = st.columns(3)
    drafting = sibling if drafter == sequential else entry  # whose heads draft; head 1 is the same in both
    if drafter == OWN_HEADS and n < 2:
        st.warning(f"'{entry.label}' has a single head, so it has nothing to draft with. Pick a model with "
                   "several heads in the sidebar (e.g. mtp-4head), or let a separate draft model draft.")
        st.stop()
    if drafter in (OWN_HEADS, sequential):
        heads, key = drafting.n_heads, "spec_drafting" if drafter == OWN_HEADS else "spec_drafting_seq"
        draft_len = c4.slider("draft_len: drafted per round", 1, heads - 1, heads - 1, key=key,
                              help="heads 2..draft_len+1 draft; each round can add up to draft_len + 1 characters.")
    else:
        draft_len = c4.slider("draft_len: drafted per round", 1, 8, 3, key="spec_draft_tokens")
    speed = c5.slider("Play speed (seconds per round)", 0.2, 2.0, 0.6, step=0.1, key="spec_speed")
    shape, tree_text = "chain", None
    if drafter in (OWN_HEADS, sequential) and mode == "greedy":
        shape = c6.radio("Drafts as", ["chain", "tree"], horizontal=True, key="spec_shape",
                         help="chain: each head's best guess, one after the other. tree (Medusa): several "
                              "guesses per head, every combination checked in the same forward pass.")
        if shape == "tree":
            tree_text = st.text_input(
                "Tree shape", "default", key="spec_tree", max_chars=200,
                help="'default' (chosen by measurement), widths per depth such as '3,2,1' (head 2's top 3 × "
                     "head 3's top 2 × head 4's top 1), or paths of ranks such as [[0],[1],[0,0]].")
    if mode == "sampling":
        s1, s2, s3 = st.columns(3)
        temperature = s1.slider("Temperature", 0.1, 2.0, 0.8, step=0.1, key="spec_temperature")
        top_k = s2.number_input("Top-k (0 = off)", 0, tokenizer.vocab_size, 0, key="spec_top_k") or None
        seed = s3.number_input("Seed", 0, 10_000, 0, key="spec_seed")
    else:
        temperature, top_k, seed = 0.0, None, 0

if drafter == DRAFT_MODEL:
    spec_mode = "draft-model"
elif drafter == LOOKUP:
    spec_mode = "lookup" if mode == "greedy" else "lookup-sample"
elif shape == "tree":
    spec_mode = "tree"
else:
    spec_mode = "speculative" if mode == "greedy" else "speculative-sample"
base_mode = "greedy" if mode == "greedy" else "sample"
spec_model = drafting.model  # what the speculative run decodes with: this model, or the one whose heads draft for it
settings = (entry.label, id(model), id(spec_model), prompt, spec_mode, temperature, top_k, draft_len, max_new, seed, tree_text)
tree_arg = {"tree": None if tree_text in (None, "", "default") else tree_text} if spec_mode == "tree" else {}
st.caption(f"{entry.label}" + (f" (heads 2-{draft_len + 1} of {drafting.label} draft)" if drafting is not entry else "")
           + f" · {spec_mode} against plain {base_mode}"
           + (f" at temperature {temperature:g}" if mode == "sampling" else "")
           + f" · {max_new} new characters · draft_len {draft_len}")

if st.session_state.get("spec_settings") != settings:
    try:
        draft_model = models.get_model(draft_label).model if spec_mode == "draft-model" else None
        sampled = dict(temperature=temperature if mode == "sampling" else 0.0, top_k=top_k, seed=seed)
        spec_settings = DecodeSettings(spec_mode, max_new, draft_len=draft_len, **sampled, **tree_arg).for_model(spec_model)
        base_settings = DecodeSettings(base_mode, max_new, **sampled)
        with st.spinner("Decoding…"):
            for who, warm in ((model, base_settings), (spec_model, spec_settings)):  # warm up both paths: fair timings
                generate(who, tokenizer, prompt, replace(warm, max_new_tokens=2), draft_model)
            spec = generate(spec_model, tokenizer, prompt, spec_settings, draft_model)
            base = generate(model, tokenizer, prompt, base_settings)
    except TinyMTPError as exc:
        st.session_state.pop("spec_settings", None)
        ui.show_error(exc)
        st.stop()
    st.session_state.update(spec_settings=settings, spec_result=spec, spec_base=base, spec_shown=1,
                            spec_playing=False, spec_trap=viz.trap(spec, base, tokenizer))

spec, base = st.session_state["spec_result"], st.session_state["spec_base"]
found = st.session_state["spec_trap"]
total = len(spec.trace.rounds)
playing = st.session_state.get("spec_playing", False)  # the round viewer's timer, as this full run sets it


def go_to(shown: int, play: bool = False) -> None:
    st.session_state["spec_shown"] = min(total, max(1, shown))
    st.session_state["spec_playing"] = play


def go_by(rounds: int) -> None:
    """From the round shown when the button is pressed (Play may have moved on since it was drawn)."""
    go_to(st.session_state["spec_shown"] + rounds)


def play():
    go_to(1 if st.session_state["spec_shown"] >= total else st.session_state["spec_shown"], play=True)


def controls() -> None:
    """Back, Step, Play or Pause, To the end, in one row across the page (Play at the end starts
    again from round 0); the arrow keys press Back and Step. Inside the round viewer, so a press
    reruns it alone."""
    now_playing, shown = st.session_state.get("spec_playing", False), st.session_state["spec_shown"]
    b = st.columns(4)
    b[0].button("Back", on_click=go_by, args=(-1,), key="spec_back", icon=":material/skip_previous:",
                disabled=now_playing or shown <= 1, width="stretch", shortcut="Left")
    b[1].button("Step", on_click=go_by, args=(1,), key="spec_step", icon=":material/skip_next:",
                disabled=now_playing or shown >= total, width="stretch", shortcut="Right", type="primary")
    if now_playing:
        b[2].button("Pause", on_click=go_by, args=(0,), key="spec_pause", icon=":material/pause:", width="stretch")
    else:
        b[2].button("Play", on_click=play, key="spec_play", icon=":material/play_arrow:", width="stretch")
    b[3].button("To the end", on_click=go_to, args=(total,), key="spec_end", icon=":material/last_page:",
                width="stretch")


def advance() -> int:
    """The round to show. Play and Pause change the viewer's timer, which only a full run sets, so
    they ask for one; while playing, each tick of the timer shows the next round."""
    now_playing = st.session_state.get("spec_playing", False)
    if now_playing != playing:
        st.rerun()
    shown = st.session_state["spec_shown"]
    if now_playing:
        if shown < total:
            shown = st.session_state["spec_shown"] = shown + 1
        if shown >= total:  # done: stop the timer with a full run
            st.session_state["spec_playing"] = False
            st.rerun()
    return shown


def round_header(so_far, shown: int) -> None:
    """Where the run is, in one line, and the loop warning once the text has started looping."""
    summary = so_far.summary()
    st.markdown(f"**Round {shown - 1} of {total - 1}** · {summary['tokens']} characters in {summary['forwards']} "
                f"forward passes: {summary['tokens_per_forward']:.2f} per pass"
                + (" · playing" if st.session_state.get("spec_playing") else ""))
    if found.reached(shown):
        st.warning(f"From round {found.spec_round} the text repeats one stretch to the end (a loop). Inside a "
                   "loop head 1 reads the same context every period, so every draft is easy: tokens per forward "
                   "from here measures the loop, not the heads.", icon=":material/autorenew:")


def this_round(rnd, view: dict) -> None:
    """The shown round: the prefill, a round without drafts, a tree, or a chain of drafts."""
    if rnd.kind == "prefill":
        first = tokenizer.decode(rnd.committed)
        st.info(f"**Round 0, prefill.** The model reads the {len(rnd.fed)}-character prompt in one forward "
                f"pass (KV cache {rnd.cache_before} → {rnd.cache_after}). Head 1's choice is the first new "
                f"character, {viz.show_char(first)!r}; "
                + ("the draft model then drafts the next ones. " if spec_mode == "draft-model" else
                   "the other heads' guesses become the first drafts. ") +
                "Press **Step** (or →) to verify them.", icon=":material/input:")
    elif not rnd.checks:
        st.info(f"Round {rnd.index}: no drafts this time (for example at the end of the context window); "
                f"one character written, {viz.show_char(tokenizer.decode(rnd.committed))!r}.")
    elif rnd.tree:
        t1, t2 = ui.side_by_side([3, 2])
        with t1:
            ui.plot(view["tree"], key="spec_tree_fig", share=0.6)
        with t2:
            ui.plot(view["mask"], key="spec_tree_mask", share=0.4)
        st.caption("Every candidate went into ONE forward pass. The mask lets each candidate see the prompt, "
                   "the root and its own ancestors only; a candidate is accepted when it equals head 1's "
                   f"choice at its parent. {viz.ACCEPT_MARK} accepted (the kept path, thick), {viz.REJECT_MARK} "
                   "rejected, · never checked because its parent was rejected.")
    else:
        ui.plot(view["round"], key="spec_round")
    if rnd.note:
        st.caption(f":material/info: {rnd.note}")


def progress_charts(so_far, view: dict) -> None:
    """Tokens per forward and acceptance so far, then both decoders' forward passes side by side."""
    summary = so_far.summary()
    g1, g2 = ui.side_by_side(2)
    with g1:
        ui.plot(view["tokens_per_forward"], key="spec_tpf", share=0.5)
    with g2:
        ui.plot(view["acceptance"], key="spec_accept", share=0.5)
    if summary["acceptance_length"] is not None:
        given = ", ".join(f"{a.get('label', 'head ' + str(a['head']))} {a['conditional']:.0%}"
                          for a in summary["acceptance_per_head"] if a["conditional"] is not None)
        st.caption(f"**Acceptance length** so far: {summary['acceptance_length']:.2f} characters per verifying "
                   f"round, head 1's corrected or bonus character included ({summary['drafts_accepted_per_round']:.2f} "
                   "drafts kept). The bars count all the rounds that drafted; among the rounds that kept every "
                   f"earlier draft (the conditional rate): {given or 'no round got that far yet'}.")
    ui.plot(view["lanes"], key="spec_lanes")


@st.fragment(run_every=speed if playing else None)
def round_viewer() -> None:
    """Everything that changes from round to round. A fragment: Step, Back and each tick of Play
    rerun this function only, not the page's settings or the whole run's parts below it."""
    controls()
    shown = advance()
    rnd = spec.trace.rounds[shown - 1]
    so_far = spec.trace.upto(shown)
    view = viz.round_view(spec, base, tokenizer, shown, prompt, draft_len, names=(base_mode, spec_mode), found=found)
    round_header(so_far, shown)
    this_round(rnd, view)
    st.html(view["text"])
    if rnd.checks and not rnd.tree:
        st.dataframe(viz.round_table(rnd, mode=spec.trace.mode), hide_index=True)
    progress_charts(so_far, view)


def whole_run() -> None:
    """The whole run's time and whether it matches plain decoding: the same for every round."""
    st.markdown("##### The whole run")
    w1, w2 = ui.side_by_side([3, 2])
    with w1:
        ui.plot(viz.wall_clock({base_mode: base.trace.seconds, spec_mode: spec.trace.seconds},
                               title="Wall-clock time for the whole run (one run: expect noise)"), key="spec_wall",
                share=0.6)
    with w2:
        if mode == "greedy":
            if spec.tokens == base.tokens:
                st.success(f"Identical to plain greedy decoding: all {len(spec.tokens)} characters match, "
                           f"with {len(spec.trace.rounds)} forward passes instead of {len(base.trace.rounds)}.",
                           icon=":material/verified:")
            else:
                first = next((i for i, (a, c) in enumerate(zip(spec.tokens, base.tokens, strict=False)) if a != c),
                             min(len(spec.tokens), len(base.tokens)))
                st.error(f"Speculative output differs from plain greedy decoding at character {first}: this is a "
                         "bug (greedy speculative decoding must be exact).", icon=":material/error:")
        else:
            st.info("Sampling: each run draws different text, so speculative and plain sampling are not the "
                    "same text. The rule makes them the same *distribution*; notebook 07 checks it "
                    "over many samples.", icon=":material/casino:")
    st.caption(f"Plain {base_mode}'s text, as written (spaces and newlines kept):")
    st.code(base.text, language=None, wrap_lines=True, height=min(200, 40 + 22 * base.text.count("\n")))


def replay_button() -> None:
    """The run as one offline HTML file that plays back round by round (tinymtp/viz/replay.py),
    made once per run, for slides or a machine without Python."""
    if st.session_state.get("spec_replay_of") is not spec:
        page = replay_html(prompt, spec.trace, tokenizer, title=f"tinymtp replay: {spec_mode} decoding, {entry.label}")
        st.session_state.update(spec_replay=page, spec_replay_of=spec)
    st.download_button("Download this run as an offline replay (HTML)", st.session_state["spec_replay"],
                       file_name=f"tinymtp-replay-{spec_mode}.html", mime="text/html", key="spec_replay_download",
                       icon=":material/download:", help="One self-contained file: opens in any browser, no "
                       "network, no Python; Back / Next / Play or the arrow keys step through the rounds.")


round_viewer()
replay_button()
whole_run()
