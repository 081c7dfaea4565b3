"""OCPP 2.0.1: the calls a charging station makes, and the system's calls to it."""
