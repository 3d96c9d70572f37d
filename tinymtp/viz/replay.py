"""An offline replay of one decoding run: a single HTML file that plays back round by round.

`replay_html(prompt, trace, tokenizer)` returns one self-contained page for a projector or a
laptop with no network and no Python: inline CSS, a small inline player in plain JavaScript,
the rounds embedded as JSON. Nothing is fetched (no plotly, no fonts, no <script src>), so the
file opens from disk anywhere. Each step shows the text so far (each round on its own pale
background, as in the app), the round's drafts with their verdicts (✓ accepted, ✗ rejected,
· not checked because an earlier draft was rejected), the corrected or bonus token, tokens per
forward so far and, for tree rounds, the candidate tree and its attention mask as SVG drawn
here at export time. Back / Next / Play buttons and the arrow keys step through it. When the
text ends in a loop (analysis/repetition.py), the round that starts it is marked in the text and,
from there on, a banner says why every draft is easy inside a loop.

The colours and marks are tinymtp.viz.style's, so the replay reads like the app's Speculative
page. Every character from the run is escaped: the JSON is embedded with `<` written as
\\u003c, and the player inserts characters as text, never as HTML.

Written by `python -m tinymtp generate ... --html FILE` and the app's download button.
Explained in notebooks/06_self_speculative_decoding.ipynb (the rounds it replays).
"""

from __future__ import annotations

import html
import json

from ..analysis.repetition import loop_round, loop_start
from ..core.errors import TinyMTPError
from .style import ACCEPT_MARK, ACCEPTED, REJECT_MARK, REJECTED, ROUND_COLOURS, UNUSED, head_colour, show_char
from .tree import ROOT_FILL, _rows

MARKER = '<meta name="generator" content="tinymtp replay">'  # how a file is recognised as ours
VERDICT_MARKS = {"accepted": ACCEPT_MARK, "rejected": REJECT_MARK, "not checked": "·"}

CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:0;padding:1.2em 2em;color:#1B2A41;background:#fff}
h1{font-size:1.5em;margin:0 0 .3em}
#controls button{font-size:1.1em;padding:.35em 1.1em;margin-right:.4em;cursor:pointer}
#counter{font-weight:bold;margin-left:1em;font-size:1.1em}
#stats{margin:.5em 0;color:#333}
#text{font-family:DejaVu Sans Mono,Menlo,Consolas,monospace;white-space:pre-wrap;line-height:1.6;
 font-size:18px;padding:.6em .8em;border:1px solid #ddd;border-radius:6px;background:#fcfcfc}
