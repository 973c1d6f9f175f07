"""Everything that leaves the bot: notices → outbox rows → the sender, within Telegram's limits."""
