"""TrustLine core: configuration, storage, encryption and services. Never imports handlers."""
