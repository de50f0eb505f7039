"""`python -m adcli`."""

from .cli import main

main()
