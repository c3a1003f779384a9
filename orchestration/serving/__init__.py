"""The ``serving`` group: publication of the checked marts."""
