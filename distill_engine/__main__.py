"""`python -m distill_engine` is `distill-train`."""
import sys

from .cli import main

sys.exit(main())
