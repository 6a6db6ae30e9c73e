"""``python -m api.cli``: the same as the ``yizhan`` command."""

from api.cli import main

main()
