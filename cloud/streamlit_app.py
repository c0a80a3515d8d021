"""Neural Playground on Streamlit Community Cloud: pick this file as the app's entrypoint.

It switches hosted mode on (caps per visitor, runs owned by who started them; see
playground/engine/hosting.py) before anything reads it - no secret to set - and Community Cloud
installs requirements.txt beside it first: CPU-only torch and torchvision. Run locally the same
way with `streamlit run cloud/streamlit_app.py`.
"""
import os
import sys
from pathlib import Path

os.environ["PLAYGROUND_HOSTED"] = "1"       # the training worker inherits it too
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:               # `streamlit run` puts this folder on the path, not the repo
    sys.path.insert(0, str(ROOT))

from playground.ui.app import main  # noqa: E402 - after the mode is set and the path is right

main()
