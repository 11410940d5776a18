"""wattstream: real-time energy analytics for fleets of buildings."""

__version__ = "0.1.0"
