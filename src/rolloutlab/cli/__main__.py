"""`python -m rolloutlab.cli`."""

from rolloutlab.cli import main

main()
