"""What keeps the promises: the vault, keys and rotation, the keyed audit chain, retention."""
