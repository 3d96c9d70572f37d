"""Speculative decoding, live: the heads draft, one forward pass checks, round by round."""

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

st.title("Speculative decoding, live")
entry = models.current_model()
model, tokenizer, n = entry.model, entry.tokenizer, entry.n_heads

left, right = ui.explained(
    "Plain decoding runs the whole model once per character. **Self-speculative decoding** "
    "uses the extra heads as a free draft: after each forward pass, head 1's choice is sure, "
    "and heads 2, 3, … guess the characters after it. The next forward pass feeds the sure "
    "character **and** the drafts at once, and head 1 checks every draft in that same pass. "
    "Drafts are kept up to the first one head 1 disagrees with; there head 1's own choice "
    "replaces it (**corrected**), and if all drafts pass, head 1 adds one more (**bonus**).\n\n"
    "In **greedy** mode the result is exactly what plain greedy decoding writes, only with "
    "fewer forward passes. In **sampling** mode an accept/reject rule with a random draw keeps "
    "the text distributed exactly like plain sampling.\n\n"
    "**Drafts as: tree** (Medusa) puts several guesses per head into the same forward pass, "
    "with an attention mask that keeps the branches apart, and keeps the longest branch head 1 "
    "agrees with.\n\n"
    "**Try:** Step through a few rounds, then Play. Change draft_len (how many heads draft) and "
    "watch tokens per forward; switch to sampling and raise the temperature; try a tree.",
    notebook="06_self_speculative_decoding.ipynb")
with right:
    st.caption(":material/menu_book: Sampling mode in depth: `notebooks/07_speculative_sampling.ipynb`; "
               "trees and causal heads: `notebooks/09_trees_and_causal_heads.ipynb`")
    ui.diagram("speculative-timeline", "draft, verify in one forward, keep the agreeing prefix, roll back the rest")
    ui.diagram("tree-with-mask", "a candidate tree and the attention mask that keeps its branches apart")

shipped = models.shipped_checkpoints()
draft_label = "draft" if "draft" in shipped else None
with left:
    examples = ui.examples_for(tokenizer)
    if "spec_prompt" not in st.session_state:
        st.session_state["spec_prompt"] = examples[0] if examples else ""
    prompt = st.text_area("Prompt", key="spec_prompt", height=90, max_chars=400)
    c1, c2, c3 = st.columns(3)
    drafter_options = [OWN_HEADS] + ([DRAFT_MODEL] if draft_label and draft_label != entry.label else []) + [LOOKUP]
    drafter = c1.radio("Drafts from", drafter_options, key="spec_drafter",
                       help="lookup (prompt lookup decoding): the characters that followed the last earlier "
                            "copy of the text's last few characters; no model drafts, greedy only.")
    mode = c2.radio("Mode", ["greedy", "sampling"], horizontal=True, key="spec_mode",
                    help="greedy: always the most likely character. sampling: draw at random from head 1's "
                         "distribution (temperature, top-k).")
    max_new = c3.slider("New characters", 10, 200, 60, step=10, key="spec_max_new")
    c4, c5, c6 = st.columns(3)
    if drafter == OWN_HEADS:
        if n < 2:
            st.warning(f"'{entry.label}' has a single head, so it has nothing to draft with. Pick a model with "
                       "several heads in the sidebar (e.g. mtp-4head), or let a separate draft model draft.")
            st.stop()
        draft_len = c4.slider("draft_len: drafted per round", 1, n - 1, n - 1, key="spec_drafting",
                              help="heads 2..draft_len+1 draft; each round can add up to draft_len + 1 characters.")
    else:
        draft_len = c4.slider("draft_len: drafted per round", 1, 8, 3, key="spec_draft_tokens")
    speed = c5.slider("Play speed (seconds per round)", 0.2, 2.0, 0.6, step=0.1, key="spec_speed")
    shape, tree_text = "chain", None
    if drafter == OWN_HEADS and mode == "greedy":
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

if drafter == LOOKUP and mode == "sampling":
    st.info("Prompt lookup drafts without probabilities, so it decodes greedily here: switch Mode to greedy.")
    st.stop()
if drafter == DRAFT_MODEL:
    spec_mode = "draft-model"
elif drafter == LOOKUP:
    spec_mode = "lookup"
elif shape == "tree":
    spec_mode = "tree"
else:
    spec_mode = "speculative" if mode == "greedy" else "speculative-sample"
base_mode = "greedy" if mode == "greedy" else "sample"
settings = (entry.label, id(model), prompt, spec_mode, temperature, top_k, draft_len, max_new, seed, tree_text)
tree_arg = {"tree": None if tree_text in (None, "", "default") else tree_text} if spec_mode == "tree" else {}

