"""Compare: next-token only vs multi-token prediction, self-speculative vs a draft model, and
the experiments' saved results."""

import models
import streamlit as st
import ui

from tinymtp import viz
from tinymtp.analysis.predictions import accuracy_rows, head_predictions, max_prompt_length
from tinymtp.analysis.speedup import BenchPlan, measure_decoding
from tinymtp.analysis.speedup import corpus_reference as reference_statistics
from tinymtp.core.errors import TinyMTPError
from tinymtp.data.corpora import BUILT_IN
from tinymtp.experiments import load_results

st.title("Next-token only vs multi-token prediction")
labels = models.model_labels()
if not labels:
    models.current_model()  # shows how to get a model, and stops


def default(name, fallback_index=0):
    return labels.index(name) if name in labels else min(fallback_index, len(labels) - 1)


SEEDS = 2  # sampled runs per prompt


def corpus_reference(entry, prompts: list, new_tokens: int) -> dict | None:
    """The text statistics of the corpus's own continuations of `prompts` (built-in corpora only)."""
    corpus = entry.metadata.get("corpus")
    if corpus not in BUILT_IN:
        return None
    try:
        return reference_statistics(entry.tokenizer, prompts, new_tokens, corpus)
    except (TinyMTPError, ValueError):  # a prompt not from the validation text (the examples)
        return None


def trap_table(result: dict, reference: dict | None) -> list:
    """One row per text: what each decoder wrote, beside the corpus's own text."""
    rows = [{"text": "the corpus's own continuation", "characters per forward": "–", "speed-up": "–",
             "distinct 8-character pieces": f"{reference['distinct_8']:.0%}", "whitespace": f"{reference['whitespace']:.0%}",
             "ends in a loop": f"{reference['looping']:.0%}"}] if reference else []
    for label, row, _ in viz.trap_rows(result):
        error = row.get("standard_error")
        rows.append({"text": label.replace("<br>", " "),
                     "characters per forward": f"{row['tokens_per_forward']:.2f}" + (f" ± {error:.2f}" if error else ""),
                     "speed-up": f"{row['speedup']:.2f}× over plain " + ("sampling" if row.get("temperature") else "greedy"),
                     "distinct 8-character pieces": f"{row['distinct_8']:.0%}" if row["distinct_8"] is not None else "–",
                     "whitespace": f"{row['whitespace']:.0%}" if row["whitespace"] is not None else "–",
                     "ends in a loop": f"{row['looping']:.0%}" if row["looping"] is not None else "–"})
    return rows


def show_measurement(result: dict, reference: dict | None) -> None:
    """Greedy and sampled side by side, then the greedy sweep over draft_len and the draft model."""
    with left:
        ui.plot(viz.trap_figure(result, reference), key="cmp_trap", share=ui.LEFT_SHARE)
    st.dataframe(trap_table(result, reference), hide_index=True)
    sampled = result.get("sampled")
    if sampled:
        st.caption(f"Measured on {result['prompts']} prompts from the validation text × {result['seeds']} seeds "
                   f"(sampled) and {result['max_new_tokens']} new characters each. Quote drafting figures with "
                   "the text they were measured on: the sampled row's text has the corpus's statistics, "
                   "greedy's repeats itself.")
    with left:
        ui.plot(viz.speedup_vs_heads(result), key="cmp_speedup", share=ui.LEFT_SHARE)
        ui.plot(viz.decoding_comparison(result), key="cmp_draft_fig", share=ui.LEFT_SHARE)
    greedy_table(result)


