"""Local runtime: runs the Chalice app whole on one machine (never deployed)."""

import sys
from pathlib import Path

# The project root holds app.py and chalicelib/, which are not installed packages
# (Chalice deploys them as files). chatapp is installed editable from this root,
# so the root is importable wherever the `chatapp` command is run from.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))
