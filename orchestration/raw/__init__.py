"""The ``raw`` group: the price catalog and the arrival days of landing files, and their checks."""