def greedy_table(result: dict) -> None:
    """Greedy self-speculative decoding for each draft_len, and the draft model: counts, speed-ups, acceptance."""
    draft_entry = result["modes"].get("draft-model")
    rows = [result["modes"]["greedy"]] + result["draft_len_sweep"] + ([draft_entry] if draft_entry else [])
    names = ["greedy"] + [f"speculative, draft_len {e['draft_len']} (heads 2..{e['draft_len'] + 1})"
                          for e in result["draft_len_sweep"]] + \
        ([f"draft model ({draft_entry['draft_len']} drafts per round)"] if draft_entry else [])
    st.dataframe([{"decoding": name, "characters": e["tokens"], "forward passes": e["forwards"],
                   "characters per forward": e["tokens_per_forward"], "seconds": e["seconds"],
                   "speed-up": e["speedup"], "predicted speed-up": e.get("predicted_speedup"),
                   "round cost": e.get("round_cost_ratio"), "same text as greedy": "✓ yes" if e["identical"] else "✗ no",
                   "acceptance length": e["acceptance_length"],
                   "kept: share of rounds / conditional": " · ".join(
                       f"{a['head']}: {a['rate']:.0%} / {a['conditional']:.0%}"
                       for a in e["acceptance_per_head"] if a["conditional"] is not None)}
                  for name, e in zip(names, rows, strict=True)], hide_index=True)
    st.caption(f"Greedy rows (the text above repeats itself: read these as an upper bound). {ntp.label} has a "
               "single head, so it always decodes one character per forward pass: its speed-up is 1× by "
               "construction. The draft model's forward passes are not counted above, but its time is in the "
               "seconds. **Acceptance length**: characters per verifying round, head 1's corrected or bonus "
               "character included (EAGLE's and SGLang's convention). **Kept**, per drafting head (per draft "
               "step for the draft model): the share of rounds that kept its draft / the same among the rounds "
               "that kept every earlier draft (the conditional rate). **Predicted speed-up** (the cost model): "
               "acceptance length / **round cost**, a verifying round's median time over a greedy step's, both "
               "from this same measurement; it leaves out reading the prompt, which the measured speed-up "
               "includes.")


c1, c2, c3 = st.columns(3)
ntp_label = c1.selectbox("Next-token model", labels, index=default("ntp-1head"), key="cmp_ntp")
mtp_label = c2.selectbox("MTP model", labels, index=default("mtp-4head"), key="cmp_mtp")
draft_options = ["(none)"] + labels
draft_label = c3.selectbox("Draft model", draft_options,
                           index=draft_options.index("draft") if "draft" in draft_options else 0,
                           key="cmp_draft")

try:
    ntp, mtp = models.get_model(ntp_label), models.get_model(mtp_label)
    draft = None if draft_label == "(none)" else models.get_model(draft_label)
except TinyMTPError as exc:
    ui.show_error(exc)
    st.stop()

st.subheader("1 · What training produced")
left, right = ui.explained(
    "Two models of the same size trained on the same text: one with a single head (the "
    "ordinary **next-token** model), one with several (**MTP**). Left: the next-token loss, "
    "the plain job both models share. At this tiny scale MTP usually costs a little; the MTP "
    "paper (Gloeckle et al. 2024) found it pays off from about 1B parameters. Right: each "
    "head's accuracy falls as it looks further ahead.\n\n"
    "These numbers are read from the checkpoints (measured on the validation text at the end "
    "of training), not recomputed.\n\n"
    "**Try:** train a 1-head and a 4-head model on the Train page and compare them here.",
    notebook="08_related_ideas.ipynb")
with right:
    st.caption(":material/menu_book: Also: `notebooks/00_tour.ipynb`")
compared = {f"{ntp.label} ({ntp.n_heads} head{'s' if ntp.n_heads > 1 else ''})": ntp.metadata,
          f"{mtp.label} ({mtp.n_heads} heads)": mtp.metadata}
if ntp.metadata.get("corpus") != mtp.metadata.get("corpus"):
    st.warning(f"These two models were trained on different text ({ntp.metadata.get('corpus')} and "
               f"{mtp.metadata.get('corpus')}), so their losses are not comparable.")
with left:
    ui.plot(viz.model_comparison(compared), key="cmp_models", share=ui.LEFT_SHARE)
st.dataframe([{"model": e.label, "heads": e.n_heads, "head type": e.model.config.head_type,
               "parameters": f"{e.model.num_parameters():,}", "corpus": e.metadata.get("corpus"),
               "steps": e.metadata.get("steps"), "training seconds": e.metadata.get("seconds"),
               "next-token val loss": e.metadata.get("next_token_val_loss")} for e in (ntp, mtp)],
             hide_index=True)

st.subheader("2 · What the MTP model's heads know")
texts = ui.corpus_examples(mtp, count=6, length=min(48, max_prompt_length(mtp.model))) or \
    ui.examples_for(mtp.tokenizer)
if texts:
    try:
        preds = [head_predictions(mtp.model, mtp.tokenizer, t[: max_prompt_length(mtp.model)]) for t in texts]
        ui.plot(viz.head_accuracy(accuracy_rows(preds), title=f"{mtp.label}: accuracy per head on "
                                      f"{len(texts)} snippets of its validation text (computed live)"),
                    key="cmp_heads")
        st.caption("Green: the guess matches the real text. Orange: it matches what head 1 would generate "
                   "there, so head 1 would agree with it as a draft; a greedy speculative decoder keeps it "
                   "only when every nearer draft was kept too (see the acceptance rates below).")
    except TinyMTPError as exc:
        ui.show_error(exc)

