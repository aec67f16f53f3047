"""The `se1b` command line (cli.py) and the one error type every package raises for problems a user can fix
(errors.py). It imports nothing else of the project: the command line finds each subcommand's module by name."""
