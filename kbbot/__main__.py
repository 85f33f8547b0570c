"""`python -m kbbot …`: the same as the `kbbot` console script."""

from kbbot.cli import main

main()
