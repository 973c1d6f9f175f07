"""Helpers for the delivery, fault, flood, retention and anonymity tests, and the process
harness that runs `trustline run` under SIGKILL (runner.py)."""
