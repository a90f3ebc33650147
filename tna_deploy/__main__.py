"""``python -m tna_deploy``: the CLI, as torchrun launches it (``torchrun ... -m tna_deploy train ...``)."""

from .cli import main

main(prog_name="tna-deploy")