if st.session_state.get("spec_settings") != settings:
    try:
        draft_model = models.get_model(draft_label).model if spec_mode == "draft-model" else None
        sampled = dict(temperature=temperature if mode == "sampling" else 0.0, top_k=top_k, seed=seed)
        spec_settings = DecodeSettings(spec_mode, max_new, draft_len=draft_len, **sampled, **tree_arg).for_model(model)
        base_settings = DecodeSettings(base_mode, max_new, **sampled)
        with st.spinner("Decoding…"):
            for warm in (base_settings, spec_settings):  # warm up both paths so the timings compare fairly
                generate(model, tokenizer, prompt, replace(warm, max_new_tokens=2), draft_model)
            spec = generate(model, tokenizer, prompt, spec_settings, draft_model)
            base = generate(model, tokenizer, prompt, base_settings)
    except TinyMTPError as exc:
        st.session_state.pop("spec_settings", None)
        ui.show_error(exc)
        st.stop()
    wall = viz.wall_clock({base_mode: base.trace.seconds, spec_mode: spec.trace.seconds},
                          title="Wall-clock time for the whole run (one run: expect noise)")
    st.session_state.update(spec_settings=settings, spec_result=spec, spec_base=base, spec_shown=1,
                            spec_playing=False, spec_wall_figure=wall)  # the figure: drawn per run, not per round

spec, base = st.session_state["spec_result"], st.session_state["spec_base"]
total = len(spec.trace.rounds)
playing = st.session_state.get("spec_playing", False)  # the round viewer's timer, as this full run sets it


def step():
    st.session_state["spec_shown"] = min(total, st.session_state["spec_shown"] + 1)
    st.session_state["spec_playing"] = False


def play():
    if st.session_state["spec_shown"] >= total:
        st.session_state["spec_shown"] = 1
    st.session_state["spec_playing"] = True


def pause():
    st.session_state["spec_playing"] = False


def reset():
    st.session_state["spec_shown"] = 1
    st.session_state["spec_playing"] = False


def to_end():
    st.session_state["spec_shown"] = total
    st.session_state["spec_playing"] = False


def controls() -> None:
    """Step, Play or Pause, Reset, To the end: inside the round viewer, so a press reruns it alone."""
    now_playing = st.session_state.get("spec_playing", False)
    b = st.columns([3, 2], gap="large")[0].columns(4)
    b[0].button("Step", on_click=step, key="spec_step", icon=":material/skip_next:", disabled=now_playing,
                width="stretch")
    if now_playing:
        b[1].button("Pause", on_click=pause, key="spec_pause", icon=":material/pause:", width="stretch")
    else:
        b[1].button("Play", on_click=play, key="spec_play", icon=":material/play_arrow:", width="stretch")
    b[2].button("Reset", on_click=reset, key="spec_reset", icon=":material/restart_alt:", width="stretch")
    b[3].button("To the end", on_click=to_end, key="spec_end", icon=":material/last_page:", width="stretch")


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


def round_header(so_far, rnd, shown: int) -> None:
    """Where the run is, and what it has saved so far."""
    summary = so_far.summary()
    greedy_forwards = summary["tokens"]  # plain decoding: one forward per token
    st.markdown(f"**Round {shown - 1} of {total - 1}** · forward pass {shown} of {total} · "
                f"{'playing' if st.session_state.get('spec_playing') else 'paused'}")
    m = st.columns(5)
    m[0].metric("Characters written", summary["tokens"])
    m[1].metric("Forward passes", summary["forwards"])
    m[2].metric("Characters per forward", f"{summary['tokens_per_forward']:.2f}")
    m[3].metric("Forward passes saved", greedy_forwards - summary["forwards"],
                help="Plain decoding needs one forward pass per character.")
    m[4].metric("KV cache length", rnd.cache_after, delta=rnd.cache_after - rnd.cache_before,
                delta_color="off", help="Positions the cache holds after this round (rejected drafts are rolled back).")


