"""`python -m nanoemox.bench ...`: the benchmark suite without the console script (see `nanoemox.bench`)."""

import logging
import sys

from .cli import main

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
sys.exit(main())
