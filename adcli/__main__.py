"""`python -m adcli`."""

from .entry import main

main()
