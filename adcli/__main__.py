"""`python -m adcli`."""

from adcli.cli.entry import main

main()
