"""Sub-commands of the ``fixg`` CLI, one module each (see :mod:`fixg.cli`)."""
