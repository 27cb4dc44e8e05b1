"""The stacks devstack ships: one cookiecutter template per directory."""
