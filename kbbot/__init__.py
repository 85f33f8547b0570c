"""`kbbot`: the product's one command line and its whole configuration tree, above every package.

`kbbot.cli` dispatches `kbbot db|kb|ask|setup-model|slack|train|config …` to the packages' own
click commands, importing a package only when one of its commands runs (so `--help` is instant);
`kbbot.settings` composes every package's configuration section into one tree. This package may
import all of `bot`, `knowledge`, `store` and `training`, and none of them may import it
(tests/test_layering.py).
"""
