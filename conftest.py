import os

# Tests run with development defaults (a dev SECRET_KEY); CI and production set their own environment.
os.environ.setdefault("DEBUG", "1")
