"""``python -m freqforensics.cli``: the command line (for ``torchrun -m``)."""

from freqforensics.cli import main

raise SystemExit(main())
