"""relay: a mail gateway that keeps marketplace buyers and sellers anonymous to each other."""

__version__ = "0.1.0"
