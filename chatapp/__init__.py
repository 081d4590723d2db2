"""Local runtime: runs the Chalice app whole on one machine (never deployed)."""
