"""``python -m reverie.cli``: the ``reverie`` command."""

from reverie.cli.app import main

main()
