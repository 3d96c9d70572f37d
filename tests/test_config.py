"""tinymtp.core.config: the model's plain-data settings, torch-free so the command line parses fast."""

import subprocess
import sys

from tinymtp.core.config import HEAD_TYPES, PRESETS, ModelConfig
from tinymtp.core.heads import make_head


def test_every_head_type_builds_a_head_of_its_own_kind():
    kinds = {ht: type(make_head(ModelConfig.from_preset("micro", head_type=ht), k=2)).__name__ for ht in HEAD_TYPES}
    assert len(set(kinds.values())) == len(HEAD_TYPES), kinds
    assert set(PRESETS) >= {"micro", "tiny"}


def test_the_command_line_parses_without_importing_torch():
    probe = ("import sys; {}from tinymtp.cli.main import build_parser; "
             "build_parser().parse_args(['train', '--steps', '5']); print('torch' in sys.modules)")

    def run(code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    assert run(probe.format("")) == "False"
    assert run(probe.format("import tinymtp.core.model; ")) == "True"  # the probe sees torch when it is there
