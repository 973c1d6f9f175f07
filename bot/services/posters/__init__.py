"""Classroom posters: print orders, tokens in the QR code, scans and checks of a poster photo."""
