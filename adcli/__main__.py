"""`python -m adcli`."""

from adcli.cli.entry import main

if __name__ == "__main__":  # not when a worker process started by --workers imports the parent's main module
    main()
