"""Services: take a session and plain values, know nothing of aiogram, raise typed errors."""
