"""``python -m pathway`` runs the command line."""

from pathway.cli import main

main()
