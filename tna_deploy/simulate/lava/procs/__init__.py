"""Lava processes of tna-deploy, alone in their folder: Lava's compiler executes every module beside a
process's own file as a top-level script when it looks for its ProcessModels, and warns for each one
that cannot run that way."""
