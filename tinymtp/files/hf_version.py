"""Which Hugging Face transformers tinymtp's transformers model runs on, checked once on import.

`import tinymtp.files.hf` imports this first: without transformers, or with a version outside
the supported range, it stops there with one line (a TinyMTPError), before anything is exported,
loaded or written. The range is pyproject's `hf` extra (a test holds the two together): the
Cache API (`crop` with a negative count, `get_seq_length`), the configs and the `custom_generate`
callable that files/hf.py and files/hf_generate.py use are those of transformers 5.x.
Left out on purpose: any shim for transformers 4.x. Explained in docs/transformers.md.
"""

from __future__ import annotations

import warnings

from ..core.errors import TinyMTPError

try:
    with warnings.catch_warnings():
        # transformers imports tqdm.auto, which in a Jupyter kernel without ipywidgets warns
        # "IProgress not found" about progress bars tinymtp never shows: noise in a learner's notebook
        warnings.filterwarnings("ignore", message="IProgress not found")
        import transformers
    from packaging.version import InvalidVersion, Version  # a dependency of transformers
except ImportError:
    raise TinyMTPError("tinymtp.files.hf needs Hugging Face transformers (>=5.24,<6): pip install -e .[hf]") from None

SUPPORTED_TRANSFORMERS = ("5.24", "6")  # >= the first, < the second


def check_transformers_version(version: str) -> None:
    """One line when `version` is outside the supported range (or not a version at all)."""
    low, high = SUPPORTED_TRANSFORMERS
    try:
        inside = Version(low) <= Version(version) < Version(high)
    except InvalidVersion:
        inside = False
    if not inside:
        raise TinyMTPError(f"tinymtp's transformers model needs transformers >={low},<{high}; this is "
                           f"transformers {version}: pip install -e .[hf]")


check_transformers_version(getattr(transformers, "__version__", "unknown"))

with warnings.catch_warnings():  # after the version check: an unsupported transformers may lack this module
    warnings.filterwarnings("ignore", message="IProgress not found")
    from transformers.utils import logging as _transformers_logging  # noqa: F401,E402 (imports tqdm.auto here)

