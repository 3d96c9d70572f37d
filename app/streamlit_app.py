"""tinymtp's browser app: `streamlit run app/streamlit_app.py` (offline, on a laptop CPU).

Four pages, one idea each: what each head predicts (Heads), speculative decoding round by round
(Speculative decoding), training your own model (Train), and next-token vs multi-token models
side by side (Compare). The sidebar's model picker holds on every page.
"""

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR) not in sys.path:  # so the pages can `import common`
    sys.path.insert(0, str(APP_DIR))

import common  # noqa: E402
import streamlit as st  # noqa: E402
import training  # noqa: E402

st.set_page_config(page_title="tinymtp: multi-token prediction", page_icon=common.favicon(), layout="wide")

pages = [
    st.Page("app_pages/heads.py", title="Heads", url_path="heads", icon=":material/grid_view:", default=True),
    st.Page("app_pages/speculative.py", title="Speculative decoding", url_path="speculative", icon=":material/bolt:"),
    st.Page("app_pages/train.py", title="Train", url_path="train", icon=":material/model_training:"),
    st.Page("app_pages/compare.py", title="Compare", url_path="compare", icon=":material/compare_arrows:"),
]
training.use_one_torch_thread()  # once per server process: many sessions share the cores
page = st.navigation(pages)
common.sidebar_model_picker()
page.run()
