"""Development tools of the repository (not part of the wsdoctor package or its wheel)."""
