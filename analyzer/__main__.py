"""`python -m analyzer` is `wsdoctor`."""

from analyzer.cli import main

main()