def tree_round(rnd) -> None:
    """A tree round: its candidates, the attention mask that kept the branches apart, the checks."""
    t1, t2 = st.columns([3, 2])
    with t1:
        ui.plot(viz.candidate_tree(rnd, tokenizer), key="spec_tree_fig")
    with t2:
        ui.plot(viz.tree_attention_mask(rnd), key="spec_tree_mask")
    st.caption("Every candidate went into ONE forward pass. The mask lets each candidate see the prompt, "
               "the root and its own ancestors only, so it is computed as if its branch were the only "
               "continuation; a candidate is accepted when it equals head 1's choice at its parent. "
               f"{viz.ACCEPT_MARK} accepted (the kept path, thick), {viz.REJECT_MARK} rejected, · never "
               "checked because its parent was rejected. The kept path's keys and values then move next "
               "to the prefix in the KV cache; the others are forgotten.")
    st.dataframe(viz.round_rows(rnd, mode=spec.trace.mode), hide_index=True)


def this_round(rnd) -> None:
    """The shown round: the prefill, a round without drafts, a tree, or a chain of drafts."""
    if rnd.kind == "prefill":
        first = tokenizer.decode(rnd.committed)
        st.info(f"**Round 0, prefill.** The model reads the {len(rnd.fed)}-character prompt in one forward "
                f"pass (KV cache {rnd.cache_before} → {rnd.cache_after}). Head 1's choice is the first new "
                f"character, {viz.show_char(first)!r}; "
                + ("the draft model then drafts the next ones. " if spec_mode == "draft-model" else
                   "the other heads' guesses become the first drafts. ") +
                "Press **Step** to verify them.", icon=":material/input:")
    elif not rnd.checks:
        st.info(f"Round {rnd.index}: no drafts this time (for example at the end of the context window); "
                f"one character written, {viz.show_char(tokenizer.decode(rnd.committed))!r}.")
    elif rnd.tree:
        tree_round(rnd)
    else:
        ui.plot(viz.speculative_round(rnd, tokenizer, mode=spec.trace.mode), key="spec_round")
        if mode == "sampling":
            st.caption("The exact rule: draft x, drawn from its head's distribution q, is kept when a uniform "
                       "draw u < min(1, p(x)/q(x)), p being head 1's distribution. At the first rejection the "
                       "corrected character is drawn from norm(max(0, p − q)), which keeps the output "
                       "distributed exactly like plain sampling.")
        st.dataframe(viz.round_rows(rnd, mode=spec.trace.mode), hide_index=True)
    if rnd.note:
        st.caption(f":material/info: {rnd.note}")


def progress_charts(so_far, shown: int) -> None:
    """Tokens per forward and acceptance so far, then both decoders' forward passes side by side."""
    summary = so_far.summary()
    g1, g2 = st.columns(2)
    with g1:
        ui.plot(viz.tokens_per_forward(so_far, n_heads=draft_len + 1,
                                       greedy_trace=base.trace.upto(shown)), key="spec_tpf")
    with g2:
        ui.plot(viz.acceptance_per_head(so_far), key="spec_accept")
        if summary["acceptance_length"] is not None:
            given = ", ".join(f"{a.get('label', 'head ' + str(a['head']))} {a['conditional']:.0%}"
                              for a in summary["acceptance_per_head"] if a["conditional"] is not None)
            st.caption(f"**Acceptance length** so far: {summary['acceptance_length']:.2f} characters per "
                       f"verifying round, head 1's corrected or bonus character included "
                       f"({summary['drafts_accepted_per_round']:.2f} drafts kept). The bars count all the "
                       "rounds that drafted; counting only the rounds that kept every earlier draft "
                       f"(the conditional rate): {given or 'no round got that far yet'}.")
    ui.plot(viz.lanes(base.trace, spec.trace, tokenizer, forwards=shown,
                      title=f"Lanes: {base_mode} and {spec_mode} decoding, one box per forward pass",
                      names=(base_mode, spec_mode)),
            key="spec_lanes")


@st.fragment(run_every=speed if playing else None)
def round_viewer() -> None:
    """Everything that changes from round to round. A fragment: Step and each tick of Play rerun
    this function only, not the page's settings or the whole run's figures below it."""
    controls()
    shown = advance()
    so_far = spec.trace.upto(shown)
    rnd = spec.trace.rounds[shown - 1]
    round_header(so_far, rnd, shown)
    st.markdown("##### The text so far, coloured by the round that wrote it")
    st.html(viz.committed_text_html(prompt, spec.trace, tokenizer, rounds=shown))
    st.markdown("##### This round")
    this_round(rnd)
    progress_charts(so_far, shown)


def whole_run() -> None:
    """The whole run's time and whether it matches plain decoding: the same for every round."""
    st.markdown("##### The whole run")
    w1, w2 = st.columns([3, 2])
    with w1:
        ui.plot(st.session_state["spec_wall_figure"], key="spec_wall")
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
        st.caption(f"Plain {base_mode}: {base.text!r}"[:300])


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