st.subheader("3 · Decoding speed, and on what text")
left, right = ui.explained(
    "The extra heads draft for free: speculative decoding keeps every draft head 1 accepts, so each "
    "forward pass writes 1 to k + 1 characters with k drafting heads. **On what text** matters: greedy "
    "text of a model this small falls into loops (mostly runs of spaces), and inside a loop every draft "
    "is easy. So the figure puts **exact speculative sampling at temperature 1** (text with the corpus's "
    "own statistics) beside **greedy**, each with the share of distinct 8-character pieces of its text.\n\n"
    "Measured **live on this machine** when you press the button, on the same prompts for every "
    "setting. A laptop CPU is noisy: measure twice to see how much the numbers move.",
    notebook="06_self_speculative_decoding.ipynb")
with left:
    d1, d2 = st.columns(2)
    n_prompts = d1.slider("Prompts", 1, 6, 3, key="cmp_prompts")
    n_tokens = d2.slider("New characters per prompt", 16, 160, 48, step=16, key="cmp_tokens")
    run = st.button("Measure", type="primary", key="cmp_measure", icon=":material/speed:")
key = (ntp_label, mtp_label, draft_label, n_prompts, n_tokens)
if run:
    prompts = (ui.corpus_examples(mtp, count=n_prompts, length=32) or ui.examples_for(mtp.tokenizer, mtp))
    prompts = prompts[:n_prompts]
    if mtp.n_heads < 2:
        left.error(f"'{mtp.label}' has one head: it cannot draft for itself. Pick a model with several heads.")
    elif not prompts:
        left.error("No prompt fits this model's vocabulary.")
    else:
        bar = left.progress(0.0, text="Decoding…")
        try:
            plan = BenchPlan(max_new_tokens=n_tokens, repeats=1, draft_tokens=mtp.n_heads - 1, temperatures=(1.0,),
                             seeds=SEEDS)
            result = measure_decoding(mtp.model, mtp.tokenizer, prompts, plan, draft.model if draft else None,
                                      on_progress=lambda done, total: bar.progress(
                                          done / total, text=f"Decoding… {done / total:.0%}"))
            st.session_state["cmp_result"] = (key, result, corpus_reference(mtp, prompts, n_tokens))
        except TinyMTPError as exc:
            ui.show_error(exc)
        bar.empty()

stored = st.session_state.get("cmp_result")
if stored and stored[0] == key:
    show_measurement(*stored[1:])
else:
    left.info("Press **Measure** (a few seconds).", icon=":material/timer:")

st.subheader("4 · Experiments: where MTP helps a tiny model, and where it does not")
saved, problems = load_results()
left, right = ui.explained(
    (f"{len(saved)} experiment{'' if len(saved) == 1 else 's'}" if saved else "The experiments") +
    ", each run by one command with several seeds; bars and lines are means "
    "and the error bars or bands the spread across seeds. A difference is called real only "
    "when the means differ by more than their spreads. The findings are computed from the "
    "numbers, whichever way they point; nothing is tuned to agree with the papers.\n\n"
    "These are saved results (`results/*.json`), read, not recomputed: rerun a command to "
    "measure on your own machine.", notebook="08_related_ideas.ipynb")
for problem in problems:
    st.warning(f"Could not read a result: {problem}")
if not saved:
    left.info("No saved results yet: run `python -m tinymtp experiment all` (about half an hour).",
              icon=":material/science:")
else:
    left.markdown(f"{len(saved)} saved experiments below, one tab each: the question, the figure, the "
                  "findings and the command that measured them.")
    # the tabs take the page's full width: the figures have several panels
    for tab, (name, result) in zip(st.tabs([r["title"] for r in saved.values()]), saved.items(), strict=True):
        with tab:
            st.markdown(f"**{result['question']}**")
            ui.plot(viz.experiment_figure(result), key=f"cmp_exp_{name}")
            for finding in result["findings"]:
                st.markdown(f"- {finding}")
            took = (f"{result['wall_seconds'] / 60:.0f} min" if result["wall_seconds"] >= 30 else
                    "on the models the head-types run had just trained")
            st.caption(f"Measured with `{result['command']}` on {result['date']} "
                       f"({took}, {result['machine']['cpu_count']} CPU cores).")
