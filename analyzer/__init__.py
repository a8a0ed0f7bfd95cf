"""wsdoctor: diagnose why a WebSocket connection died, from captures and logs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wsdoctor")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
