"""Typed errors raised by services; handlers turn them into translated answers."""


class ServiceError(Exception):
    """Base of errors a user can cause; never carries content or Telegram ids."""


class NotFound(ServiceError):
    pass


class NotAllowed(ServiceError):
    pass


class AlreadyTaken(ServiceError):
    pass


class InvalidInput(ServiceError):
    pass


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one sentence for the operator."""
