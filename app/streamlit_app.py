"""tinymtp's browser app: `streamlit run app/streamlit_app.py` (offline, on a laptop CPU).

Four pages, one idea each: what each head predicts (Heads), speculative decoding round by round
(Speculative decoding), training your own model (Train), and next-token vs multi-token models
side by side (Compare), plus a guided Tour for the projector. The sidebar's model picker and its
Presentation mode switch hold on every page.
"""

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR) not in sys.path:  # so the pages can `import models`, `import ui`
    sys.path.insert(0, str(APP_DIR))

import gc  # noqa: E402
import importlib  # noqa: E402

import streamlit as st  # noqa: E402

# Everything the pages import, heaviest first. Imported once, in one thread, before any page runs.
APP_MODULES = ("torch", "pandas", "pyarrow", "plotly.graph_objects", "plotly.io", "PIL.ImageDraw", "tinymtp.viz",
               "tinymtp.decoding.decode", "tinymtp.analysis.predictions", "tinymtp.analysis.speedup", "tinymtp.training.train",
               "tinymtp.data.corpora", "tinymtp.experiments", "models", "ui", "training")


@st.cache_resource(show_spinner=False)
def import_app_modules() -> int:
    """A class opening a fresh server at once runs this script in many threads at the same moment;
    importing torch, pandas and the app's modules in all of them at once can hand a thread a
    half-imported module (Python's import locks break such deadlocks that way; benchmarks/app_load.py
    showed it). st.cache_resource runs this once while the other sessions wait.

    Then it freezes what the imports made. Streamlit runs a full garbage collection after every
    script run, a Step's fragment rerun included, and a full collection walks every object in
    the process: the ~250,000 that torch, pandas and plotly leave behind took 120-160 ms each
    time, more than the rest of a Step. gc.freeze() moves them out of the collector's sight (they
    live as long as the server anyway); objects made later, by the pages, are still collected."""
    for name in APP_MODULES:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    return len(APP_MODULES)


import_app_modules()
import models  # noqa: E402
import training  # noqa: E402
import ui  # noqa: E402

st.set_page_config(page_title="tinymtp: multi-token prediction", page_icon=ui.favicon(), layout="wide")

HEADS = st.Page("app_pages/heads.py", title="Heads", url_path="heads", icon=":material/grid_view:")
pages = [
    # The default page is served at the app's root, and Streamlit answers its own url_path with "Page not
    # found"; so the root is a hidden page that sends the visitor on to /heads, which then works as a link.
    st.Page(lambda: st.switch_page(HEADS), title="Heads", url_path="start", default=True, visibility="hidden"),
    HEADS,
    st.Page("app_pages/speculative.py", title="Speculative decoding", url_path="speculative", icon=":material/bolt:"),
    st.Page("app_pages/train.py", title="Train", url_path="train", icon=":material/model_training:"),
    st.Page("app_pages/compare.py", title="Compare", url_path="compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/tour.py", title="Tour", url_path="tour", icon=":material/slideshow:"),
]
training.use_one_torch_thread()  # once per server process: many sessions share the cores
page = st.navigation(pages)
models.sidebar_model_picker()
ui.presentation_toggle()
page.run()
