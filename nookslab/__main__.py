"""``python -m nookslab``: the same command as the installed ``nookslab`` script."""
from nookslab.cli import main

raise SystemExit(main())
