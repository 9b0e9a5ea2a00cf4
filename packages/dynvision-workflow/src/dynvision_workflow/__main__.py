"""``python -m dynvision_workflow`` is the ``dynvision`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
