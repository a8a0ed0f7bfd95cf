"""`python -m analyzer` is `wsdoctor`."""

from analyzer.launch import main

main()
