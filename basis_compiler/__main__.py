"""`python -m basis_compiler` is the `basis-compiler` command."""

from .cli import main

raise SystemExit(main())
