"""Local runtime: runs the Chalice app whole on one machine (never deployed)."""

from pathlib import Path

# Where app.py, chalicelib/ and the local data directory live (app.py and
# chalicelib are installed with chatapp, editable: see pyproject.toml).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
