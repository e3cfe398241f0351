"""The SQL implementations of the service layer's store ports (``artifact_hub.ports``).

Each module holds the statements one service package used to write itself; they run in the
transaction handle the service passes in, so a use case still commits as one unit.
"""
