import sys
from pathlib import Path

# gateway_helpers.py sits next to the tests; importlib mode does not put this folder on sys.path.
sys.path.insert(0, str(Path(__file__).parent))
