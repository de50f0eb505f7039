"""`python -m tests.fuzz ...` from the top of the checkout: the same as `python tests/fuzz/fuzz.py ...`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz import main  # noqa: E402

sys.exit(main())