#text .prompt{color:#555}
#text span.now{outline:2px solid #1B2A41}
#text span.loopstart{border-left:4px solid #D55E00;padding-left:2px}
#loop{color:#fff;background:#D55E00;padding:.4em .8em;border-radius:6px;margin:.5em 0;font-size:1.05em}
#loop:empty{display:none}
#round{margin-top:1em}
.tok{display:inline-block;min-width:1.6em;text-align:center;font-family:DejaVu Sans Mono,Menlo,monospace;
 font-size:18px;padding:.2em .4em;margin:.15em;border-radius:4px;border:2px solid #ccc}
table.drafts td,table.drafts th{padding:.2em .6em;text-align:center}
.note{color:#555;font-style:italic}
footer{margin-top:2em;color:#777;font-size:.85em}
"""

# The player: reads the embedded JSON, draws one round per step. Characters go in as text nodes.
PLAYER = """
const D=JSON.parse(document.getElementById('replay-data').textContent);
const R=D.rounds;let i=0,timer=null;
const $=id=>document.getElementById(id);
function el(tag,text,style){const e=document.createElement(tag);if(text!==undefined)e.textContent=text;
 if(style)e.setAttribute('style',style);return e;}
function drawText(){const box=$('text');box.textContent='';box.appendChild(el('span',D.prompt)).className='prompt';
 for(let j=0;j<=i;j++){if(!R[j].text)continue;const s=el('span',R[j].text,'background:'+R[j].bg);
  s.title='round '+R[j].index;s.className=(j===i?'now ':'')+(j===D.loop_round?'loopstart':'');box.appendChild(s);}}
function tok(c,colour){const e=el('span',c,'border-color:'+colour);e.className='tok';return e;}
function drawRound(){const r=R[i],box=$('round');box.textContent='';
 box.appendChild(el('h3',r.title));
 if(r.drafts.length&&!r.svg){const t=el('table');t.className='drafts';
  const h=t.insertRow();['drafter','draft','verifier chose','verdict'].forEach(x=>h.appendChild(el('th',x)));
  r.drafts.forEach(d=>{const row=t.insertRow();row.insertCell().appendChild(el('span',d.who,'color:'+d.colour));
   row.insertCell().appendChild(tok(d.char,d.colour));row.insertCell().appendChild(el('span',d.verifier));
   row.insertCell().appendChild(el('span',D.marks[d.verdict]+' '+d.verdict,'color:'+D.verdict_colours[d.verdict]));});
  box.appendChild(t);}
 if(r.svg){const f=el('div');f.innerHTML=r.svg;box.appendChild(f);}
 if(r.next)box.appendChild(el('p',r.next));
 const c=box.appendChild(el('p','committed this round: '));r.shown.forEach(ch=>c.appendChild(tok(ch,'#1B2A41')));
 if(r.note)box.appendChild(el('p',r.note)).className='note';}
function draw(){$('counter').textContent='Round '+R[i].index+' of '+R[R.length-1].index;
 const r=R[i];$('stats').textContent=r.tokens+' tokens in '+r.forwards+' forward passes = '+
  r.tpf.toFixed(2)+' tokens per forward (plain decoding: 1.00) · KV cache '+r.cache;
 $('loop').textContent=R[i].loop?D.loop_note:'';
 drawText();drawRound();$('back').disabled=i===0;$('next').disabled=i===R.length-1;}
function go(j){i=Math.max(0,Math.min(R.length-1,j));draw();}
function play(){if(timer){clearInterval(timer);timer=null;$('play').textContent='Play';return;}
 if(i===R.length-1)go(0);$('play').textContent='Pause';
 timer=setInterval(()=>{if(i>=R.length-1){play();return;}go(i+1);},D.ms);}
$('back').onclick=()=>go(i-1);$('next').onclick=()=>go(i+1);$('play').onclick=play;
document.addEventListener('keydown',e=>{if(e.key==='ArrowRight')go(i+1);else if(e.key==='ArrowLeft')go(i-1);
 else if(e.key==='Home')go(0);else if(e.key==='End')go(R.length-1);else if(e.key===' '){e.preventDefault();play();}});
draw();
"""


def _vocab(tokenizer) -> str:
    """The id -> character table, from a tinymtp Tokenizer or the vocabulary string itself."""
    return tokenizer if isinstance(tokenizer, str) else tokenizer.vocab


def _verdict(check) -> str:
    if check.accepted:
        return "accepted"
    return "rejected" if check.checked else "not checked"


def _round_title(rnd, mode: str) -> str:
    if rnd.kind == "prefill":
        return f"Round 0, prefill: the model reads the {len(rnd.fed)}-character prompt in one forward pass"
    if not rnd.checks:
        return f"Round {rnd.index}: one forward pass, no drafts, one token"
    if rnd.tree:
        return (f"Round {rnd.index}: the sure token and a tree of {len(rnd.fed) - 1} candidates in one forward "
                f"pass, {rnd.accepted} kept")
    who = "the draft model's" if mode == "draft-model" else "the heads'"
    return f"Round {rnd.index}: the sure token and {who} {len(rnd.checks)} drafts in one forward pass, {rnd.accepted} kept"


def _drafts(rnd, vocab: str, mode: str) -> list:
    rows = []
    for c in rnd.checks:
        who = f"draft step {c.drafter}" if mode == "draft-model" else f"head {c.drafter}"
        rows.append({"who": who, "colour": head_colour(c.drafter),
                     "char": show_char(vocab[c.token]), "verifier": show_char(vocab[c.verifier_token]),
                     "verdict": _verdict(c)})
    return rows


def _svg_text(x: float, y: float, text: str, size: int = 15, colour: str = "#fff") -> str:
    return (f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" fill="{colour}" text-anchor="middle" '
            f'dominant-baseline="central" font-family="monospace">{html.escape(text)}</text>')


def tree_svg(tree: dict, vocab: str) -> str:
    """One tree round as SVG: the candidate tree (depth left to right, the kept path thick) and,
    beside it, the attention mask (row = the node looking, a filled cell = a node it may see)."""
    nodes, on_path = tree["nodes"], set(tree["path"])
    rows = _rows(nodes)
    dx, dy, box = 70, 34, 26
    where = {n["index"]: (30 + dx * n["depth"], 24 + dy * rows[n["index"]]) for n in nodes}
    parts = []
    for n in nodes[1:]:
        (x0, y0), (x1, y1) = where[n["parent"]], where[n["index"]]
        kept = n["index"] in on_path and n["parent"] in on_path
        parts.append(f'<line x1="{x0:.0f}" y1="{y0:.0f}" x2="{x1:.0f}" y2="{y1:.0f}" '
                     f'stroke="{"#1B2A41" if kept else "#ccc"}" stroke-width="{4 if kept else 1.5}"/>')
    for n in nodes:
        x, y = where[n["index"]]
        fill, mark = _node_look(n)
        parts.append(f'<rect x="{x - box / 2:.0f}" y="{y - box / 2:.0f}" width="{box}" height="{box}" rx="4" '
                     f'fill="{fill}"><title>{html.escape(_node_tip(n))}</title></rect>')
        parts.append(_svg_text(x, y, show_char(vocab[n["token"]])))
        if mark:
            parts.append(_svg_text(x + box / 2 + 8, y, mark, 13, fill))
    width = 60 + dx * max(n["depth"] for n in nodes)
    height = 24 + dy * (max(rows) + 1)
    mask, size = _mask_svg(tree["mask"], left=width + 40)
    return (f'<svg width="{width + 60 + max(size, 240)}" '
            f'height="{max(height, size + 30)}" role="img">{"".join(parts)}{mask}</svg>')


def _node_look(node: dict) -> tuple[str, str]:
    if node["depth"] == 0:
        return ROOT_FILL, ""
    if node["accepted"]:
        return ACCEPTED, ACCEPT_MARK
    return (REJECTED, REJECT_MARK) if node["checked"] else (UNUSED, "·")


def _node_tip(node: dict) -> str:
    if node["depth"] == 0:
        return "the sure token (root)"
    return f"head {node['head']}, guess {node['rank'] + 1}, q = {node['q']:.2f}"


def _mask_svg(mask: list, left: float) -> tuple[str, int]:
    """The mask as one SVG path of filled cells (compact: a long run stays small)."""
    cell = max(4, min(14, 280 // max(1, len(mask))))
    cells = "".join(f"M{left + cell * j:.0f} {24 + cell * i}h{cell - 1}v{cell - 1}h{1 - cell}z"
                    for i, row in enumerate(mask) for j, seen in enumerate(row) if seen)
    size = cell * len(mask)
    label = (f'<text x="{left:.0f}" y="12" font-size="12" fill="#1B2A41" font-family="monospace">'
             "tree attention mask (row: who looks)</text>")
    frame = f'<rect x="{left:.0f}" y="24" width="{size}" height="{size}" fill="none" stroke="#999"/>'
    return f'{label}{frame}<path d="{cells}" fill="#0072B2"/>', size


def _next_line(rnd, vocab: str) -> str | None:
    if rnd.next_kind is None:
        return None
    why = ("it replaces the first rejected draft" if rnd.next_kind == "corrected"
           else "every draft was kept, so head 1 adds one more")
    return f"{rnd.next_kind} token {show_char(vocab[rnd.next_token])!r} from head 1: {why}"


def replay_rounds(trace, vocab: str, loop: int | None = None) -> list:
    """The rounds as the player reads them: JSON-safe, one dict per round; `loop`: the round from
    which the text loops (repetition.loop_round), None without one."""
    out, tokens = [], 0
    for j, rnd in enumerate(trace.rounds):
        tokens += len(rnd.committed)
        out.append({"index": rnd.index, "title": _round_title(rnd, trace.mode),
                    "text": "".join(vocab[t] for t in rnd.committed),
                    "shown": [show_char(vocab[t]) for t in rnd.committed], "bg": ROUND_COLOURS[j % len(ROUND_COLOURS)],
                    "drafts": _drafts(rnd, vocab, trace.mode), "next": _next_line(rnd, vocab),
                    "svg": tree_svg(rnd.tree, vocab) if rnd.tree else None, "tokens": tokens, "forwards": j + 1,
                    "tpf": tokens / (j + 1), "cache": f"{rnd.cache_before} → {rnd.cache_after}", "note": rnd.note,
                    "loop": loop is not None and j >= loop})
    return out


def loop_note(trace, loop: int | None) -> str | None:
    """The sentence the player shows from the round where the text starts looping."""
    if loop is None:
        return None
    return (f"From round {trace.rounds[loop].index} the text repeats one stretch to the end (a loop, marked in the "
            "text). Inside a loop head 1 reads the same context every period, so every draft is easy: tokens per "
            "forward from here measures the loop, not the heads.")


def replay_data(prompt: str, trace, tokenizer, ms_per_round: int = 700) -> dict:
    """Everything the page embeds (the test reads it back)."""
    if not trace.keep_rounds or not trace.rounds:
        raise TinyMTPError("a replay needs the run's rounds: decode with keep_rounds=True (the CLI's --html does)")
    vocab = _vocab(tokenizer)
    loop = loop_round(trace.rounds, loop_start("".join(vocab[t] for r in trace.rounds for t in r.committed)))
    return {"prompt": prompt, "mode": trace.mode, "ms": ms_per_round, "rounds": replay_rounds(trace, vocab, loop),
            "loop_round": loop, "loop_note": loop_note(trace, loop),
            "marks": VERDICT_MARKS, "verdict_colours": {"accepted": ACCEPTED, "rejected": REJECTED,
                                                       "not checked": UNUSED}}


def replay_html(prompt: str, trace, tokenizer, title: str | None = None, ms_per_round: int = 700) -> str:
    """The whole replay page (see the module docstring); `tokenizer` may be the vocabulary string."""
    data = replay_data(prompt, trace, tokenizer, ms_per_round)
    title = title or f"tinymtp replay: {trace.mode} decoding"
    embedded = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")  # no '</script>' can close it early
    summary = trace.summary()
    footer = (f"{summary['tokens']} tokens in {summary['forwards']} forward passes "
              f"({summary['tokens_per_forward']:.2f} tokens per forward), mode {html.escape(trace.mode)}. "
              "Made with tinymtp (python -m tinymtp generate --html). Keys: ← → step, space plays.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{MARKER}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<div id="controls"><button id="back">&larr; Back</button><button id="next">Next &rarr;</button><button id="play">Play</button><span id="counter"></span></div>
<div id="stats"></div>
<div id="loop"></div>
<div id="text"></div>
<div id="round"></div>
<footer>{footer}</footer>
<script type="application/json" id="replay-data">{embedded}</script>
<script>{PLAYER}</script>
</body></html>
"""


def is_replay(path: str) -> bool:
    """Is the file at `path` a replay tinymtp wrote? (Its head carries MARKER.)"""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return MARKER in f.read(4096)
    except OSError:
        return False
